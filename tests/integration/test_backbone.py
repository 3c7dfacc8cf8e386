"""The event backbone against real PostgreSQL and a real Kafka broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import inbox, make_engine, outbox, parked_subjects
from shared.events import Envelope
from shared.inbox import InboxConsumer, RetryPolicy
from shared.metrics import EVENTS_REDELIVERED
from shared.outbox import OutboxRelay, add_to_outbox
from shared.parking import replay
from shared.settings import Settings
from shared.unit_of_work import SqlUnitOfWork
from tests.conftest import create_topic
from tests.integration.conftest import effects, widgets
from tests.support.events import WidgetChanged, widget_event


class Boom(Exception):
    pass


@pytest.fixture
async def topic(settings: Settings, unique_topic: str) -> str:
    await create_topic(settings.kafka_bootstrap_servers, unique_topic, partitions=6)
    return unique_topic


_failed_once: set[uuid.UUID] = set()


async def record_effect(conn: AsyncConnection, env: Envelope) -> None:
    payload = env.payload()
    assert isinstance(payload, WidgetChanged)
    if payload.fail == "always":
        raise Boom(f"widget {payload.widget_id} cannot change")
    if payload.fail == "once" and env.id not in _failed_once:
        _failed_once.add(env.id)
        raise Boom("transient")
    await conn.execute(
        effects.insert().values(event_id=env.id, subject=payload.widget_id, seq=payload.seq)
    )


def consumer_for(
    settings: Settings,
    engine: AsyncEngine,
    topic: str,
    dlq: AIOKafkaProducer,
    group: str,
    cls: type[InboxConsumer] = InboxConsumer,
) -> InboxConsumer:
    return cls(
        name=group,
        topics=[topic],
        engine=engine,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        handler=record_effect,
        dlq_producer=dlq,
        dlq_topic=f"{topic}.dlq",
        retry=RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05),
    )


async def drain(consumer: InboxConsumer, expected: int, within: float = 30) -> int:
    """Poll until ``expected`` records were covered (or time runs out)."""
    seen = 0
    deadline = asyncio.get_running_loop().time() + within
    while seen < expected and asyncio.get_running_loop().time() < deadline:
        seen += await consumer.poll_once(timeout_ms=500)
    return seen


async def effects_of(engine: AsyncEngine, event_ids: Sequence[uuid.UUID]) -> list[sa.Row]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(effects)
                    .where(effects.c.event_id.in_(event_ids))
                    .order_by(effects.c.applied)
                )
            ).all()
        )


async def read_all(settings: Settings, topic: str, expected: int, within: float = 20) -> list:
    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await c.start()
    out: list = []
    try:
        deadline = asyncio.get_running_loop().time() + within
        while len(out) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await c.getmany(timeout_ms=500)
            out += [r for rs in batch.values() for r in rs]
    finally:
        await c.stop()
    return out


async def test_state_change_and_outbox_event_commit_together(backbone_engine: AsyncEngine) -> None:
    wid = f"w-{uuid.uuid4()}"
    env = widget_event(wid, 1)
    with pytest.raises(Boom):
        async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
            await uow.conn.execute(widgets.insert().values(id=wid, state="changed"))
            await uow.outbox.add(env)
            raise Boom("crash before commit")

    async with SqlUnitOfWork(
        backbone_engine, "any-topic"
    ) as uow:  # never committed: rolls back too
        await uow.conn.execute(widgets.insert().values(id=wid, state="changed"))
        await uow.outbox.add(env)

    async with backbone_engine.connect() as conn:
        assert (await conn.execute(sa.select(widgets).where(widgets.c.id == wid))).first() is None
        assert (
            await conn.execute(sa.select(outbox).where(outbox.c.event_id == env.id))
        ).first() is None

    async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
        await uow.conn.execute(widgets.insert().values(id=wid, state="changed"))
        await uow.outbox.add(env)
        await uow.commit()

    async with backbone_engine.connect() as conn:
        assert (
            await conn.execute(sa.select(widgets.c.state).where(widgets.c.id == wid))
        ).scalar() == "changed"
        row = (await conn.execute(sa.select(outbox).where(outbox.c.event_id == env.id))).one()
        assert row.sent_at is None and row.key == wid
    async with backbone_engine.begin() as conn:  # keep other relays' batches clean
        await conn.execute(outbox.delete().where(outbox.c.topic == "any-topic"))


class CrashAfterPublish(OutboxRelay):
    async def _mark_sent(self, conn: AsyncConnection, seqs: list[int]) -> None:
        raise Boom("relay died after Kafka acknowledged, before marking sent")


async def test_relay_crash_publishes_twice_but_effect_happens_once(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    env = widget_event(f"w-{uuid.uuid4()}", 1)
    async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
        await add_to_outbox(uow.conn, topic, env)
        await uow.commit()

    with pytest.raises(Boom):
        await CrashAfterPublish(backbone_engine, producer).relay_once()
    assert await OutboxRelay(backbone_engine, producer).relay_once() >= 1
    assert await OutboxRelay(backbone_engine, producer).relay_once() == 0  # now marked sent

    published = await read_all(settings, topic, expected=2)
    assert [Envelope.from_kafka(r.value, r.headers).id for r in published] == [env.id, env.id]

    consumer = consumer_for(settings, backbone_engine, topic, producer, f"g-{uuid.uuid4()}")
    await consumer.start()
    try:
        assert await drain(consumer, expected=2) == 2
    finally:
        await consumer.stop()
    assert len(await effects_of(backbone_engine, [env.id])) == 1


class CrashBeforeOffsetCommit(InboxConsumer):
    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        raise Boom("consumer died after the database commit, before the offset commit")


async def test_consumer_crash_after_db_commit_redelivers_without_second_effect(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    env = widget_event(f"w-{uuid.uuid4()}", 1)
    group = f"g-{uuid.uuid4()}"
    async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
        await add_to_outbox(uow.conn, topic, env)
        await uow.commit()
    await OutboxRelay(backbone_engine, producer).relay_once()

    crashing = consumer_for(
        settings, backbone_engine, topic, producer, group, CrashBeforeOffsetCommit
    )
    await crashing.start()
    try:
        with pytest.raises(Boom):
            await drain(crashing, expected=1)
    finally:
        await crashing.stop()
    assert len(await effects_of(backbone_engine, [env.id])) == 1

    restarted = consumer_for(settings, backbone_engine, topic, producer, group)
    await restarted.start()
    try:
        assert await drain(restarted, expected=1) == 1  # redelivered: offset was never committed
    finally:
        await restarted.stop()
    assert len(await effects_of(backbone_engine, [env.id])) == 1
    async with backbone_engine.connect() as conn:
        claims = await conn.execute(
            sa.select(sa.func.count()).where(inbox.c.consumer == group, inbox.c.event_id == env.id)
        )
        assert claims.scalar() == 1
    # The dropped redelivery is counted, so an operator (and the chaos run) can see it.
    assert EVENTS_REDELIVERED.labels(group)._value.get() == 1


async def send(producer: AIOKafkaProducer, topic: str, *envs: Envelope) -> None:
    for env in envs:
        k, v, h = env.to_kafka()
        await producer.send_and_wait(topic, v, key=k, headers=h)


async def test_poison_messages_are_dead_lettered_and_the_rest_still_processed(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    a, b = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    a1, a2, a3 = widget_event(a, 1), widget_event(a, 2, fail="always"), widget_event(a, 3)
    b1, b2 = widget_event(b, 1, fail="once"), widget_event(b, 2)
    await send(producer, topic, a1)
    await producer.send_and_wait(topic, b"{not json", key=b"c-1", headers=[("ce_type", b"x")])
    await send(producer, topic, a2, b1, a3, b2)

    consumer = consumer_for(settings, backbone_engine, topic, producer, f"g-{uuid.uuid4()}")
    await consumer.start()
    try:
        assert await drain(consumer, expected=6) == 6
    finally:
        await consumer.stop()

    # a2 failed for good: it and a3 behind it (same subject) are parked, never applied out of
    # order; b1 succeeded on its retry and subject b went on.
    applied = await effects_of(backbone_engine, [a1.id, a2.id, a3.id, b1.id, b2.id])
    assert sorted((r.subject, r.seq) for r in applied) == sorted([(a, 1), (b, 1), (b, 2)])

    dead = await read_all(settings, f"{topic}.dlq", expected=3)
    letters = {dict(r.headers).get("ce_id", b"poison"): dict(r.headers) for r in dead}
    assert len(dead) == 3
    assert letters[b"poison"]["dlq_error_type"] == b"EnvelopeError"
    assert b"not JSON" in letters[b"poison"]["dlq_reason"]
    failed = letters[str(a2.id).encode()]
    assert failed["dlq_error_type"] == b"Boom" and b"cannot change" in failed["dlq_reason"]
    assert failed["dlq_attempts"] == b"3" and failed["dlq_topic"] == topic.encode()
    held = letters[str(a3.id).encode()]
    assert held["dlq_error_type"] == b"SubjectParked"
    assert str(a2.id).encode() in held["dlq_reason"]


_broken: set[str] = set()


async def effect_unless_broken(conn: AsyncConnection, env: Envelope) -> None:
    if env.subject in _broken:
        raise Boom(f"{env.subject} is broken")
    await record_effect(conn, env)


async def test_replay_applies_a_parked_subject_in_order_once_fixed(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    w = f"w-{uuid.uuid4()}"
    envs = [widget_event(w, seq) for seq in (1, 2, 3)]
    group, dlq = f"g-{uuid.uuid4()}", f"{topic}.dlq"
    await create_topic(settings.kafka_bootstrap_servers, dlq, partitions=1)
    consumer = InboxConsumer(
        name=group, topics=[topic], engine=backbone_engine,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=effect_unless_broken,
        dlq_producer=producer, dlq_topic=dlq, retry=RetryPolicy(attempts=2, initial_wait=0.01),
    )  # fmt: skip
    await consumer.start()
    try:
        _broken.add(w)
        await send(producer, topic, *envs)
        assert await drain(consumer, expected=3) == 3
        assert await effects_of(backbone_engine, [e.id for e in envs]) == []

        _broken.discard(w)  # the operator fixed the cause
        replayed = await replay(
            backbone_engine, producer, bootstrap_servers=settings.kafka_bootstrap_servers,
            dlq_topic=dlq, consumer=group, subject=w,
        )  # fmt: skip
        assert replayed == 3
        assert await drain(consumer, expected=3) == 3
    finally:
        await consumer.stop()
    assert [r.seq for r in await effects_of(backbone_engine, [e.id for e in envs])] == [1, 2, 3]


async def test_a_second_replay_republishes_only_what_its_parking_held_back(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    """The dead-letter topic keeps the letters of a parking that was replayed already. A
    later parking of the same subject replays its own letters, not those again: their events
    were applied by the first replay (re-applying them doubled their effects, and applied
    them after the subject's later events)."""
    w = f"w-{uuid.uuid4()}"
    first = [widget_event(w, seq) for seq in (1, 2)]
    later = widget_event(w, 3)
    second = [widget_event(w, seq) for seq in (4, 5)]
    group, dlq = f"g-{uuid.uuid4()}", f"{topic}.dlq"
    await create_topic(settings.kafka_bootstrap_servers, dlq, partitions=1)
    consumer = InboxConsumer(
        name=group, topics=[topic], engine=backbone_engine,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=effect_unless_broken,
        dlq_producer=producer, dlq_topic=dlq, retry=RetryPolicy(attempts=2, initial_wait=0.01),
    )  # fmt: skip

    async def replayed() -> int:
        return await replay(
            backbone_engine, producer, bootstrap_servers=settings.kafka_bootstrap_servers,
            dlq_topic=dlq, consumer=group, subject=w,
        )  # fmt: skip

    await consumer.start()
    try:
        _broken.add(w)
        await send(producer, topic, *first)
        assert await drain(consumer, expected=2) == 2
        _broken.discard(w)
        assert await replayed() == 2
        assert await drain(consumer, expected=2) == 2
        await send(producer, topic, later)  # applied as it comes: the subject is not parked
        assert await drain(consumer, expected=1) == 1

        _broken.add(w)  # broken again: 4 fails, 5 is parked behind it
        await send(producer, topic, *second)
        assert await drain(consumer, expected=2) == 2
        _broken.discard(w)
        assert await replayed() == 2
        assert await drain(consumer, expected=2) == 2
        # A subject that is not parked has nothing held back to replay.
        assert await replayed() == 0
    finally:
        await consumer.stop()
    ids = [e.id for e in (*first, later, *second)]
    assert [r.seq for r in await effects_of(backbone_engine, ids)] == [1, 2, 3, 4, 5]
    async with backbone_engine.connect() as conn:
        parked = await conn.execute(
            sa.select(parked_subjects).where(parked_subjects.c.subject == w)
        )
        assert parked.all() == []


async def test_a_database_outage_stalls_the_consumer_instead_of_dead_lettering(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    env = widget_event(f"w-{uuid.uuid4()}", 1)
    await send(producer, topic, env)
    group = f"g-{uuid.uuid4()}"
    down = make_engine("postgresql+asyncpg://tradeflow:tradeflow@127.0.0.1:1/nowhere")
    outage = consumer_for(settings, down, topic, producer, group)
    await outage.start()
    try:
        for _ in range(3):
            assert await outage.poll_once(timeout_ms=3000) == 0  # rewound, nothing committed
    finally:
        await outage.stop()
        await down.dispose()

    recovered = consumer_for(settings, backbone_engine, topic, producer, group)
    await recovered.start()
    try:
        assert await drain(recovered, expected=1) == 1
    finally:
        await recovered.stop()
    assert len(await effects_of(backbone_engine, [env.id])) == 1
    assert await read_all(settings, f"{topic}.dlq", expected=1, within=3) == []


async def test_one_subjects_events_arrive_in_order_across_partitions(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    subjects = [f"w-{uuid.uuid4()}" for _ in range(12)]
    # A tenant's events share one partition: spread the subjects over tenants so the
    # topic's partitions mix, and interleave them across several transactions.
    tenants = {s: f"t{n % 6}" for n, s in enumerate(subjects)}
    envs = []
    for seq in range(1, 21):
        async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
            batch = [widget_event(s, seq, tenant=tenants[s]) for s in subjects]
            await add_to_outbox(uow.conn, topic, *batch)
            await uow.commit()
        envs += batch
    relay = OutboxRelay(backbone_engine, producer, batch_size=37)
    while await relay.relay_once():
        pass

    consumer = consumer_for(settings, backbone_engine, topic, producer, f"g-{uuid.uuid4()}")
    await consumer.start()
    try:
        assert await drain(consumer, expected=len(envs)) == len(envs)
    finally:
        await consumer.stop()

    rows = await effects_of(backbone_engine, [e.id for e in envs])
    assert len(rows) == len(envs)
    for s in subjects:
        assert [r.seq for r in rows if r.subject == s] == list(range(1, 21))
    on_topic = await read_all(settings, topic, expected=len(envs))
    assert len({r.partition for r in on_topic}) > 1, "the test must span several partitions"


async def test_the_relay_is_woken_by_notify_not_only_by_polling(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    # Polling once an hour: an event that still arrives promptly was announced by NOTIFY.
    relay = OutboxRelay(backbone_engine, producer, poll_interval=3600)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.wait_for(relay.listening.wait(), timeout=10)  # backlog done; waiting
        env = widget_event(f"w-{uuid.uuid4()}", 1)
        async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
            await add_to_outbox(uow.conn, topic, env)
            await uow.commit()
        published = await read_all(settings, topic, expected=1)
        assert [Envelope.from_kafka(r.value, r.headers).id for r in published] == [env.id]
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)


async def test_an_event_too_large_to_publish_is_refused_when_written(
    backbone_engine: AsyncEngine,
) -> None:
    from shared.outbox import EventTooLarge

    huge = widget_event("w-" + "x" * 1_000_000, 1)
    with pytest.raises(EventTooLarge):
        async with SqlUnitOfWork(backbone_engine, "any-topic") as uow:
            await add_to_outbox(uow.conn, "any-topic", huge)


async def echo_the_stripe_key(conn: AsyncConnection, env: Envelope) -> None:
    # What stripe-mock answers a wrong key with (the Stripe library raises it as is).
    raise Boom("Please authenticate. Authorization was 'Bearer sk_test_leaky_key42'.")


async def test_a_failure_reason_that_echoes_a_secret_is_kept_without_it(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    """Dead-letter headers and parked reasons outlive the failure: no secret goes in them."""
    w = f"w-{uuid.uuid4()}"
    group, dlq = f"g-{uuid.uuid4()}", f"{topic}.dlq"
    consumer = InboxConsumer(
        name=group, topics=[topic], engine=backbone_engine,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=echo_the_stripe_key,
        dlq_producer=producer, dlq_topic=dlq, retry=RetryPolicy(attempts=1, initial_wait=0.01),
    )  # fmt: skip
    await consumer.start()
    try:
        await send(producer, topic, widget_event(w, 1))
        assert await drain(consumer, expected=1) == 1
    finally:
        await consumer.stop()
    (letter,) = await read_all(settings, dlq, expected=1)
    reason = dict(letter.headers)["dlq_reason"]
    assert b"Authorization was" in reason and b"sk_test_leaky_key42" not in reason
    async with backbone_engine.connect() as conn:
        parked_reason = (
            await conn.execute(
                sa.select(parked_subjects.c.reason).where(parked_subjects.c.subject == w)
            )
        ).scalar_one()
    assert "Authorization was" in parked_reason and "sk_test_leaky_key42" not in parked_reason
