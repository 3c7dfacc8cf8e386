"""Escrow's lien consumer as it runs (its ServiceDefinition's batch handler) on real Kafka and
PostgreSQL: batches of financing's commands, each escrow's in order, a failing escrow parked
alone, and no second answer after a crash, mid-batch or before the offsets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.bootstrap import DEFINITION
from shared.db import outbox, parked_subjects
from shared.events import Envelope, EventModel
from shared.events.financing import LienReleaseRequested, LienRequested
from shared.inbox import BatchHandler, InboxConsumer
from shared.outbox import publish
from shared.parking import read_dead_letters
from tests.conftest import create_topic
from tests.integration.escrow.conftest import Api, order_body
from tests.support.consumers import (
    Crash,
    DiesBeforeOffsetCommit,
    Recorded,
    consumer_of,
    dies_mid_batch,
    run_to_end,
)

pytestmark = pytest.mark.integration
SUPPLIER = "supplier-shenzhen"


class Commands:
    """Plays financing: its commands on a topic of this test's own, one partition."""

    def __init__(self, api: Api, topic: str) -> None:
        self.api, self.topic = api, topic
        (self.spec,) = DEFINITION.consumers(api.container)
        self.name = f"escrow-liens-batches-{uuid.uuid4().hex[:8]}"
        assert self.spec.batch_handler is not None
        self.batch_handler: BatchHandler = self.spec.batch_handler

    def request(self, order: dict[str, Any], advance: str, amount: int = 50_000) -> Envelope:
        return self._wrap(order, LienRequested(order_id=order["order_id"], advance_id=advance,
                                               amount=amount, currency="USD", supplier_id=SUPPLIER))  # fmt: skip

    def release(self, order: dict[str, Any], advance: str) -> Envelope:
        command = LienReleaseRequested(
            order_id=order["order_id"], advance_id=advance, reason="repaid"
        )
        return self._wrap(order, command)

    def _wrap(self, order: dict[str, Any], command: EventModel) -> Envelope:
        return Envelope.wrap(
            command, source="financing", tenant_id=order["tenant_id"], subject=order["order_id"]
        )

    async def send(self, envs: Sequence[Envelope]) -> None:
        await publish(self.api.container.runtime.producer, self.topic, envs)

    async def run(
        self,
        expected: int,
        batch: BatchHandler | None = None,
        cls: type[InboxConsumer] = InboxConsumer,
    ) -> int:
        consumer = consumer_of(
            self.spec, self.api.engine, self.api.settings.kafka_bootstrap_servers,
            self.api.container.runtime.producer, self.topic, name=self.name, batch=batch, cls=cls,
        )  # fmt: skip
        return await run_to_end(consumer, expected)

    async def letters(self) -> dict[str, bytes]:
        found = await read_dead_letters(
            self.api.settings.kafka_bootstrap_servers, f"{self.topic}.dlq", self.name, within=10
        )
        return {d.headers["ce_id"].decode(): d.headers["dlq_error_type"] for d in found}


@pytest.fixture
async def commands(api: Api) -> Commands:
    topic = f"{api.settings.topic_prefix}.lien-batches-{uuid.uuid4().hex[:8]}"
    await create_topic(api.settings.kafka_bootstrap_servers, topic, partitions=1)
    return Commands(api, topic)


async def funded_escrow(api: Api) -> dict[str, Any]:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    wire = {"amount": 100_000, "reference": f"w-{order['order_id']}"}
    confirmed = await api.post(
        f"/v1/orders/{order['order_id']}/wire-confirmations", wire, api.finance
    )
    assert confirmed.is_success, confirmed.text
    return order


async def answers(api: Api, env: Envelope) -> list[dict[str, Any]]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope)
            .where(outbox.c.envelope["causation_id"].astext == str(env.id))
            .order_by(outbox.c.seq)
        )
        return [r[0] for r in rows]


async def answered(api: Api, env: Envelope) -> list[str]:
    return [
        a["type"] + "".join(f":{r}" for r in a["data"].get("reasons", []))
        for a in await answers(api, env)
    ]


async def state(api: Api, order: dict[str, Any]) -> dict[str, Any]:
    got = await api.client.get(f"/v1/orders/{order['order_id']}", headers=api.finance)
    return dict(got.json())


async def test_a_batch_decides_each_escrows_commands_in_their_order(
    api: Api, commands: Commands
) -> None:
    escrows = [await funded_escrow(api) for _ in range(6)]
    per_escrow = [
        [commands.request(e, "a1"), commands.release(e, "a1"), commands.request(e, "a1"),
         commands.request(e, "a2")]
        for e in escrows
    ]  # fmt: skip
    envs = [cmds[i] for i in range(4) for cmds in per_escrow]  # the escrows interleaved
    recorded = Recorded(commands.batch_handler)
    await commands.send(envs)
    assert await commands.run(len(envs), batch=recorded) == len(envs)

    for order, (placed, released, again, second) in zip(escrows, per_escrow, strict=True):
        assert await answered(api, placed) == ["escrow.lien_placed"]
        assert await answered(api, released) == ["escrow.lien_released"]
        assert await answered(api, again) == ["escrow.lien_refused:lien_already_released"]
        assert await answered(api, second) == ["escrow.lien_placed"]
        assert (await state(api, order))["lien"]["advance_id"] == "a2"
    assert max(len(b) for b in recorded.handed) > len(escrows)  # several of one per batch
    assert await commands.letters() == {}


async def test_a_command_that_fails_parks_its_escrow_alone(api: Api, commands: Commands) -> None:
    broken, healthy = await funded_escrow(api), await funded_escrow(api)
    missing = {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "tenant_id": api.tenant}
    invalid = commands.request(broken, "a1")
    invalid = invalid.model_copy(update={"data": {**invalid.data, "amount": 500.0}})
    behind = commands.request(broken, "a2")
    placed, nowhere = commands.request(healthy, "a1"), commands.request(missing, "a1")
    await commands.send([invalid, placed, behind, nowhere])
    assert await commands.run(4) == 4

    assert await answered(api, placed) == ["escrow.lien_placed"]
    assert await answered(api, nowhere) == ["escrow.lien_refused:order_not_found"]
    assert await answered(api, invalid) == [] and await answered(api, behind) == []
    assert (await state(api, broken))["lien"] is None
    assert await commands.letters() == {
        str(invalid.id): b"ValidationError",
        str(behind.id): b"SubjectParked",
    }
    async with api.engine.connect() as conn:
        parked = await conn.execute(
            sa.select(parked_subjects.c.subject).where(parked_subjects.c.consumer == commands.name)
        )
        assert list(parked.scalars()) == [broken["order_id"]]


async def test_a_crash_mid_batch_or_before_the_offsets_answers_each_command_once(
    api: Api, commands: Commands
) -> None:
    escrows = [await funded_escrow(api) for _ in range(3)]
    envs = [c for e in escrows for c in (commands.request(e, "a1"), commands.release(e, "a1"))]
    await commands.send(envs)

    with pytest.raises(Crash):
        await commands.run(len(envs), batch=dies_mid_batch(commands.batch_handler))
    with pytest.raises(Crash):
        await commands.run(len(envs), cls=DiesBeforeOffsetCommit)
    assert await commands.run(len(envs)) == len(envs)  # redelivered: the inbox drops it all

    for env in envs:
        assert len(await answers(api, env)) == 1
    for order in escrows:
        got = await state(api, order)
        assert got["lien"]["status"] == "released"
        timeline = (
            await api.client.get(
                f"/v1/orders/{order['order_id']}/timeline?limit=100", headers=api.finance
            )
        ).json()
        lien_events = [e["type"] for e in timeline["data"] if "lien" in e["type"]]
        assert lien_events == ["escrow.lien_placed", "escrow.lien_released"]
