"""The ingest benchmark's scenarios: provision a database and topics, pre-load the events,
drain them with the real consumer process(es) (or the naive one, in process), check the
result, and COPY the same rows into bare tables for the physical limit (bench/ingest_bench.py
says what each scenario measures)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import asyncpg
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient

from bench import ingest_streams as streams
from bench.consumer_bench import create_topics
from bench.ingest_naive import naive_post
from bench.ingest_run import Watched, cpu_seconds, launch, spy, stop, watch
from bench.ledger_bench import BARE, head_seq, plain_copy_seconds
from bench.profile_summary import summarize
from bench.results import RESULTS
from services.ledger.adapters.chain import verify_chains
from services.ledger.entrypoints.consumers import CONSUMER_NAME
from shared.db import asyncpg_dsn, make_engine
from shared.events import Envelope
from shared.inbox import InboxConsumer
from shared.migrations import upgrade
from shared.outbox import make_producer
from shared.settings import Settings
from shared.topics import partition_for

PARTITIONS = 6
COPY_WINDOW = 20_000  # journal transactions per plain-COPY transaction


@dataclass
class Run:
    label: str
    events: int
    postings: int
    watched: Watched
    cpu: float | None  # the consumer processes' CPU seconds
    problem: str  # "" when every check passed

    @property
    def rate(self) -> float:
        return self.events / self.watched.seconds

    def details(self) -> dict[str, object]:
        w = self.watched
        return {"events": self.events, "seconds": w.seconds, "drain_seconds": w.drain_seconds,
                "drain_tx_per_s": self.events / w.drain_seconds if w.drain_seconds else None,
                "startup_seconds": w.first_commit - w.started, "consumer_cpu_seconds": self.cpu,
                "lock_wait_share": w.lock_wait_share, "problem": self.problem}  # fmt: skip


def scenario(base: Settings, run: str, label: str) -> Settings:
    return base.model_copy(update={"database_prefix": f"bi_{run}_{label}_",
                                   "topic_prefix": f"bench-ingest-{run}-{label}"})  # fmt: skip


def dsn(settings: Settings) -> str:
    return asyncpg_dsn(sa.make_url(settings.service_database_url("ledger")).render_as_string(False))


async def provision(settings: Settings, events: Sequence[Envelope]) -> None:
    """A migrated ledger database, the topics, and the events on the escrow topic."""
    await asyncio.to_thread(upgrade, "ledger", settings)
    topics = [settings.topic("escrow"), settings.topic("financing"), settings.dlq_topic]
    await create_topics(settings, topics, PARTITIONS)
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        topic, pending = settings.topic("escrow"), []
        for env in events:
            key, value, headers, partition = _encoded(env)
            send = producer.send(topic, value=value, key=key, headers=headers, partition=partition)
            pending.append(await send)
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


_ENCODED: dict[UUID, tuple[bytes, bytes, list[tuple[str, bytes]], int]] = {}


def _encoded(env: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]], int]:
    """The record ``shared.outbox.publish`` sends for ``env`` (its tenant's partition), kept
    for the next scenario that sends the same events."""
    hit = _ENCODED.get(env.id)
    if hit is None:
        key, value, headers = env.to_kafka()
        hit = _ENCODED[env.id] = (
            key,
            value,
            headers,
            partition_for(env.tenant_id, range(PARTITIONS)),
        )
    return hit


async def drain(
    settings: Settings, expected: int, instances: int = 1, profile: str | None = None,
    source: Path | None = None, logs: Path = RESULTS.parent,
) -> tuple[Watched, float | None]:  # fmt: skip
    """Launch the consumer process(es) and watch until ``expected`` are posted; with
    ``profile``, py-spy records the (first) process into profile-<profile>.raw/.txt. The
    processes' output goes to ``logs``/ingest-<topic prefix>.log."""
    log = logs / f"ingest-{settings.topic_prefix}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    consumers = [launch(settings, log, source) for _ in range(instances)]
    raw = logs / f"profile-{profile}.raw" if profile else None
    spies = [spy(consumers[0].pid, raw)] if raw is not None else []
    try:
        watched = await watch(dsn(settings), expected, started, consumers)
        cpu = sum(cpu_seconds(p.pid) for p in consumers)
    finally:
        stop(spies)
        stop(consumers)
    if raw is not None and raw.exists():
        raw.with_suffix(".txt").write_text(summarize(raw.read_text()))
    return watched, cpu


async def drain_naive(settings: Settings, expected: int) -> tuple[Watched, float | None]:
    engine = make_engine(settings.service_database_url("ledger"))
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    consumer = InboxConsumer(
        name=CONSUMER_NAME, topics=[settings.topic("escrow")], engine=engine,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=naive_post,
        dlq_producer=producer, dlq_topic=settings.dlq_topic, max_records=1,
        group_id=f"{settings.topic_prefix}.{CONSUMER_NAME}",
    )  # fmt: skip
    done = asyncio.Event()
    started, cpu = time.perf_counter(), time.process_time()
    await consumer.start()
    task = asyncio.create_task(consumer.run(done))
    try:
        watched = await watch(dsn(settings), expected, started)
        return watched, time.process_time() - cpu
    finally:
        done.set()
        await task
        await consumer.stop()
        await producer.stop()
        await engine.dispose()


async def check(settings: Settings, expected: int, verify: bool = True) -> str:
    """'' when every event is posted once and claimed once, and (``verify``) every book's
    chain verifies."""
    engine = make_engine(settings.service_database_url("ledger"))
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(sa.text(
                "SELECT (SELECT count(*) FROM journal_transactions) AS journal,"
                " (SELECT count(DISTINCT source_event_id) FROM journal_transactions) AS sources,"
                " (SELECT count(*) FROM inbox) AS claims"))).one()  # fmt: skip
            broken = [r.book for r in await verify_chains(conn) if not r.ok] if verify else []
    finally:
        await engine.dispose()
    if (row.journal, row.sources, row.claims) == (expected,) * 3 and not broken:
        return ""
    return f"MISMATCH: {row.journal} journal rows, {row.sources} sources, {row.claims} claims (expected {expected}); broken books {broken}"


async def plain_copy(settings: Settings) -> float:
    """Seconds to COPY the run's journal rows and postings into bare tables, committed."""
    engine = make_engine(settings.service_database_url("ledger"))
    try:
        async with engine.begin() as conn:
            for statement in BARE[1:]:
                await conn.execute(sa.text(statement))
        last, took = await head_seq(engine), 0.0
        for lo in range(1, last + 1, COPY_WINDOW):
            took += await plain_copy_seconds(engine, lo, min(last, lo + COPY_WINDOW - 1))
        return took
    finally:
        await engine.dispose()


async def measure(base: Settings, run: str, label: str, events: Sequence[Envelope], **kw: object) -> Run:  # fmt: skip
    settings = scenario(base, run, label)
    await provision(settings, events)
    if label == "naive":
        watched, cpu = await drain_naive(settings, len(events))
    else:
        watched, cpu = await drain(settings, len(events), **kw)  # type: ignore[arg-type]
    result = Run(
        label,
        len(events),
        streams.postings_of(events),
        watched,
        cpu,
        # The chains of the two-writer run always; of the others when small (it takes a while).
        await check(
            settings, len(events), verify=kw.get("instances") == 2 or len(events) <= 20_000
        ),
    )
    print(f"  {label}: {len(events):,} events in {watched.seconds:.1f}s = {result.rate:,.0f} tx/s"
          f" (drain {watched.drain_seconds:.1f}s, lock-wait share {watched.lock_wait_share:.1%})"
          f" {result.problem}")  # fmt: skip
    return result


async def cleanup(base: Settings, run: str, labels: Sequence[str]) -> None:
    admin_db = await asyncpg.connect(asyncpg_dsn(sa.make_url(base.database_url).set(database="postgres").render_as_string(False)))  # fmt: skip
    admin = AIOKafkaAdminClient(bootstrap_servers=base.kafka_bootstrap_servers)
    await admin.start()
    try:
        for label in labels:
            s = scenario(base, run, label)
            db = sa.make_url(s.service_database_url("ledger")).database
            await admin_db.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            ours = [s.topic("escrow"), s.topic("financing"), s.dlq_topic]
            existing = set(await admin.list_topics())
            await admin.delete_topics([t for t in ours if t in existing])
    finally:
        await admin.close()
        await admin_db.close()
