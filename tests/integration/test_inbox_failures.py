"""How the inbox consumer meets failing events, on real Kafka and PostgreSQL: the failures
of a batch are found without re-running it event by event, dead letters go out once, and the
rest of a batch never waits behind an event that is being retried."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import inbox
from shared.events import Envelope
from shared.events.registry import NewerEventVersion
from shared.inbox import BatchHandler, Failures, InboxConsumer, PermanentFailure, RetryPolicy
from shared.settings import Settings
from tests.conftest import create_topic
from tests.integration.conftest import effects
from tests.integration.test_backbone import drain, effects_of, read_all, send
from tests.support.events import WidgetChanged, widget_event


@pytest.fixture
async def topic(settings: Settings, unique_topic: str) -> str:
    # One partition: what is sent before a poll arrives in one batch.
    await create_topic(settings.kafka_bootstrap_servers, unique_topic, partitions=1)
    return unique_topic


def consumer(
    settings: Settings,
    engine: AsyncEngine,
    topic: str,
    dlq: AIOKafkaProducer,
    batch: BatchHandler,
    attempts: int = 3,
    name: str | None = None,
) -> InboxConsumer:
    async def one(conn: AsyncConnection, env: Envelope) -> None:
        await batch(conn, [env])

    return InboxConsumer(
        name=name or f"g-{uuid.uuid4()}", topics=[topic], engine=engine,
        bootstrap_servers=settings.kafka_bootstrap_servers, handler=one, batch_handler=batch,
        dlq_producer=dlq, dlq_topic=f"{topic}.dlq",
        retry=RetryPolicy(attempts=attempts, initial_wait=0.01, max_wait=0.05),
    )  # fmt: skip


async def insert_effects(conn: AsyncConnection, envs: Sequence[Envelope]) -> None:
    rows = []
    for env in envs:
        p = env.payload()
        assert isinstance(p, WidgetChanged)
        rows.append({"event_id": env.id, "subject": p.widget_id, "seq": p.seq})
    if rows:
        await conn.execute(effects.insert(), rows)


async def letters_of(settings: Settings, topic: str, expected: int) -> dict[bytes, list[dict]]:
    by_id: dict[bytes, list[dict]] = {}
    for r in await read_all(settings, f"{topic}.dlq", expected=expected, within=5):
        headers = dict(r.headers)
        by_id.setdefault(headers.get("ce_id", b"?"), []).append(headers)
    return by_id


async def test_a_parked_subjects_event_in_a_failing_batch_is_dead_lettered_once(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    p, q = f"p-{uuid.uuid4()}", f"q-{uuid.uuid4()}"

    async def apply(conn: AsyncConnection, envs: Sequence[Envelope]) -> None:
        for env in envs:
            if env.payload().fail == "always":  # type: ignore[attr-defined]
                raise PermanentFailure(f"{env.subject} refused")
        await insert_effects(conn, envs)

    first = consumer(settings, backbone_engine, topic, producer, apply)
    await first.start()
    try:
        await send(producer, topic, widget_event(p, 1, fail="always"))
        assert await drain(first, expected=1) == 1  # p is parked now
    finally:
        await first.stop()
    p2, q1 = widget_event(p, 2), widget_event(q, 1, fail="always")
    await send(producer, topic, p2, q1)  # sent while nobody reads: one batch
    again = consumer(settings, backbone_engine, topic, producer, apply, name=first.name)
    await again.start()
    try:
        assert await drain(again, expected=2) == 2  # p2 parked, q1 failing the batch
    finally:
        await again.stop()
    letters = await letters_of(settings, topic, expected=4)
    assert [h["dlq_error_type"] for h in letters[str(p2.id).encode()]] == [b"SubjectParked"]
    assert len(letters[str(q1.id).encode()]) == 1
    assert sum(len(v) for v in letters.values()) == 3


async def test_a_batch_handler_that_names_its_failures_applies_the_rest_in_one_go(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    handed: list[uuid.UUID] = []

    async def apply(conn: AsyncConnection, envs: Sequence[Envelope]) -> Failures:
        handed.extend(e.id for e in envs)
        failed: dict[uuid.UUID, Exception] = {}
        stopped: set[str] = set()
        good = []
        for env in envs:
            if env.subject in stopped:
                continue
            if env.payload().fail == "always":  # type: ignore[attr-defined]
                failed[env.id] = PermanentFailure("refused")
                stopped.add(env.subject)
            else:
                good.append(env)
        await insert_effects(conn, good)
        return failed

    subjects = [f"w{i}-{uuid.uuid4()}" for i in range(20)]
    bad = subjects[3]
    envs = [widget_event(s, seq, fail="always" if (s, seq) == (bad, 2) else None)
            for seq in (1, 2, 3) for s in subjects]  # fmt: skip
    c = consumer(settings, backbone_engine, topic, producer, apply)
    await send(producer, topic, *envs)
    await c.start()
    try:
        assert await drain(c, expected=len(envs)) == len(envs)
    finally:
        await c.stop()
    rows = await effects_of(backbone_engine, [e.id for e in envs])
    assert sorted((r.subject, r.seq) for r in rows if r.subject == bad) == [(bad, 1)]
    assert len(rows) == len(envs) - 2  # the bad one and the one behind it
    assert sorted(handed) == sorted(e.id for e in envs)  # each handed over once, no retries
    letters = await letters_of(settings, topic, expected=2)
    assert sorted(h[0]["dlq_error_type"] for h in letters.values()) == [
        b"PermanentFailure",
        b"SubjectParked",
    ]


async def test_a_raising_handler_is_split_by_subject_not_rerun_per_event(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    calls: list[int] = []

    async def apply(conn: AsyncConnection, envs: Sequence[Envelope]) -> None:
        calls.append(len(envs))
        for env in envs:
            if env.payload().fail == "always":  # type: ignore[attr-defined]
                raise PermanentFailure(f"{env.subject} refused")
        await insert_effects(conn, envs)

    subjects = [f"w{i}-{uuid.uuid4()}" for i in range(64)]
    envs = [widget_event(s, 1, fail="always" if i == 41 else None) for i, s in enumerate(subjects)]
    c = consumer(settings, backbone_engine, topic, producer, apply)
    await send(producer, topic, *envs)
    await c.start()
    try:
        assert await drain(c, expected=64) == 64
    finally:
        await c.stop()
    rows = await effects_of(backbone_engine, [e.id for e in envs])
    assert sorted(r.subject for r in rows) == sorted(s for i, s in enumerate(subjects) if i != 41)
    # Halving 64 subjects down to the culprit: 1 + 2 per level (6 levels), not 1 + 64.
    assert len(calls) <= 13, calls
    (letter,) = (await letters_of(settings, topic, expected=1))[str(envs[41].id).encode()]
    assert letter["dlq_attempts"] == b"1"  # refused for good: no retries


async def test_the_rest_of_a_batch_commits_before_a_failed_event_is_retried(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    flaky, others = f"x-{uuid.uuid4()}", [f"y{i}-{uuid.uuid4()}" for i in range(10)]
    envs = [widget_event(flaky, 1), *[widget_event(s, 1) for s in others]]
    tries = 0
    committed_when_retried: list[int] = []

    async def committed() -> int:
        async with backbone_engine.connect() as conn:
            query = sa.select(sa.func.count()).where(effects.c.subject.in_(others))
            return int((await conn.execute(query)).scalar_one())

    async def apply(conn: AsyncConnection, batch: Sequence[Envelope]) -> None:
        nonlocal tries
        if any(e.subject == flaky for e in batch):
            if len(batch) == 1:
                tries += 1
                if tries > 1:
                    committed_when_retried.append(await committed())
            if tries < 3:
                raise RuntimeError("the flaky one is not ready yet")
        await insert_effects(conn, batch)

    c = consumer(settings, backbone_engine, topic, producer, apply, attempts=5)
    await send(producer, topic, *envs)
    await c.start()
    try:
        assert await drain(c, expected=len(envs)) == len(envs)
    finally:
        await c.stop()
    assert len(await effects_of(backbone_engine, [e.id for e in envs])) == len(envs)
    assert committed_when_retried and set(committed_when_retried) == {len(others)}
    assert await read_all(settings, f"{topic}.dlq", expected=1, within=3) == []


async def test_an_event_newer_than_the_code_stalls_the_batch_instead_of_dead_lettering(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    upgraded, refused = False, 0

    async def apply(conn: AsyncConnection, envs: Sequence[Envelope]) -> Failures:
        nonlocal refused
        newer = [e for e in envs if e.payload().fail == "newer" and not upgraded]  # type: ignore[attr-defined]
        if newer:  # named, not raised: the consumer must still see the outage in it
            refused += 1
            return {e.id: NewerEventVersion(f"{e.type} v2 is newer than this code") for e in newer}
        await insert_effects(conn, envs)
        return {}

    envs = [widget_event(f"w{i}-{uuid.uuid4()}", 1, fail="newer" if i == 2 else None)
            for i in range(5)]  # fmt: skip
    c = consumer(settings, backbone_engine, topic, producer, apply)
    await send(producer, topic, *envs)
    await c.start()
    try:
        for _ in range(20):
            assert await c.poll_once(timeout_ms=1000) == 0  # rewound, nothing committed
            if refused >= 2:  # fetched, refused, rewound and fetched again
                break
        assert refused >= 2
        assert await effects_of(backbone_engine, [e.id for e in envs]) == []
        upgraded = True  # the new code is deployed
        assert await drain(c, expected=len(envs)) == len(envs)
    finally:
        await c.stop()
    assert len(await effects_of(backbone_engine, [e.id for e in envs])) == len(envs)
    assert await read_all(settings, f"{topic}.dlq", expected=1, within=3) == []


async def test_two_members_claiming_one_batch_in_different_orders_do_not_deadlock(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    """Mid-rebalance the member that lost the partitions and the one that got them apply
    the same records at once, each in the order its fetch listed the partitions. Their
    inbox claims waited on each other's rows in a circle: one of them died of a deadlock
    (which is no outage, so the consumer process exited). Claims are taken in id order."""
    envs = [widget_event(f"w-{uuid.uuid4()}", 1) for _ in range(5_000)]
    items = [(None, env) for env in envs]
    name = f"g-{uuid.uuid4()}"
    members = [consumer(settings, backbone_engine, topic, producer, insert_effects, name=name)
               for _ in range(2)]  # fmt: skip
    ascending = sorted(envs, key=lambda e: e.id)
    async with backbone_engine.connect() as blocker:  # lines both members up on their first row
        await blocker.execute(
            inbox.insert(),
            [{"consumer": name, "event_id": e.id, "event_type": e.type}
             for e in (ascending[0], ascending[-1])],
        )  # fmt: skip

        async def claim(member: InboxConsumer, order: list) -> int:
            async with backbone_engine.begin() as conn:
                return len(await member._claim(conn, order))

        a = asyncio.create_task(claim(members[0], sorted(items, key=lambda i: i[1].id)))
        b = asyncio.create_task(claim(members[1], sorted(items, key=lambda i: i[1].id)[::-1]))
        await asyncio.sleep(0.5)
        await blocker.rollback()
        try:
            fresh = await asyncio.gather(a, b)
        finally:
            for member in members:
                await member.stop()  # never started: only its client to close
    assert sum(fresh) == len(envs)


async def test_a_dependency_that_cannot_be_reached_stalls_the_batch_instead_of_dead_lettering(
    settings: Settings, backbone_engine: AsyncEngine, producer: AIOKafkaProducer, topic: str
) -> None:
    """Stripe unreachable for longer than an event's retries (about 1.5 s) used to
    dead-letter the disbursement and park its order: no event is at fault, so the batch is
    rewound and waits, as for a database outage, and applies once Stripe is back."""
    from shared.outages import DependencyUnavailable

    reachable, refused = False, 0

    async def apply(conn: AsyncConnection, envs: Sequence[Envelope]) -> Failures:
        nonlocal refused
        if not reachable and any(e.payload().fail == "stripe" for e in envs):  # type: ignore[attr-defined]
            refused += 1
            raise DependencyUnavailable("stripe", "Connection refused")
        await insert_effects(conn, envs)
        return {}

    envs = [widget_event(f"w{i}-{uuid.uuid4()}", 1, fail="stripe" if i == 2 else None)
            for i in range(5)]  # fmt: skip
    c = consumer(settings, backbone_engine, topic, producer, apply)
    await send(producer, topic, *envs)
    await c.start()
    try:
        for _ in range(40):
            assert await c.poll_once(timeout_ms=1000) == 0  # rewound, nothing committed
            if refused >= 8:  # more tries than an event's retry budget
                break
        assert refused >= 8
        assert await effects_of(backbone_engine, [e.id for e in envs]) == []
        reachable = True
        assert await drain(c, expected=len(envs)) == len(envs)
    finally:
        await c.stop()
    assert len(await effects_of(backbone_engine, [e.id for e in envs])) == len(envs)
    assert await read_all(settings, f"{topic}.dlq", expected=1, within=3) == []
