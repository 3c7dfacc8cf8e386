"""The events a timer's decision publishes belong to the conversation that set the timer.

A timer runs outside any request or consumed event, so nothing bound a correlation id for
it: the inspection window's acceptance and the settlement timer's release each started a
conversation of their own (the release's even named an event id nobody published), and
nothing said which event the acceptance answered.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from services.escrow.service_layer.decisions import INSPECTION_TIMER
from services.escrow.service_layer.gateway import GatewayUnavailable
from shared.db import outbox, timers
from tests.integration.escrow.conftest import Api
from tests.integration.escrow.test_milestones_timers import (  # noqa: F401 (a fixture)
    failing_transfers,
    funded_order,
)
from tests.integration.escrow.test_settlement import WINDOW, deposit_in_inspection

pytestmark = pytest.mark.integration


async def published(api: Api, order_id: str) -> list[dict[str, Any]]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope).where(outbox.c.key == order_id).order_by(outbox.c.seq)
        )
    return [r.envelope for r in rows]


def one(events: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    (found,) = [e for e in events if e["type"] == event_type]
    return found


async def test_the_inspection_windows_decision_answers_the_inspection_it_ends(api: Api) -> None:
    oid, _ = await deposit_in_inspection(api)
    started = one(await published(api, oid), "escrow.inspection_started")
    api.clock.advance(timedelta(seconds=WINDOW + 1))
    await api.fire_timers()  # the window lapses: accepted, payout reserved
    await api.fire_timers()  # the settlement timer pays it
    events = await published(api, oid)
    accepted = one(events, "escrow.milestone_accepted")
    released = one(events, "escrow.milestone_released")
    assert accepted["data"]["accepted_by"] == "inspection_window"
    assert accepted["causation_id"] == started["id"]
    assert accepted["correlation_id"] == started["correlation_id"]
    assert released["correlation_id"] == started["correlation_id"]
    assert released["causation_id"] == started["id"]  # booked as its reservation was made


async def test_a_release_the_settlement_timer_completes_stays_in_the_acceptances_conversation(
    api: Api,
    failing_transfers: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    failing_transfers(GatewayUnavailable("stripe timed out"))
    conversation = uuid.uuid4()
    headers = {**api.platform, "Idempotency-Key": str(uuid.uuid4())}
    r = await api.client.post(
        f"/v1/orders/{oid}/milestones/{mid}/accept",
        json={},
        headers={**headers, "X-Correlation-Id": str(conversation)},
    )
    assert r.json()["milestones"][0]["status"] == "releasing", r.text
    api.container.gateway = api.container.gateway.real  # type: ignore[attr-defined]
    api.clock.advance(timedelta(minutes=1))
    await api.fire_timers()
    events = await published(api, oid)
    assert one(events, "escrow.milestone_accepted")["correlation_id"] == str(conversation)
    released = one(events, "escrow.milestone_released")
    assert released["id"] == r.json()["payouts"][0]["payout_id"]
    assert (released["version"], released["data"]["payout_id"]) == (3, released["id"])
    assert released["correlation_id"] == str(conversation)
    assert released["causation_id"] is None  # a request's, as the inline settlement's is


async def test_a_timer_set_before_timers_carried_a_cause_starts_one_conversation(
    api: Api,
) -> None:
    """Timers already in the database at the upgrade carry no cause: the acceptance starts a
    conversation, and the release its settlement books joins it."""
    oid, mid = await deposit_in_inspection(api)
    async with api.engine.begin() as conn:
        await conn.execute(
            timers.update()
            .where(timers.c.kind == INSPECTION_TIMER, timers.c.key.startswith(f"{oid}/{mid}/"))
            .values(payload={"order_id": oid, "milestone_id": mid})
        )
    api.clock.advance(timedelta(seconds=WINDOW + 1))
    await api.fire_timers()
    await api.fire_timers()
    events = await published(api, oid)
    accepted = one(events, "escrow.milestone_accepted")
    released = one(events, "escrow.milestone_released")
    assert accepted["causation_id"] is None
    assert accepted["correlation_id"] == released["correlation_id"] == accepted["id"]
