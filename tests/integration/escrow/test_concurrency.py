"""50 concurrent release / refund / dispute requests on one escrow: exactly one wins.

The requests really run concurrently (one event loop, a pool of database connections);
optimistic versioning makes every loser re-decide on the winner's state, where the domain
refuses it with a typed error (or, after repeated conflicts, 409 concurrent_modification).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from services.escrow.bootstrap import DEFINITION
from shared.clock import ManualClock
from shared.timers import TimerWorker
from tests.integration.escrow.conftest import Api, order_body

pytestmark = pytest.mark.integration


async def test_fifty_concurrent_actions_end_in_one_consistent_outcome(api: Api) -> None:
    order = (
        await api.post("/v1/orders", order_body((100_000,), ("contract",)), api.platform)
    ).json()
    oid = order["order_id"]
    mid = order["milestones"][0]["milestone_id"]
    wire = {"amount": 100_000, "reference": f"wire-{oid}"}
    funded = await api.post(f"/v1/orders/{oid}/wire-confirmations", wire, api.finance)
    assert funded.json()["milestones"][0]["status"] == "in_inspection"

    requests = []
    for i in range(50):
        match i % 3:
            case 0:
                requests.append((f"/v1/orders/{oid}/milestones/{mid}/accept", {}, api.platform))
            case 1:
                requests.append((f"/v1/orders/{oid}/cancel", {"reason": f"r{i}"}, api.finance))
            case _:
                path = f"/v1/orders/{oid}/milestones/{mid}/disputes"
                requests.append((path, {"reason": f"d{i}"}, api.platform))
    responses = await asyncio.gather(*(api.post(p, b, who) for p, b, who in requests))

    winners = [(req[0], r) for req, r in zip(requests, responses, strict=True) if r.is_success]
    losers = Counter(r.json()["error"]["code"] for r in responses if not r.is_success)
    assert len(winners) == 1, sorted({f"{r.status_code} {r.text[:150]}" for r in responses})
    assert set(losers) <= {"invalid_transition", "concurrent_modification"}
    assert all(r.status_code == 409 for r in responses if not r.is_success)

    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    assert state["held"] == state["funded"] - state["released"] - state["refunded"] >= 0
    path = winners[0][0]
    if path.endswith("/accept"):
        assert (state["status"], state["released"], state["held"]) == ("completed", 100_000, 0)
    elif path.endswith("/cancel"):
        assert (state["status"], state["refunded"], state["held"]) == ("cancelled", 100_000, 0)
    else:
        assert (state["frozen"], state["held"], len(state["disputes"])) == (100_000, 100_000, 1)
    timeline = (
        await api.client.get(f"/v1/orders/{oid}/timeline?limit=100", headers=api.finance)
    ).json()
    decisive = {"escrow.milestone_accepted", "escrow.cancelled", "escrow.dispute_opened"}
    assert sum(e["type"] in decisive for e in timeline["data"]) == 1


async def test_a_dispute_racing_the_inspection_timer_ends_in_one_outcome(api: Api) -> None:
    # The buyer disputes a moment before the window ends while the timer worker (its clock at
    # the end of the window) auto-accepts: either the dispute wins and the timer is a no-op,
    # or the acceptance wins and the dispute is refused; never both, never neither.
    order = (
        await api.post("/v1/orders", order_body((100_000,), ("contract",), window=60), api.platform)
    ).json()
    oid, mid = order["order_id"], order["milestones"][0]["milestone_id"]
    wire = {"amount": 100_000, "reference": f"wire-{oid}"}
    funded = (await api.post(f"/v1/orders/{oid}/wire-confirmations", wire, api.finance)).json()
    ends_at = funded["milestones"][0]["inspection_ends_at"]
    api.clock.advance(timedelta(seconds=59))
    timer_clock = ManualClock(api.clock.now() + timedelta(seconds=1))
    worker = TimerWorker(api.engine, DEFINITION.timers(api.container), clock=timer_clock)
    dispute, _ = await asyncio.gather(
        api.post(f"/v1/orders/{oid}/milestones/{mid}/disputes", {"reason": "late"}, api.platform),
        worker.fire_due(),
    )
    await worker.fire_due()  # a timer pushed back by a version conflict fires again
    state = (await api.client.get(f"/v1/orders/{oid}", headers=api.finance)).json()
    status = state["milestones"][0]["status"]
    assert ends_at is not None
    if dispute.status_code == 201:
        assert state["held"] == 100_000
        assert (status, state["frozen"], state["reserved"]) == ("disputed", 100_000, 0)
    else:
        assert dispute.json()["error"]["code"] == "invalid_transition"
        # The acceptance won: its payout is due at once, and the second pass made it.
        assert (status, state["frozen"], state["reserved"]) == ("released", 0, 0)
        assert (state["held"], state["released"]) == (0, 100_000)
