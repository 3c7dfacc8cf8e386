"""A ledger write is committed before its answer leaves: no 201 for a posting that a failed
COMMIT (a deferred balance check, a database gone away) would then take back, and an
Idempotency-Key never stores an answer ahead of the effect it describes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Message, Receive, Scope, Send

from services.ledger.adapters.tables import journal, period_closes
from services.ledger.bootstrap import DEFINITION, LedgerContainer
from services.runner import create_app
from shared.clock import ManualClock
from shared.outbox import make_producer
from shared.runtime import Runtime
from shared.settings import Settings
from tests.integration.ledger.helpers import allow_adjustments
from tests.support.keys import new_key

pytestmark = pytest.mark.integration

ADJUSTMENT = {
    "reason": "Stripe fee on ch_9 not booked",
    "lines": [
        {"account": "psp_fee_expense", "currency": "USD", "debit": 75},
        {"account": "stripe_clearing", "currency": "USD", "credit": 75, "external_ref": "ch_9"},
    ],
}


@dataclass
class Watch:
    """Counts the tenant's rows in a table at the moment the answer starts to leave."""

    engine: AsyncEngine
    tenant: str
    table: sa.Table = journal
    seen_at_answer: list[int] = field(default_factory=list)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            q = sa.select(sa.func.count()).where(self.table.c.tenant_id == self.tenant)
            return int((await conn.execute(q)).scalar_one())

    def wrap(self, app: Any) -> Any:
        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    self.seen_at_answer.append(await self.count())
                await send(message)

            await app(scope, receive, sending)

        return watched


@pytest.fixture
async def watched(
    ledger: AsyncEngine, settings: Settings, identity: AsyncEngine
) -> AsyncIterator[tuple[Any, Watch]]:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    clock = ManualClock(datetime(2026, 6, 30, 12, tzinfo=UTC))
    producer = make_producer(settings.kafka_bootstrap_servers)  # never started
    app = create_app(DEFINITION, settings)
    runtime = Runtime("ledger", settings, ledger, producer, clock, identity)
    app.state.container = LedgerContainer(runtime)
    app.state.engine = ledger
    app.state.identity = identity
    key = await new_key(identity, tenant, ["finance"], "bob")
    watch = Watch(ledger, tenant)
    transport = httpx.ASGITransport(app=watch.wrap(app))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ledger", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        await allow_adjustments(client, identity, tenant)
        watch.seen_at_answer.clear()  # the policy's answers are not the tests'
        yield client, watch
    await producer.stop()


@pytest.mark.parametrize("keyed", [False, True])
async def test_an_adjustment_is_committed_before_its_201_leaves(
    watched: tuple[httpx.AsyncClient, Watch], keyed: bool
) -> None:
    client, watch = watched
    headers = {"Idempotency-Key": str(uuid.uuid4())} if keyed else {}
    r = await client.post("/v1/ledger/adjustments", json=ADJUSTMENT, headers=headers)
    assert r.status_code == 201, r.text
    assert watch.seen_at_answer == [1]


async def test_a_period_close_is_committed_before_its_201_leaves(
    watched: tuple[httpx.AsyncClient, Watch],
) -> None:
    client, watch = watched
    watch.table = period_closes
    r = await client.post(
        "/v1/ledger/periods/close",
        json={"through": "2026-05-31T23:59:59Z", "reason": "May"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    assert watch.seen_at_answer == [1]
