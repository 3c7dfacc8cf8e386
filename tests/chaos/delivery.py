"""Delivery after the faults: every committed event published (in Kafka, not only marked
sent), published and applied in order per subject, posted by the ledger once when it moves
money, nothing dead-lettered or parked.

What the ledger must post is written here, from the domain's money movements, and not
taken from the ledger's own rules: a rule the ledger lost would otherwise lose its events
from the expectation as well.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import SERVICES
from tests.chaos.quiet import partitions
from tests.chaos.stack import Infra, connect
from tests.chaos.verify import Findings

# Events that move money, hence a journal transaction each (docs/ledger.md, "Posting rules").
LEDGER_BOUND = frozenset(
    {
        "escrow.funded",
        "escrow.milestone_released",
        "escrow.refunded",
        "financing.advance_disbursed",
        "financing.fee_amortized",
        "financing.advance_repaid_early",
        "financing.advance_written_off",
        "financing.recovery_recorded",
    }
)
# consumer (inbox name) -> (the service whose database holds its inbox, the source service)
CONSUMERS = {
    "escrow.liens": ("escrow", "financing"),
    "financing.escrow-events": ("financing", "escrow"),
    "ledger-postings": ("ledger", "escrow"),
}
Rows = dict[str, list[asyncpg.Record]]


async def outboxes(infra: Infra) -> Rows:
    produced: Rows = {}
    for service in SERVICES:
        conn = await connect(infra, service)
        try:
            produced[service] = await conn.fetch(
                "SELECT seq, event_id, topic, key, envelope->>'type' AS type,"
                " envelope->>'tenant_id' AS tenant_id,"
                " (envelope->>'causation_id')::uuid AS causation_id,"
                " sent_at IS NOT NULL AS sent FROM outbox ORDER BY seq"
            )
        finally:
            await conn.close()
    return produced


async def check_events(infra: Infra, prefix: str, f: Findings) -> Rows:
    """Outbox fully published; every money event posted exactly once; nothing parked.
    Returns the outbox rows read (the webhooks check expects them delivered)."""
    produced = await outboxes(infra)
    for service in SERVICES:
        unsent = [r for r in produced[service] if not r["sent"]]
        if unsent:
            f.fail(f"{service}: {len(unsent)} outbox rows never published")
        conn = await connect(infra, service)
        try:
            parked = await conn.fetch("SELECT consumer, subject, reason FROM parked_subjects")
        finally:
            await conn.close()
        for p in parked:
            f.fail(f"{service}: {p['consumer']} parked {p['subject']}: {p['reason'][:200]}")
    bound = {
        r["event_id"]: r["type"]
        for s in ("escrow", "financing")
        for r in produced[s]
        if r["type"] in LEDGER_BOUND
    }
    conn = await connect(infra, "ledger")
    try:
        rows = await conn.fetch(
            "SELECT source_event_id, source_type FROM journal_transactions WHERE kind = 'event'"
        )
    finally:
        await conn.close()
    posted = Counter(r["source_event_id"] for r in rows)
    missing = Counter(t for e, t in bound.items() if e not in posted)
    duplicated = sum(n - 1 for n in posted.values() if n > 1)
    stray = Counter(r["source_type"] for r in rows if r["source_event_id"] not in bound)
    if missing:
        f.fail(f"ledger: events never posted: {dict(missing)}")
    if duplicated:
        f.fail(f"ledger: {duplicated} events posted more than once")
    if stray:
        f.fail(f"ledger: postings of events that move no money, or of none: {dict(stray)}")
    f.figures["events"] = {
        "produced": {s: len(r) for s, r in produced.items()},
        "ledger_expected": len(bound),
        "ledger_posted": len(set(posted) & set(bound)),
        "ledger_duplicates": duplicated,
    }
    await check_published(infra.kafka, prefix, produced, f)
    await check_order_of_application(infra, produced, f)
    return produced


async def read_topics(bootstrap: str, topics: list[str]) -> dict[str, list[tuple[int, str, str]]]:
    """Every record of ``topics`` as (partition, key, ce_id), in offset order per partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await reader.start()
    out: dict[str, list[tuple[int, str, str]]] = {t: [] for t in topics}
    try:
        tps = await partitions(admin, topics)
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        ends = await reader.end_offsets(tps)
        left = {tp for tp in tps if ends[tp] > 0}
        while left:
            for tp, records in (await reader.getmany(*left, timeout_ms=1000)).items():
                for r in records:
                    headers = dict(r.headers or ())
                    key = r.key.decode() if r.key else ""
                    ce_id = headers.get("ce_id", b"").decode()
                    out[tp.topic].append((tp.partition, key, ce_id))
            left = {tp for tp in left if await reader.position(tp) < ends[tp]}
    finally:
        await reader.stop()
        await admin.close()
    return out


def published_in_order(
    rows: Iterable[asyncpg.Record], records: list[tuple[int, str, str]]
) -> tuple[list[str], int]:
    """Problems of one topic: outbox rows absent from it, and a subject's events whose first
    copies in the partition are not in outbox (commit) order; and how many copies repeat."""
    seq = {str(r["event_id"]): r["seq"] for r in rows}
    seen: set[str] = set()
    last: dict[str, tuple[int, str]] = {}
    problems = []
    for _partition, key, ce_id in records:
        if ce_id in seen or ce_id not in seq:
            continue  # a copy republished after a relay died, or no outbox row (below)
        seen.add(ce_id)
        before = last.get(key)
        if before is not None and seq[ce_id] < before[0]:
            problems.append(f"{ce_id} of {key} published after the later {before[1]}")
        last[key] = max(before or (0, ""), (seq[ce_id], ce_id))
    absent = set(seq) - seen
    if absent:
        problems.append(f"{len(absent)} rows marked sent are not in Kafka, e.g. {min(absent)}")
    foreign = {ce_id for _p, _k, ce_id in records} - set(seq)
    if foreign:
        problems.append(f"{len(foreign)} records no outbox row produced, e.g. {min(foreign)}")
    return problems, len(records) - len(seen) - len(foreign)


async def check_published(bootstrap: str, prefix: str, produced: Rows, f: Findings) -> None:
    """What the outboxes say was sent is in Kafka, each subject in commit order; the
    dead-letter topic is empty."""
    topics = {s: f"{prefix}.{s}.events" for s in SERVICES}
    dead_letter = f"{prefix}.dead-letter"
    records = await read_topics(bootstrap, [*topics.values(), dead_letter])
    repeated = {}
    for service, topic in topics.items():
        problems, repeated[service] = published_in_order(produced[service], records[topic])
        for problem in problems[:20]:
            f.fail(f"{topic}: {problem}")
    if records[dead_letter]:
        f.fail(f"{len(records[dead_letter])} records on {dead_letter}")
    f.figures["kafka"] = {
        "records": {t: len(r) for t, r in records.items()},
        "republished_copies": repeated,
    }


Rank = dict[UUID, tuple[str, str, int]]  # event id -> (source service, subject, outbox seq)


def in_cause_order(applied: Iterable[UUID], rank: Rank, label: dict[UUID, str]) -> list[str]:
    """``applied``: event ids in the order a consumer applied them (other ids are skipped).
    Per source and subject, the outbox order must never go back."""
    last: dict[tuple[str, str], tuple[int, UUID]] = {}
    problems = []
    reported: set[UUID] = set()  # one line per event, however many effects it had
    for event_id in applied:
        if event_id not in rank:
            continue
        source, subject, seq = rank[event_id]
        before = last.get((source, subject))
        if before is not None and seq < before[0] and event_id not in reported:
            reported.add(event_id)
            problems.append(
                f"{label[event_id]} of {subject} applied after the later {label[before[1]]}"
            )
        if before is None or seq > before[0]:
            last[(source, subject)] = (seq, event_id)
    return problems


async def check_order_of_application(infra: Infra, produced: Rows, f: Findings) -> None:
    """Per consumer and subject, events were applied in the order they were produced, as
    three records show: the transactions that applied them (inbox.processed_at: it cannot
    tell the events of one transaction apart), the ledger's journal (one row per posting, in
    the order posted) and the events the consumers' effects caused (causation_id, in their
    outbox order), which can."""
    rank: Rank = {
        r["event_id"]: (s, r["key"], r["seq"]) for s in ("escrow", "financing") for r in produced[s]
    }
    label = {r["event_id"]: f"{r['type']} {r['event_id']}" for s in produced for r in produced[s]}
    problems: list[str] = []
    checked: Counter[str] = Counter()
    for consumer, (service, source) in CONSUMERS.items():
        sources = ("escrow", "financing") if consumer == "ledger-postings" else (source,)
        conn = await connect(infra, service)
        try:
            times = {
                r["event_id"]: r["processed_at"]
                for r in await conn.fetch(
                    "SELECT event_id, processed_at FROM inbox WHERE consumer = $1", consumer
                )
            }
        finally:
            await conn.close()
        for s in sources:
            never = {r["event_id"] for r in produced[s]} - set(times)
            if never and consumer != "ledger-postings":
                problems.append(f"{consumer}: {len(never)} {s} events never reached its inbox")
            last: dict[str, tuple[Any, UUID]] = {}
            for r in produced[s]:
                at = times.get(r["event_id"])
                if at is None:
                    continue
                checked["inbox"] += 1
                before = last.get(r["key"])
                if before is not None and at < before[0]:
                    problems.append(
                        f"{consumer}: {label[r['event_id']]} of {r['key']} applied before "
                        f"the earlier {label[before[1]]}"
                    )
                last[r["key"]] = (at, r["event_id"])
        causes = [
            r["causation_id"]
            for r in produced[service]
            if r["causation_id"] in rank and rank[r["causation_id"]][0] in sources
        ]
        checked["effects"] += len(causes)
        problems += [f"{consumer}: {p}" for p in in_cause_order(causes, rank, label)]
    conn = await connect(infra, "ledger")
    try:
        journal = await conn.fetch(
            "SELECT source_event_id FROM journal_transactions WHERE kind = 'event' ORDER BY seq"
        )
    finally:
        await conn.close()
    posted = [r["source_event_id"] for r in journal]
    checked["journal"] += len(posted)
    problems += [f"ledger journal: {p}" for p in in_cause_order(posted, rank, label)]
    for problem in problems[:50]:
        f.fail(problem)
    if len(problems) > 50:
        f.fail(f"... and {len(problems) - 50} more ordering problems")
    f.figures["ordering_checked"] = dict(checked)


def read_logs(logs: Path) -> dict[str, Any]:
    """Redeliveries the inboxes absorbed and partition moves, from the consumers' JSON logs."""
    absorbed: Counter[str] = Counter()
    assigned: Counter[str] = Counter()
    for path in logs.glob("*-consume-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "inbox.redelivered_absorbed":
                absorbed[entry["consumer"]] += int(entry["count"])
            elif entry.get("event") == "inbox.partitions_assigned":
                assigned[entry["consumer"]] += 1
    return {"redeliveries_absorbed": dict(absorbed), "partition_assignments": dict(assigned)}
