"""The chaos run's own checks, against the real broker: a check that cannot fail proves
nothing, so each one is shown failing on a state it must catch."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.outbox import make_producer
from shared.settings import Settings
from tests.chaos import quiet
from tests.chaos.faults import Fault, Injector
from tests.chaos.stack import Fleet, Proc
from tests.conftest import create_topic

pytestmark = pytest.mark.integration


async def test_consumer_lag_counts_what_a_group_has_not_committed(settings: Settings) -> None:
    """The quiet check's lag: records a group has not committed, over every partition of its
    topics. It once read partitions from a consumer that knew no topic, found none and summed
    an empty list: every group was always 0 behind, so the run was declared quiet while
    consumers were still catching up (checks then failed at random, or passed on a ledger
    that was not done posting)."""
    bootstrap = settings.kafka_bootstrap_servers
    prefix = f"{settings.topic_prefix}.lag-{uuid.uuid4().hex[:6]}"
    first, second = f"{prefix}.first", f"{prefix}.second"
    await create_topic(bootstrap, first, partitions=2)
    await create_topic(bootstrap, second, partitions=2)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(first, b"x", key=f"k{i}".encode())
        for i in range(3):
            await producer.send_and_wait(second, b"y", key=f"k{i}".encode())
    finally:
        await producer.stop()
    # A group that read all of ``first`` and committed it; ``second`` it never read.
    group = f"{prefix}.caught-up-on-first"
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(first, p) for p in (0, 1)]
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        await reader.commit({tp: ends[tp] for tp in tps})
    finally:
        await reader.stop()

    behind = await quiet.lag(
        bootstrap, {group: [first, second], f"{prefix}.never-read": [first, second]}
    )
    assert behind == {group: 3, f"{prefix}.never-read": 8}


class Sleeper(Proc):
    """A process slot running a stand-in command instead of a service."""

    def __init__(self, index: int, log: Path, argv: list[str]) -> None:
        super().__init__("svc", "role", index, None, log)
        self.argv = argv

    def command(self) -> list[str]:
        return self.argv


class Timed(random.Random):
    """The injector's pauses pinned: 0.2 s between faults, 3 s before a restart."""

    def uniform(self, a: float, b: float) -> float:
        return b if (a, b) == (0.3, 3.0) else a


def fleet_of(tmp_path: Path, *argv: list[str]) -> Fleet:
    fleet = Fleet(dict(os.environ), tmp_path, instances=0)
    fleet.procs = [Sleeper(i, tmp_path / f"p{i}.log", a) for i, a in enumerate(argv)]
    fleet.start_all()
    return fleet


async def test_a_kill_planned_while_every_instance_is_down_waits_for_a_restart(
    tmp_path: Path,
) -> None:
    """Three kills of a kind with two instances, 0.2 s apart, restarts after 3 s: the third
    finds both dead. It used to 'kill' a dead process and count it; the run then reported
    kills that never happened."""
    fleet = fleet_of(tmp_path, ["sleep", "60"], ["sleep", "60"])
    try:
        injector = Injector(fleet, None, [Fault(0.0, "svc-role")] * 3, lambda: 1.0, Timed())  # type: ignore[arg-type]
        await injector.run()
        assert injector.log.kills["svc-role"] == sum(p.kills for p in fleet) == 3
    finally:
        fleet.stop_all()


async def test_a_process_that_exits_by_itself_is_recorded_and_started_again(
    tmp_path: Path,
) -> None:
    """Only the run's own kills are faults. A process that dies on its own (a consumer that
    gives up after a broker restart) used to go unnoticed: its twin took over and every
    check passed, while the run had one process fewer than it said."""
    fleet = fleet_of(tmp_path, ["sh", "-c", "echo giving up; exit 3"], ["sleep", "60"])
    stop = asyncio.Event()
    try:
        watching = asyncio.create_task(fleet.supervise(stop, every=0.05))
        fleet.procs[1].kill()  # the run's own kill: no exit to report
        await asyncio.sleep(0.5)
        stop.set()
        await watching
    finally:
        fleet.stop_all()
    assert {e.name for e in fleet.exits} == {"svc-role-0"}
    assert {e.status for e in fleet.exits} == {3} and "giving up" in fleet.exits[0].tail
    assert fleet.procs[0].starts > 1  # started again, as a supervisor would


async def test_the_webhook_receiver_verifies_signatures_and_fails_first_attempts_when_told() -> (
    None
):
    """The chaos run's receiver: a delivery signed with its tenant's secret is accepted, one
    signed with another tenant's is refused and recorded as invalid, and a first attempt
    it was told to fail is answered 500 while the retry of the same webhook-id is not."""
    import httpx
    from standardwebhooks.webhooks import Webhook

    from services.webhooks.domain.signing import headers, new_secret
    from tests.chaos.webhooks import Receiver

    receiver = Receiver(random.Random(1), fail_first_share=1.0)
    mine, theirs = new_secret(), new_secret()
    receiver.secrets["t1"] = Webhook(mine)
    await receiver.start()
    try:
        async with httpx.AsyncClient() as client:

            async def post(event: str, secret: str) -> int:
                body = f'{{"id":"{event}","tenant":"t1"}}'
                signed = headers([secret], event, datetime.now(UTC), body)
                r = await client.post(receiver.url("t1"), content=body, headers=signed)
                return r.status_code

            assert [await post("e1", mine), await post("e1", mine)] == [500, 200]
            assert await post("e2", theirs) == 400
    finally:
        await receiver.stop()
    assert [(r.event_id, r.valid, r.status, r.payload_tenant) for r in receiver.received] == [
        ("e1", True, 500, "t1"),
        ("e1", True, 200, "t1"),
        ("e2", False, 400, None),
    ]
