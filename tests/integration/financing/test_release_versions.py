"""escrow.milestone_released v1 and v2 on Kafka, through financing's consumer as it runs.

A v1 release (no payout_id) is upcast and repays the advance as it always did; a v2 one
repays the same way. Each repayment financing books answers the release that caused it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from shared.db import outbox
from shared.events import Envelope
from shared.events import escrow as ev
from tests.integration.financing.conftest import Harness, escrow_event, released
from tests.integration.financing.test_batch_consumer import (  # noqa: F401 (a fixture)
    Stream,
    order_of,
    stream,
)
from tests.integration.financing.test_servicing import disbursed, get

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


def as_v1(release: ev.MilestoneReleased) -> ev.MilestoneReleasedV1:
    return ev.MilestoneReleasedV1(**release.model_dump(exclude={"payout_id", "payout_fx"}))


async def caused_by(harness: Harness, env: Envelope) -> list[dict[str, Any]]:
    async with harness.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.envelope)
            .where(outbox.c.envelope["causation_id"].astext == str(env.id))
            .order_by(outbox.c.seq)
        )
    return [r.envelope for r in rows]


async def test_a_v1_and_a_v2_release_repay_the_advance_alike(
    stream: Stream,  # noqa: F811 (the fixture imported above)
    client: httpx.AsyncClient,
    harness: Harness,
) -> None:
    oid, aid = await disbursed(client, harness)
    harness.clock.advance(20 * DAY)
    shipment = released(oid, "m2", 4_000_000, lien=3_960_000, advance_id=aid, held_after=3_000_000)
    delivery = released(oid, "m3", 3_000_000, lien=940_000, advance_id=aid)
    old = escrow_event(as_v1(shipment), oid)
    new = escrow_event(delivery, oid, event_id=delivery.envelope_id())
    assert (old.version, new.version) == (1, 3) and new.id == delivery.envelope_id()

    await stream.send([old])
    assert await stream.run(1) == 1
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["balance"], a["fee_due"]) == ("partially_repaid", 940_000, 0)
    assert [e["type"] for e in await caused_by(harness, old)] == [
        "financing.repayment_applied",
        "financing.advance_state_changed",
    ]

    harness.clock.advance(40 * DAY)
    await stream.send([new, old])  # the v1 one again: applied once, whatever its version
    assert await stream.run(2) == 2
    a = await get(client, harness, f"/v1/advances/{aid}")
    assert (a["state"], a["balance"], a["fee_earned"]) == ("repaid", 0, 147_000)
    assert "financing.repayment_applied" in [e["type"] for e in await caused_by(harness, new)]
    order = await order_of(harness, oid)
    assert order is not None
    assert order["released"] == 3_000_000 + 4_000_000 + 3_000_000
    assert order["milestones"] == [(True, False)] * 3
    assert await stream.letters() == []
