"""Ledger ingest on the path users run: escrow events on Kafka -> the ledger's consumer process
(``tradeflow ledger consume``) -> inbox -> journal, books, hash chains and triggers.

Each scenario gets a database and topics of its own (prefixes ``bi_<run>_<scenario>_`` and
``bench-ingest-<run>-<scenario>``) and its events pre-loaded on the escrow topic (6
partitions, one fresh tenant on each); then the consumer process(es) are launched. A scenario
is timed from the launch to the commit of its last journal row (start-up and group join
included; the drain alone, first commit to last, is in the details), then checked: every
event posted once, inbox and journal agreeing, and every book's chain verified (in the
two-writer run, and in any run of at most 20,000 events: verifying takes a while).

- ``ledger_ingest``: one consumer process; baseline: the naive consumer (bench/ingest_naive.py:
  one database transaction per journal transaction, one INSERT per row) on the first
  ``LEDGER_INGEST_NAIVE_EVENTS`` of the same events (its rate is what counts). Beside it, a
  plain COPY of the very journal rows and postings the run wrote into bare tables: the
  physical limit.
- ``ledger_ingest_parallel``: two consumer processes in one group (range assignment: three
  tenants each); baseline: one process; and the share of the ledger database's active
  backends' samples spent waiting on a lock (pg_stat_activity, every 20 ms).
- ``ledger_hot_account``: every transaction credits one account (one tenant's fee revenue);
  baseline: ``ledger_ingest``.

Sizes: ``LEDGER_INGEST_EVENTS`` (200,000), ``LEDGER_INGEST_NAIVE_EVENTS`` (5,000);
``LEDGER_INGEST_ONLY=single,naive,parallel,hot`` picks scenarios; ``LEDGER_INGEST_PROFILE=1``
adds a run of the single consumer with ``py-spy record`` attached, summarised into
bench/results/profile-ledger-ingest.txt (bench/profile_summary.py).
``LEDGER_INGEST_BEFORE_SRC=<dir>`` (an export of an earlier commit, e.g. ``git archive``)
adds the same single-consumer run of that code, first, for a before/after ratio from one
run.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from bench import ingest_streams as streams
from bench.ingest_scenarios import Run, cleanup, measure, plain_copy, scenario
from bench.results import Figure
from shared.logging import configure_logging
from shared.settings import Settings

SCENARIOS = ("single", "naive", "parallel", "hot")


def figures(runs: dict[str, Run], copy_seconds: float | None) -> list[Figure]:
    out = []
    single, naive = runs.get("single"), runs.get("naive")
    if single is not None:
        details = {**single.details(), "postings_per_s": single.postings / single.watched.seconds}
        out.append(Figure(
            "ledger_ingest", single.rate, "tx/s",
            "naive (1 tx per commit, INSERT per row)" if naive else None,
            naive.rate if naive else None, target=">= 10000 and ratio >= 5",
            note=f"{single.events:,} events, 1 consumer process {single.problem}".strip(),
            details={**details, "naive": naive.details() if naive else None},
        ))  # fmt: skip
        before = runs.get("before")
        if before is not None:
            out.append(Figure(
                "ledger_ingest vs the code before", single.rate, "tx/s",
                "before (LEDGER_INGEST_BEFORE_SRC)", before.rate, details=before.details(),
            ))  # fmt: skip
        if copy_seconds:
            out.append(Figure(
                "ledger_ingest vs plain COPY", single.rate, "tx/s", "plain COPY (bare tables)",
                single.events / copy_seconds, note="the physical limit of the same rows",
            ))  # fmt: skip
    parallel = runs.get("parallel")
    if parallel is not None:
        out.append(Figure(
            "ledger_ingest_parallel", parallel.rate, "tx/s", "one instance" if single else None,
            single.rate if single else None,
            note=f"2 processes, 1 group, {streams.TENANTS_PER_RUN} tenants; lock-wait share"
                 f" {parallel.watched.lock_wait_share:.2%} {parallel.problem}".strip(),
            details=parallel.details(),
        ))  # fmt: skip
        out.append(Figure(
            "ledger_ingest_parallel lock waits", 100 * parallel.watched.lock_wait_share,
            "% of active backend samples", target="< 1",
        ))  # fmt: skip
    hot = runs.get("hot")
    if hot is not None:
        out.append(Figure(
            "ledger_hot_account", hot.rate, "tx/s", "ledger_ingest" if single else None,
            single.rate if single else None, target="ratio >= 0.5",
            note=f"every transaction credits one fee account {hot.problem}".strip(),
            details={**hot.details(), "postings_per_s": hot.postings / hot.watched.seconds},
        ))  # fmt: skip
    return out


async def main() -> list[Figure]:
    n = int(os.environ.get("LEDGER_INGEST_EVENTS", "200000"))
    naive_n = min(n, int(os.environ.get("LEDGER_INGEST_NAIVE_EVENTS", "5000")))
    only = os.environ.get("LEDGER_INGEST_ONLY", ",".join(SCENARIOS)).split(",")
    profile = os.environ.get("LEDGER_INGEST_PROFILE") == "1"
    configure_logging("bench", "WARNING", json=False)
    run = uuid.uuid4().hex[:6]
    base = Settings(environment="development")
    tenants = streams.tenants_on_partitions(run, streams.TENANTS_PER_RUN)
    trades = streams.trades(n, tenants, run)
    print(f"ledger ingest: {len(trades):,} escrow events on Kafka, {len(tenants)} tenants")
    before = os.environ.get("LEDGER_INGEST_BEFORE_SRC")
    labels = [s for s in SCENARIOS if s in only]
    labels = (["before"] if before else []) + labels
    labels += ["profiled"] if profile else []
    runs: dict[str, Run] = {}
    copy_seconds = None
    try:
        for label in labels:
            source = Path(before) if before and label == "before" else None
            if label == "naive":
                runs[label] = await measure(base, run, label, trades[:naive_n])
            elif label == "parallel":
                runs[label] = await measure(base, run, label, trades, instances=2)
            elif label == "hot":
                hot = streams.hot_fee_account(len(trades), tenants[0], run)
                runs[label] = await measure(base, run, label, hot)
            elif label.startswith("profiled"):
                sample = trades[: min(len(trades), 60_000)]  # enough samples, less time
                await measure(base, run, label, sample, profile="ledger-ingest")
            else:
                runs[label] = await measure(base, run, label, trades, source=source)
                if label == "single":
                    copy_seconds = await plain_copy(scenario(base, run, label))
                    print(f"  plain COPY of the same rows: {len(trades) / copy_seconds:,.0f} tx/s")
        return figures(runs, copy_seconds)
    finally:
        await cleanup(base, run, labels)


if __name__ == "__main__":
    import asyncio

    from bench.results import Results

    results = Results()
    results.add(*asyncio.run(main()))
    results.show()
    print(f"figures written to {results.write()}")
