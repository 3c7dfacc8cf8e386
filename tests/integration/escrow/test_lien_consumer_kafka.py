"""The lien consumer over real Kafka: financing's commands, duplicated, reordered, too large."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.bootstrap import DEFINITION
from shared.db import outbox
from shared.events import Envelope, EventModel
from shared.events.financing import LienReleaseRequested, LienRequested
from shared.inbox import InboxConsumer, RetryPolicy
from tests.conftest import create_topic
from tests.integration.escrow.conftest import Api, order_body

pytestmark = pytest.mark.integration
SUPPLIER = "supplier-shenzhen"


class Financing:
    """Plays financing: publishes lien commands to a topic escrow's lien consumer reads."""

    def __init__(self, api: Api, topic: str) -> None:
        self.api, self.topic = api, topic
        (spec,) = DEFINITION.consumers(api.container)
        self.consumer = InboxConsumer(
            name=f"escrow-liens-test-{uuid.uuid4().hex[:8]}",
            topics=[topic],
            engine=api.engine,
            bootstrap_servers=api.settings.kafka_bootstrap_servers,
            handler=spec.handler,
            dlq_producer=api.container.runtime.producer,
            dlq_topic=f"{topic}.dlq",
            retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02),
        )

    def command(self, tenant: str, command: EventModel) -> Envelope:
        order_id = command.order_id  # type: ignore[attr-defined]
        return Envelope.wrap(command, source="financing", tenant_id=tenant, subject=order_id)

    async def send(self, *envelopes: Envelope) -> None:
        producer = self.api.container.runtime.producer
        for env in envelopes:
            key, value, headers = env.to_kafka()
            await producer.send_and_wait(self.topic, value, key=key, headers=headers)
        seen, loop = 0, asyncio.get_running_loop()
        deadline = loop.time() + 30
        while seen < len(envelopes) and loop.time() < deadline:
            seen += await self.consumer.poll_once(timeout_ms=300)
        assert seen == len(envelopes)


@pytest.fixture
async def financing(api: Api) -> AsyncIterator[Financing]:
    topic = f"{api.settings.topic_prefix}.financing-{uuid.uuid4().hex[:8]}"
    await create_topic(api.settings.kafka_bootstrap_servers, topic, partitions=3)
    f = Financing(api, topic)
    await f.consumer.start()
    yield f
    await f.consumer.stop()


async def answers(api: Api, env: Envelope) -> list[dict[str, Any]]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope)
            .where(outbox.c.envelope["causation_id"].astext == str(env.id))
            .order_by(outbox.c.seq)
        )
        return [r[0] for r in rows]


async def test_lien_commands_over_kafka_duplicated_reordered_and_too_large(
    api: Api, financing: Financing
) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid, tenant = order["order_id"], order["tenant_id"]
    wire = {"amount": 100_000, "reference": f"w-{oid}"}
    assert (await api.post(f"/v1/orders/{oid}/wire-confirmations", wire, api.finance)).is_success

    def lien(advance_id: str, amount: int) -> Envelope:
        return financing.command(
            tenant, LienRequested(order_id=oid, advance_id=advance_id, amount=amount,
                                  currency="USD", supplier_id=SUPPLIER),
        )  # fmt: skip

    def release(advance_id: str) -> Envelope:
        return financing.command(
            tenant, LienReleaseRequested(order_id=oid, advance_id=advance_id, reason="cancelled")
        )

    # More than the releases can repay (100 000 less 1% fees = 99 000): refused.
    too_large = lien("a0", 99_001)
    placed = lien("a1", 99_000)
    await financing.send(too_large, placed, placed)  # the same record delivered twice
    (refused,) = await answers(api, too_large)
    assert refused["data"]["reasons"] == ["amount_exceeds_future_releases"]
    assert [a["type"] for a in await answers(api, placed)] == ["escrow.lien_placed"]

    # Released; then the request again under a new id, and a release that overtook its request.
    await financing.send(release("a1"), lien("a1", 99_000), release("a2"))
    late = lien("a2", 1_000)
    await financing.send(late)
    assert (await answers(api, late))[0]["data"]["reasons"] == ["lien_already_released"]
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert state["lien"]["advance_id"] == "a1" and state["lien"]["status"] == "released"
    timeline = (
        await api.client.get(f"/v1/orders/{oid}/timeline?limit=100", headers=api.finance)
    ).json()
    lien_events = [(e["type"], e["actor"]) for e in timeline["data"] if "lien" in e["type"]]
    assert lien_events == [
        ("escrow.lien_refused", "financing"),
        ("escrow.lien_placed", "financing"),
        ("escrow.lien_released", "financing"),
        ("escrow.lien_refused", "financing"),
        ("escrow.lien_refused", "financing"),
    ]
