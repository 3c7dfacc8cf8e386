"""escrow_0005 lists the disputes escrow already held: an escrow database at escrow_0002
with a dispute in its state (as the code of then wrote it: no ``opened_at``) upgrades to a
listing row dated by its ``dispute_opened`` timeline entry, and the state still loads."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.escrow.adapters import repository
from services.escrow.domain.disputes import open_dispute
from shared.db import make_engine
from shared.migrations import upgrade
from shared.pagination import Page
from shared.settings import Settings
from tests.conftest import TEST_DB_PREFIX, _created, recreate_database
from tests.unit.escrow.builders import DAY, T0, funded, ms, new_order

pytestmark = pytest.mark.integration
NEW_FIELDS = {
    "opened_by", "opened_at", "respond_by", "submissions", "response", "offers",
    "escalated_at", "escalation_reason", "release_amount", "refund_amount", "resolved_by",
    "resolved_at",
}  # fmt: skip


async def test_existing_disputes_are_backfilled_into_the_listing(settings: Settings) -> None:
    _created["settings"] = settings
    own = settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}m0005_"})
    await recreate_database(own, "escrow")
    await asyncio.to_thread(upgrade, "escrow", own, "escrow_0002")
    e = funded(new_order())
    e, _ = open_dispute(e, ms(e, 0), "damaged", ["photo"], T0 + DAY)
    state = e.model_dump(mode="json", exclude={"version"})
    state.pop("refund_proposals")
    for d in state["disputes"]:
        for name in NEW_FIELDS:
            d.pop(name)
    for m in state["milestones"]:
        m.pop("rejections"), m.pop("due_by")
        for ev in m["evidence"]:
            ev.pop("void")
    did = e.disputes[0].dispute_id
    engine = make_engine(own.service_database_url("escrow"))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO escrows (order_id, tenant_id, buyer_id, supplier_id, currency,"
                    " status, total, funded, released, refunded, version, created_at,"
                    " updated_at, state) VALUES (:o, 't1', 'buyer-1', 'supplier-1', 'USD',"
                    " 'funded', 100000, 100000, 0, 0, 2, :c, :u, CAST(:s AS jsonb))"
                ),
                {"o": e.order_id, "c": T0, "u": T0 + 2 * DAY, "s": json.dumps(state)},
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO escrow_timeline (order_id, tenant_id, event_id, event_type,"
                    " actor, occurred_at, data) VALUES (:o, 't1', :id,"
                    " 'escrow.dispute_opened', 'apikey:p', :at, CAST(:d AS jsonb))"
                ),
                {
                    "o": e.order_id,
                    "id": uuid.uuid4(),
                    "at": T0 + DAY,
                    "d": json.dumps({"dispute_id": did}),
                },
            )
        await asyncio.to_thread(upgrade, "escrow", own)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT * FROM escrow_disputes"))).mappings().all()
            assert [(r["dispute_id"], r["order_id"], r["status"]) for r in rows] == [
                (did, e.order_id, "open")
            ]
            assert rows[0]["opened_at"] == T0 + DAY and rows[0]["supplier_id"] == "supplier-1"
            loaded = await repository.get(conn, e.order_id)
            assert loaded is not None and loaded.disputes[0].opened_at is None
            found = await repository.list_disputes(
                conn,
                "t1",
                Page(),
                opened_after=T0,
                opened_before=T0 + DAY + timedelta(seconds=1),
            )
            assert (found.items, found.has_more) == ([(e.order_id, did)], False)
    finally:
        await engine.dispose()
