"""Event backbone benchmarks: outbox relay and inbox consumer throughput on the real stack.

Figures are ratios and throughputs measured in one run (the machine is shared and noisy):
- relay: events/s from committed outbox rows to acknowledged Kafka records, against a
  baseline of the same envelopes sent straight through the same producer;
- consumer: events/s applied exactly-once (inbox claim + effect + offset commit), with the
  per-event handler and with a batch handler (the ledger's path), and their ratio.
Size: BACKBONE_BENCH_EVENTS (default 20,000).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.results import Figure
from shared.db import BACKBONE, asyncpg_dsn, make_engine
from shared.events import Envelope, EventModel, event
from shared.inbox import InboxConsumer
from shared.logging import configure_logging
from shared.migrations import ensure_database
from shared.outbox import OutboxRelay, add_to_outbox, publish
from shared.runtime import start_producer as start
from shared.settings import Settings

EFFECTS = sa.MetaData()
effects = sa.Table("bench_effects", EFFECTS, sa.Column("event_id", sa.Uuid, primary_key=True))


@event("test.bench_tick")
class Tick(EventModel):
    n: int


def ticks(n: int) -> list[Envelope]:
    return [
        Envelope.wrap(Tick(n=i), source="bench", tenant_id="bench", subject=f"s{i % 1000}")
        for i in range(n)
    ]


async def one(conn: AsyncConnection, env: Envelope) -> None:
    await conn.execute(effects.insert().values(event_id=env.id))


async def many(conn: AsyncConnection, envs: Sequence[Envelope]) -> None:
    await conn.execute(effects.insert(), [{"event_id": e.id} for e in envs])


async def consume_all(consumer: InboxConsumer, n: int) -> float:
    await consumer.start()
    try:
        started, seen = time.perf_counter(), 0
        while seen < n:
            seen += await consumer.poll_once(timeout_ms=1000)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def main() -> list[Figure]:
    n = int(os.environ.get("BACKBONE_BENCH_EVENTS", "20000"))
    configure_logging("bench", "WARNING", json=False)
    settings = Settings(
        environment="development", database_prefix=f"tradeflow_bench_{uuid.uuid4().hex[:6]}_"
    )
    url = settings.service_database_url("backbone")
    await ensure_database(url)
    engine: AsyncEngine = make_engine(url)
    producer = await start(settings.kafka_bootstrap_servers)
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 1), NewTopic(f"{topic}.raw", 6, 1)])
    await admin.close()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(BACKBONE.create_all)
            await conn.run_sync(EFFECTS.create_all)
        envs = ticks(n)

        started = time.perf_counter()
        for lo in range(0, n, 500):
            await publish(producer, f"{topic}.raw", envs[lo : lo + 500])
        raw = time.perf_counter() - started

        for lo in range(0, n, 500):
            async with engine.begin() as conn:
                await add_to_outbox(conn, topic, *envs[lo : lo + 500])
        relay = OutboxRelay(engine, producer, batch_size=500)
        started = time.perf_counter()
        while await relay.relay_once():
            pass
        relayed = time.perf_counter() - started
        print(f"outbox relay: {n / relayed:,.0f} events/s; raw producer {n / raw:,.0f} events/s;"
              f" relay/raw = {raw / relayed:.2f}")  # fmt: skip
        figures = [Figure("outbox_relay", n / relayed, "events/s", "bare producer", n / raw)]

        def consumer(batch: bool) -> InboxConsumer:
            return InboxConsumer(
                name=f"bench-{uuid.uuid4().hex[:6]}", topics=[topic], engine=engine,
                bootstrap_servers=settings.kafka_bootstrap_servers, handler=one,
                batch_handler=many if batch else None, dlq_producer=producer,
                dlq_topic=f"{topic}.dlq",
            )  # fmt: skip

        single = await consume_all(consumer(batch=False), n)
        async with engine.begin() as conn:
            await conn.execute(effects.delete())
        batched = await consume_all(consumer(batch=True), n)
        print(f"inbox consumer: per-event handler {n / single:,.0f} events/s; batch handler"
              f" {n / batched:,.0f} events/s; batch/per-event = {single / batched:.2f}")  # fmt: skip
        figures.append(
            Figure("inbox_batch_handler", n / batched, "events/s", "per-event handler", n / single)
        )
        return figures
    finally:
        await producer.stop()
        await engine.dispose()
        await _drop(url)


async def _drop(url: str) -> None:
    import asyncpg

    target = sa.make_url(url)
    admin = await asyncpg.connect(
        asyncpg_dsn(target.set(database="postgres").render_as_string(False))
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    finally:
        await admin.close()
