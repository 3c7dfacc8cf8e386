"""Building events and reading the ledger back, for the ledger's integration tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters import queries
from services.ledger.domain.chart import natural_balance
from services.ledger.entrypoints.consumers import post_events
from shared.events import Envelope, EventModel, new_event_id
from shared.events.escrow import Funded, MilestoneReleased, Refunded
from tests.support.keys import new_key

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def wrap(payload: EventModel, tenant: str, subject: str, at: datetime | None = None) -> Envelope:
    source = payload.event_type.partition(".")[0]
    return Envelope.wrap(payload, source=source, tenant_id=tenant, subject=subject, occurred_at=at)


def funded(tenant: str, order: str, amount: int, held_after: int, **kw: Any) -> Envelope:
    at = kw.pop("at", None)
    fields: dict[str, Any] = {
        "payment_id": f"pay_{order}",
        "currency": "USD",
        "method": "stripe",
        "stripe_payment_intent_id": f"pi_{order}",
        "stripe_charge_id": f"ch_{order}",
        "funded_total": held_after,
        "fully_funded": True,
    }
    fields.update(kw)
    return wrap(
        Funded(order_id=order, amount=amount, held_after=held_after, **fields), tenant, order, at
    )


def released(
    tenant: str, order: str, gross: int, fee: int, lien: int, held_after: int, **kw: Any
) -> Envelope:
    at = kw.pop("at", None)
    fields: dict[str, Any] = {
        "milestone_id": "m1",
        "payout_id": str(new_event_id()),
        "currency": "USD",
        "advance_id": None,
        "stripe_transfer_id": f"tr_{order}",
    }
    fields.update(kw)
    net = gross - fee - lien
    payload = MilestoneReleased(
        order_id=order, gross=gross, platform_fee=fee, lien_repayment=lien, supplier_net=net,
        held_after=held_after, **fields,
    )  # fmt: skip
    return wrap(payload, tenant, order, at)


def refunded(tenant: str, order: str, amount: int, held_after: int, **kw: Any) -> Envelope:
    at = kw.pop("at", None)
    fields: dict[str, Any] = {
        "refund_id": f"rf_{order}",
        "payment_id": f"pay_{order}",
        "currency": "USD",
        "stripe_refund_id": f"re_{order}",
        "reason": "cancelled before shipment",
    }
    fields.update(kw)
    payload = Refunded(order_id=order, amount=amount, held_after=held_after, **fields)
    return wrap(payload, tenant, order, at)


async def post(engine: AsyncEngine, *envelopes: Envelope) -> None:
    async with engine.begin() as conn:
        await post_events(conn, envelopes)


async def lines(engine: AsyncEngine, tenant: str, source_event_id: UUID) -> list[tuple[Any, ...]]:
    """(code, sub-ledger, signed amount, external ref) per posting, in line order."""
    async with engine.connect() as conn:
        tx = await queries.transaction(conn, tenant, source_event_id=source_event_id)
    assert tx is not None, f"no transaction for event {source_event_id}"
    return [(p["code"], p["subledger"], p["amount"], p["external_ref"]) for p in tx["postings"]]


async def natural(
    engine: AsyncEngine, tenant: str, code: str, sub: str = "", currency: str = "USD",
    as_of: datetime = FAR_FUTURE,
) -> int:  # fmt: skip
    async with engine.connect() as conn:
        account = await queries.find_account(conn, tenant, code, currency, sub)
        if account is None:
            return 0
        return natural_balance(code, await queries.balance(conn, account.id, as_of))


# stripe-mock answers every account with its one fixture balance transaction; in Stripe an
# id is one account's, and the ledger gives an id to the first tenant that records it.
STRIPE_MOCK_TXN = "txn_1PgaxNB7WZ01zgkWEV3TLf40"


async def forget_stripe_mock_line(engine: AsyncEngine) -> None:
    """Forget which tenant recorded stripe-mock's one line (an earlier test's): a test
    reading it as its tenant's own account's line starts as that account would."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("DELETE FROM stripe_balance_transactions WHERE balance_txn_id = :id"),
            {"id": STRIPE_MOCK_TXN},
        )


async def allow_adjustments(
    client: httpx.AsyncClient,
    identity: AsyncEngine,
    tenant: str,
    currency: str = "USD",
    up_to: int = 10**12,
) -> None:
    """The tenant's approval threshold for ``currency`` raised to ``up_to`` (asked by the
    client's finance user, approved by a second one): staff adjustments up to it post
    without a checker, as the tests that are not about maker-checker need."""
    rules = f"/v1/ledger/reconciliation/rules/{currency}"
    r = await client.put(rules, json={"approval_threshold": up_to})
    assert r.status_code == 200, r.text
    checker = await new_key(identity, tenant, ["finance"], "checker")
    r = await client.post(f"{rules}/approve", headers={"Authorization": f"Bearer {checker}"})
    assert r.status_code == 200 and r.json()["approval_threshold"] == up_to, r.text
