"""When and by whom money leaves the escrow: a lapsed inspection window is paid at once by
the timer worker, and every release and refund is attributed to whoever caused it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest

from services.escrow.bootstrap import DEFINITION
from services.escrow.service_layer.gateway import GatewayUnavailable
from shared.timers import TimerWorker
from tests.integration.escrow.conftest import Api, order_body, pi_event
from tests.integration.escrow.test_milestones_timers import (  # noqa: F401 (a fixture)
    failing_transfers,
    funded_order,
)

pytestmark = pytest.mark.integration
WINDOW = 60  # seconds of inspection


def actors(timeline: dict[str, Any], kind: str) -> list[str]:
    return [e["actor"] for e in timeline["data"] if e["type"] == kind]


async def timeline_of(api: Api, order_id: str) -> dict[str, Any]:
    r = await api.client.get(f"/v1/orders/{order_id}/timeline?limit=100", headers=api.finance)
    assert r.status_code == 200, r.text
    return r.json()


async def deposit_in_inspection(api: Api) -> tuple[str, str]:
    """A funded order whose deposit milestone is in its inspection window."""
    order = await funded_order(api, window=WINDOW)
    deposit = order["milestones"][0]
    assert deposit["status"] == "in_inspection", deposit
    return order["order_id"], deposit["milestone_id"]


async def deposit_status(api: Api, order_id: str) -> str:
    state = (await api.client.get(f"/v1/orders/{order_id}", headers=api.finance)).json()
    return str(state["milestones"][0]["status"])


async def test_a_lapsed_window_is_paid_by_the_pass_that_finds_it_lapsed(api: Api) -> None:
    """The timer that auto-accepts also gets the payout made, at the same instant: no
    settlement grace (there is no request whose inline settlement it would wait for)."""
    oid, _ = await deposit_in_inspection(api)
    api.clock.advance(timedelta(seconds=WINDOW + 1))
    worker = TimerWorker(api.engine, DEFINITION.timers(api.container), clock=api.clock)
    await worker.fire_due()  # the window lapses: accepted, payout reserved
    await worker.fire_due()  # the same instant: the settlement is due already
    assert await deposit_status(api, oid) == "released"


async def test_the_real_timer_worker_pays_a_lapsed_window_without_waiting(api: Api) -> None:
    """The worker's loop goes straight on after a pass that fired something, so the payout
    follows the window's end by one poll, not by the 30 s settlement grace. The manual clock
    never moves here: only a settlement due at the window's end can be paid."""
    oid, _ = await deposit_in_inspection(api)
    api.clock.advance(timedelta(seconds=WINDOW + 1))
    worker = TimerWorker(api.engine, DEFINITION.timers(api.container), clock=api.clock)
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(200):  # a hang guard, not a timing assertion
            if await deposit_status(api, oid) == "released":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(loop, 10)
    assert await deposit_status(api, oid) == "released"
    tl = await timeline_of(api, oid)
    assert actors(tl, "escrow.milestone_released") == ["system:inspection_window"]


async def test_a_release_is_attributed_to_the_key_that_accepted(api: Api) -> None:
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    r = await api.post(f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform)
    assert r.json()["milestones"][0]["status"] == "released", r.text
    tl = await timeline_of(api, oid)
    assert actors(tl, "escrow.milestone_accepted") == [f"apikey:{api.tenant}-platform"]
    assert actors(tl, "escrow.milestone_released") == [f"apikey:{api.tenant}-platform"]


async def test_a_refund_is_attributed_to_the_key_that_cancelled(api: Api) -> None:
    order = (await api.post("/v1/orders", order_body(), api.platform)).json()
    oid = order["order_id"]
    funding = (await api.post(f"/v1/orders/{oid}/fund", {}, api.platform)).json()
    await api.webhook(pi_event("payment_intent.succeeded", order, funding))
    r = await api.post(f"/v1/orders/{oid}/cancel", {"reason": "buyer withdrew"}, api.platform)
    assert r.json()["status"] == "cancelled", r.text
    tl = await timeline_of(api, oid)
    assert actors(tl, "escrow.refunded") == [f"apikey:{api.tenant}-platform"]


async def test_a_release_the_settlement_timer_completes_keeps_its_cause(
    api: Api,
    failing_transfers: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    """Stripe is down when the buyer accepts; the settlement timer pays later. The release
    was still the buyer's doing: settlement is how it was paid, not who paid it."""
    order = await funded_order(api)
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    failing_transfers(GatewayUnavailable("stripe timed out"))
    r = await api.post(f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform)
    assert r.json()["milestones"][0]["status"] == "releasing"
    api.container.gateway = api.container.gateway.real  # type: ignore[attr-defined]
    api.clock.advance(timedelta(minutes=1))
    await api.fire_timers()
    assert await deposit_status(api, oid) == "released"
    tl = await timeline_of(api, oid)
    assert actors(tl, "escrow.milestone_released") == [f"apikey:{api.tenant}-platform"]
