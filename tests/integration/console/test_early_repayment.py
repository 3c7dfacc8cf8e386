"""A supplier repays an advance early from the console: the lien saga run through the
services' own consumer handlers (financing asks escrow for a lien, escrow places it,
financing disburses), then the advance's page offers today's payoff."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.escrow.entrypoints.consumers import lien_handler
from services.financing.entrypoints.consumers import escrow_event_handler
from shared.db import outbox
from shared.events import Envelope
from tests.integration.console.conftest import Browser, csrf_of, funded_order, raw, signed_in
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def outbox_of(stack: Stack, service: str, after: int) -> list[tuple[int, Envelope]]:
    async with stack.engines[service].connect() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.seq, outbox.c.envelope)
                .where(outbox.c.seq > after)
                .order_by(outbox.c.seq)
            )
        ).all()
    return [(int(seq), Envelope.model_validate(e)) for seq, e in rows]


async def last_seq(stack: Stack, service: str) -> int:
    async with stack.engines[service].connect() as conn:
        found = (await conn.execute(sa.select(sa.func.max(outbox.c.seq)))).scalar()
    return int(found or 0)


async def test_a_supplier_repays_a_disbursed_advance_early(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    order = await funded_order(stack, tenant)
    oid = order["order_id"]
    client = await signed_in(browser, raw(tenant.keys["supplier"]))
    desk = await client.get("/supplier")
    token = csrf_of(desk.text)
    r = await client.post(f"/supplier/orders/{oid}/offer", data={"csrf_token": token})
    advance_id = r.headers["location"].split("offered=")[1]
    fin_from, esc_from = await last_seq(stack, "financing"), await last_seq(stack, "escrow")
    r = await client.post(f"/supplier/advances/{advance_id}/accept", data={"csrf_token": token})
    assert r.status_code == 303, r.text
    # financing.lien_requested -> escrow places the lien -> escrow.lien_placed -> disbursed.
    lien = lien_handler(stack.apps["escrow"].state.container)
    for _, env in await outbox_of(stack, "financing", fin_from):
        if env.type == "financing.lien_requested":
            async with stack.engines["escrow"].begin() as conn:
                await lien(conn, env)
    handler = escrow_event_handler(stack.apps["financing"].state.container)
    for _, env in await outbox_of(stack, "escrow", esc_from):
        if env.subject == oid:
            async with stack.engines["financing"].begin() as conn:
                await handler(conn, env)
    advance = await stack.ok("financing", "GET", f"/v1/advances/{advance_id}",
                             tenant.keys["supplier"])  # fmt: skip
    assert advance["payoff_now"], advance
    page = await client.get(f"/supplier/advances/{advance_id}")
    assert 'id="repay-early"' in page.text
    r = await client.post(f"/supplier/advances/{advance_id}/repay-early",
                          data={"csrf_token": token, "payment_reference": "wire-123"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("?repaid=1"), r.text
    done = await client.get(r.headers["location"])
    assert 'id="repaid"' in done.text and 'id="repay-early"' not in done.text
    after = await stack.ok("financing", "GET", f"/v1/advances/{advance_id}",
                           tenant.keys["supplier"])  # fmt: skip
    assert after["state"] == "repaid" and after["balance"] == 0
