"""Consumer throughput: each service's real consumer on a pre-loaded topic.

The consumer is what ``tradeflow <svc> consume`` runs: the ``ConsumerSpec`` of the service's
``ServiceDefinition`` (its handlers, its ``max_records``), built by
``services.runner.build_consumer`` into an ``InboxConsumer`` on real Kafka and PostgreSQL
(inbox claims in the transaction of the effects, offsets committed after it, dead letters
sent to the dead-letter topic). Each run reads a topic of its own, pre-loaded with
``bench/consumer_streams.py``'s events, and is timed from the first fetch to the last offset
commit.

Figures, each with a baseline from the same topic in the same run: the same consumer
machinery with a handler that does nothing (what Kafka, parsing, the inbox claim and the
offset commits cost alone). Streams: a clean one, and one where 10% of the events are
dead-lettered. ``CONSUMER_BENCH_EVENTS`` (default 20,000) events per stream;
``CONSUMER_BENCH_ONLY=financing,escrow`` picks consumers; ``CONSUMER_BENCH_PROFILE=1`` profiles each measured run with pyinstrument into
bench/results/profile-<service>-<stream>.txt.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import asyncpg
import sqlalchemy as sa
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import consumer_streams as streams
from bench.results import RESULTS, Figure
from services.runner import ConsumerSpec, Container, ServiceDefinition, build_consumer
from shared.db import asyncpg_dsn, inbox
from shared.events import Envelope
from shared.logging import configure_logging
from shared.metrics import EVENTS_CONSUMED, EVENTS_DEAD_LETTERED
from shared.migrations import upgrade
from shared.outbox import publish
from shared.settings import Settings

PARTITIONS = 6
TARGET = ">= 5000"


async def nothing(conn: AsyncConnection, env: Envelope) -> None:
    return None


async def nothing_batch(conn: AsyncConnection, envs: Sequence[Envelope]) -> None:
    return None


async def create_topics(
    settings: Settings, names: Sequence[str], partitions: int = PARTITIONS
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in names])
    finally:
        await admin.close()


async def preload(container: Container, topics: dict[str, str], stream: streams.Stream) -> None:
    for role, envs in stream.events.items():
        for lo in range(0, len(envs), 1_000):
            await publish(container.runtime.producer, topics[role], envs[lo : lo + 1_000])


async def consume(
    spec: ConsumerSpec, container: Container, expected: int, profile: str
) -> tuple[float, float]:
    """Seconds from the first fetch to the last commit, covering ``expected`` records, and
    the CPU seconds this process spent meanwhile (the machine is shared: wall time is not
    all ours)."""
    consumer = build_consumer(spec, container)
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not consumer.consumer.assignment():  # the group join is not what we measure
            if loop.time() > deadline:
                raise TimeoutError(f"{spec.name}: no partitions assigned in 60s")
            await asyncio.sleep(0.05)
        profiler = _profiler(profile)
        started, cpu, seen = time.perf_counter(), time.process_time(), 0
        while seen < expected:
            if loop.time() > deadline + 600:
                raise TimeoutError(f"{spec.name}: {seen} of {expected} records in 10 minutes")
            seen += await consumer.poll_once(timeout_ms=1_000)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler is not None:
            profiler.stop()
            out = RESULTS.parent / f"profile-{profile}.txt"
            out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        return took, cpu
    finally:
        await consumer.stop()


def _profiler(name: str) -> Any:
    if os.environ.get("CONSUMER_BENCH_PROFILE") != "1" or name.endswith("baseline"):
        return None
    from pyinstrument import Profiler

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(async_mode="enabled")
    profiler.start()
    return profiler


Build = Callable[[int, str, float], streams.Stream]
Setup = Callable[[Container, streams.Stream], Any]


async def bench_consumer(
    definition: ServiceDefinition,
    settings: Settings,
    build: Build,
    n: int,
    setup: Setup | None = None,
) -> list[Figure]:
    container = await definition.bootstrap(settings)
    figures = []
    try:
        (spec,) = definition.consumers(container)
        for label, share in (("clean", 0.0), ("10% dead-lettered", 0.1)):
            run = uuid.uuid4().hex[:6]
            stream = build(n, run, share)
            roles = [t.rsplit(".", 2)[-2] for t in spec.topics]  # "<prefix>.<svc>.events"
            topics = {role: f"{settings.topic(role)}.{run}" for role in roles}
            await create_topics(settings, list(topics.values()))
            if setup is not None:
                await setup(container, stream)
            await preload(container, topics, stream)
            topic_list = [topics[r] for r in roles]
            baseline = replace(spec, name=f"{spec.name}.{run}.baseline", topics=topic_list,
                               handler=nothing, batch_handler=nothing_batch)  # fmt: skip
            real = replace(spec, name=f"{spec.name}.{run}", topics=topic_list)
            tag = f"{definition.name}-{'clean' if not share else 'dead'}"
            idle, _ = await consume(baseline, container, stream.count, f"{tag}-baseline")
            took, cpu = await consume(real, container, stream.count, tag)
            problem = await _check(container, real.name, stream)
            print(f"{spec.name} ({label}): {stream.count / took:,.0f} events/s;"
                  f" do-nothing handler {stream.count / idle:,.0f} events/s;"
                  f" {stream.dead:,} dead-lettered; {cpu / took:.0%} CPU {problem}")  # fmt: skip
            figures.append(Figure(
                f"consumer {spec.name} ({label})", stream.count / took, "events/s",
                "do-nothing handler", stream.count / idle, target=TARGET,
                note=f"{stream.count:,} events, {stream.dead:,} dead-lettered,"
                     f" max_records {spec.max_records} {problem}".strip(),
                details={"events": stream.count, "dead_lettered": stream.dead, "seconds": took,
                         "cpu_seconds": cpu},
            ))  # fmt: skip
    finally:
        await container.close()
    return figures


async def _check(container: Container, name: str, stream: streams.Stream) -> str:
    """Did the run do the work (every event applied once or dead-lettered once)? "" if so."""
    dead = EVENTS_DEAD_LETTERED.labels(name)._value.get()
    applied = EVENTS_CONSUMED.labels(name)._value.get()
    async with container.runtime.engine.connect() as conn:
        claims = (
            await conn.execute(sa.select(sa.func.count()).where(inbox.c.consumer == name))
        ).scalar_one()
    if dead == stream.dead and applied + dead == stream.count and claims == stream.count:
        return ""
    return (
        f"MISMATCH: {applied:.0f} applied + {dead:.0f} dead letters sent, {claims} inbox claims;"
        f" expected {stream.count - stream.dead} + {stream.dead}"
    )


async def escrows_for(container: Container, stream: streams.Stream) -> None:
    """The real, fully funded escrows financing's lien commands are about."""
    from services.escrow.adapters import repository
    from services.escrow.domain.funding import record_funding
    from services.escrow.domain.ordering import MilestoneSpec, OrderSpec, create_order

    now = streams.T0
    async with container.runtime.engine.begin() as conn:
        for tenant, order_id in stream.orders:
            spec = OrderSpec(
                tenant_id=tenant, buyer_id="buyer-1", supplier_id="supplier-1",
                supplier_account_id="acct_supplier1", currency="USD", total=streams.TOTAL,
                milestones=[MilestoneSpec(kind, amount, kind, 0)  # type: ignore[arg-type]
                            for _, kind, amount in streams.SPLIT],
                platform_fee_bps=100, platform_fee_fixed=0, order_id=order_id,
            )  # fmt: skip
            escrow, _ = create_order(spec, now)
            escrow, _ = record_funding(escrow, f"wire:{order_id}", streams.TOTAL, "wire", now)
            await repository.add(conn, escrow, now)


async def main() -> list[Figure]:
    from services.escrow.bootstrap import DEFINITION as ESCROW
    from services.financing.bootstrap import DEFINITION as FINANCING
    from services.ledger.bootstrap import DEFINITION as LEDGER

    n = int(os.environ.get("CONSUMER_BENCH_EVENTS", "20000"))
    # Every dead letter is logged as an error: thousands of them, by design, in this bench.
    configure_logging("bench", "CRITICAL", json=False)
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        environment="development",
        database_prefix=f"tradeflow_bench_{tag}_",
        topic_prefix=f"bench-{tag}",
    )
    services = ("escrow", "financing", "ledger")
    for service in services:
        await asyncio.to_thread(upgrade, service, settings)
    await create_topics(settings, [settings.dlq_topic])
    runs = {
        "financing": (FINANCING, streams.for_financing, None),
        "escrow": (ESCROW, streams.for_escrow, escrows_for),
        "ledger": (LEDGER, streams.for_ledger, None),
    }
    only = os.environ.get("CONSUMER_BENCH_ONLY", ",".join(runs)).split(",")
    try:
        figures = []
        for name in only:
            definition, build, setup = runs[name]
            figures += await bench_consumer(definition, settings, build, n, setup)
        return figures
    finally:
        await _drop(settings, services)


async def _drop(settings: Settings, services: Sequence[str]) -> None:
    url = sa.make_url(settings.service_database_url(services[0]))
    admin = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(False)))
    try:
        for service in services:
            name = sa.make_url(settings.service_database_url(service)).database
            for attempt in range(10):  # an autovacuum worker may hold it a moment
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except asyncpg.InsufficientPrivilegeError:
                    if attempt == 9:
                        raise
                    await asyncio.sleep(1)
    finally:
        await admin.close()


if __name__ == "__main__":
    for figure in asyncio.run(main()):
        print(figure.to_json())
