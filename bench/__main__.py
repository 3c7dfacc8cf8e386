"""``python -m bench``: run every benchmark, print its figures, write bench/results/latest.json.

``BENCH_ONLY=api,e2e,recon`` runs some of them: ``backbone``, ``ledger``, ``consumers``,
``api`` (api_create_escrow), ``e2e`` (e2e_latency), ``recon`` (reconcile_1m); ``memory``
comes with ``api`` and ``e2e``, from the processes they ran.
"""

from __future__ import annotations

import asyncio
import os

from bench import (
    api_bench,
    backbone_bench,
    consumer_bench,
    e2e_bench,
    ingest_bench,
    ledger_bench,
    memory,
    recon_bench,
)
from bench.results import Results

ALL = ("backbone", "ledger", "consumers", "ingest", "api", "e2e", "recon")


def main() -> None:
    only = {b.strip() for b in os.environ.get("BENCH_ONLY", ",".join(ALL)).split(",")}
    results = Results()
    if "backbone" in only:
        results.add(*asyncio.run(backbone_bench.main()))
    if "ledger" in only:
        results.add(*asyncio.run(ledger_bench.main()))
    if "consumers" in only:
        results.add(*asyncio.run(consumer_bench.main()))
    runs: dict[str, dict[str, int]] = {}
    idle: dict[str, int] = {}
    if "api" in only:
        figures, runs["api_create_escrow"] = asyncio.run(api_bench.main())
        results.add(*figures)
    if "e2e" in only:
        figures, runs["e2e_latency"], idle = asyncio.run(e2e_bench.main())
        results.add(*figures)
    if runs:
        results.add(memory.figure(runs, idle))
    if "ingest" in only:
        results.add(*asyncio.run(ingest_bench.main()))
    if "recon" in only:
        results.add(*asyncio.run(recon_bench.main()))
    path = results.write()
    results.show()
    print(f"figures written to {path}")


if __name__ == "__main__":
    main()
