"""The financing API (/v1). Supplier scope: quote, accept, repay early, read own advances
(a supplier key bound to a party acts for that supplier only; an unbound one names the
supplier in every request: see shared.http.principal).
Finance scope: policy, default, write-off, recoveries. Platform scope: read access.
A write may carry an Idempotency-Key (optional; with one, the shared middleware replays the
first answer to a retry); each registers its answer before it commits, so a retry after a
crash gets the committed result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request

from services.financing.adapters.advances import AdvanceRepository
from services.financing.adapters.orders import PolicyRepository
from services.financing.adapters.tables import advance_history
from services.financing.domain.advance import Advance
from services.financing.domain.policy import DEFAULT_DAYS_BY_KIND, Policy
from services.financing.domain.statement import build_statement
from services.financing.entrypoints import commands
from services.financing.entrypoints.http_support import (
    Finance,
    IdempotencyKey,
    Reader,
    Supplier,
    deps_of,
    transaction,
)
from services.financing.entrypoints.schemas import (
    AdvancePublic,
    AdvancesPublic,
    EarlyRepayment,
    FinanceAction,
    PolicyPublic,
    PolicyUpdate,
    QuoteCreate,
    RecoveryCreate,
    StatementPublic,
    SupplierAction,
)
from shared.http.errors import ApiError
from shared.http.idempotency import answer, answer_error
from shared.http.openapi import PARTY_MISMATCH, link

router = APIRouter(prefix="/v1", tags=["financing"])


def advance_links(at: str = "") -> dict[str, Any]:
    """Links from a response holding an advance (at JSON pointer ``at``) to its operations."""
    advance = {"advance_id": f"$response.body#{at}/advance_id"}
    paths = {
        "GetAdvance": "GET /v1/advances/{advance_id}",
        "GetStatement": "GET /v1/advances/{advance_id}/statement",
        "Accept": "POST /v1/advances/{advance_id}/accept",
        "RepayEarly": "POST /v1/advances/{advance_id}/repay-early",
        "MarkDefault": "POST /v1/advances/{advance_id}/default",
        "WriteOff": "POST /v1/advances/{advance_id}/write-off",
        "RecordRecovery": "POST /v1/advances/{advance_id}/recoveries",
    }
    return {"links": {name: link(op, **advance) for name, op in paths.items()}}


def _public(request: Request, advance: Advance) -> AdvancePublic:
    return AdvancePublic.of(advance, deps_of(request).clock.now())


@router.post("/quotes", status_code=201, responses={201: advance_links()})
async def request_quote(
    body: QuoteCreate, request: Request, who: Supplier, _key: IdempotencyKey
) -> AdvancePublic:
    deps = deps_of(request)
    supplier = who.acting_supplier(body.supplier_id)
    async with transaction(request) as uow:
        advance, refusal = await commands.quote(
            uow.conn,
            deps,
            who.tenant_id,
            supplier,
            body.order_id,
            body.amount,
            who.actor,
            others_hidden=who.bound_party is not None,
        )
        if refusal is not None:
            answer_error(refusal)
            await uow.commit()  # a refusal is recorded too
            raise refusal
        offered = answer(_public(request, advance))
        await uow.commit()
    return offered


@router.post("/advances/{advance_id}/accept")
async def accept_offer(
    advance_id: str, body: SupplierAction, request: Request, who: Supplier, _key: IdempotencyKey
) -> AdvancePublic:
    supplier = who.acting_supplier(body.supplier_id)
    async with transaction(request) as uow:
        advance = await commands.accept(
            uow.conn, deps_of(request), who.tenant_id, supplier, advance_id, who.actor
        )
        public = answer(_public(request, advance))
        await uow.commit()
    return public


@router.post("/advances/{advance_id}/repay-early")
async def repay_early(
    advance_id: str, body: EarlyRepayment, request: Request, who: Supplier, _key: IdempotencyKey
) -> AdvancePublic:
    supplier = who.acting_supplier(body.supplier_id)
    async with transaction(request) as uow:
        advance = await commands.repay_early(
            uow.conn,
            deps_of(request),
            who.tenant_id,
            supplier,
            advance_id,
            body.payment_reference,
            who.actor,
        )
        public = answer(_public(request, advance))
        await uow.commit()
    return public


@router.get("/advances", responses={200: advance_links("/data/0"), **PARTY_MISMATCH})
async def list_advances(
    request: Request, who: Reader, supplier_id: str | None = None
) -> AdvancesPublic:
    supplier = who.supplier_filter(supplier_id, unbound_must_name=True)
    async with transaction(request) as uow:
        found = await AdvanceRepository(uow.conn).list(who.tenant_id, supplier)
    return AdvancesPublic(data=[_public(request, a) for a in found])


@router.get("/advances/{advance_id}", responses=PARTY_MISMATCH)
async def get_advance(
    advance_id: str, request: Request, who: Reader, supplier_id: str | None = None
) -> AdvancePublic:
    supplier = who.supplier_filter(supplier_id, unbound_must_name=True)
    async with transaction(request) as uow:
        advance = await commands.load(uow.conn, who.tenant_id, advance_id, supplier, lock=False)
    return _public(request, advance)


@router.get("/advances/{advance_id}/statement", responses=PARTY_MISMATCH)
async def get_statement(
    advance_id: str, request: Request, who: Reader, supplier_id: str | None = None
) -> StatementPublic:
    supplier = who.supplier_filter(supplier_id, unbound_must_name=True)
    async with transaction(request) as uow:
        advance = await commands.load(uow.conn, who.tenant_id, advance_id, supplier, lock=False)
        h = advance_history.c
        rows = await uow.conn.execute(
            sa.select(h.at, h.event_type, h.data).where(h.advance_id == advance_id).order_by(h.id)
        )
        history = [(r.at, r.event_type, r.data) for r in rows]
    return StatementPublic.of(build_statement(advance_id, advance.currency, history))


@router.put("/policies/{currency}")
async def set_policy(
    currency: str, body: PolicyUpdate, request: Request, who: Finance, _key: IdempotencyKey
) -> PolicyPublic:
    fields = body.model_dump(exclude={"offer_ttl_seconds", "days_by_kind"})
    # An override names the kinds it changes; the others keep their typical days (a kind
    # missing from the map would otherwise date its release at the latest day given).
    days = dict(DEFAULT_DAYS_BY_KIND)
    for kind, typical in (body.days_by_kind or {}).items():
        days[kind] = typical
    async with transaction(request) as uow:
        try:
            policy = Policy(
                currency=currency,
                offer_ttl=timedelta(seconds=body.offer_ttl_seconds),
                days_by_kind=days,
                **fields,
            )
        except ValueError as exc:
            raise ApiError(422, "invalid_policy", str(exc)) from exc
        await PolicyRepository(uow.conn).put(who.tenant_id, policy, who.actor)
        public = answer(
            PolicyPublic(
                currency=currency, **body.model_dump(exclude={"days_by_kind"}), days_by_kind=days
            )
        )
        await uow.commit()
    return public


@router.get("/policies/{currency}")
async def get_policy(currency: str, request: Request, who: Reader) -> PolicyPublic:
    async with transaction(request) as uow:
        p = await PolicyRepository(uow.conn).get(who.tenant_id, currency)
    fields = {k: getattr(p, k) for k in PolicyUpdate.model_fields if hasattr(p, k)}
    return PolicyPublic(
        currency=currency, offer_ttl_seconds=int(p.offer_ttl.total_seconds()), **fields
    )


@router.post("/advances/{advance_id}/default")
async def mark_default(
    advance_id: str, body: FinanceAction, request: Request, who: Finance, _key: IdempotencyKey
) -> AdvancePublic:
    async with transaction(request) as uow:
        advance = await commands.mark_default(
            uow.conn, deps_of(request), who.tenant_id, advance_id, body.reason, who.actor
        )
        public = answer(_public(request, advance))
        await uow.commit()
    return public


@router.post("/advances/{advance_id}/write-off")
async def write_off(
    advance_id: str, body: FinanceAction, request: Request, who: Finance, _key: IdempotencyKey
) -> AdvancePublic:
    async with transaction(request) as uow:
        advance = await commands.write_off(
            uow.conn, deps_of(request), who.tenant_id, advance_id, body.reason, who.actor
        )
        public = answer(_public(request, advance))
        await uow.commit()
    return public


@router.post("/advances/{advance_id}/recoveries", status_code=201)
async def record_recovery(
    advance_id: str, body: RecoveryCreate, request: Request, who: Finance, _key: IdempotencyKey
) -> AdvancePublic:
    async with transaction(request) as uow:
        advance = await commands.record_recovery(
            uow.conn,
            deps_of(request),
            who.tenant_id,
            advance_id,
            body.amount,
            body.payment_reference,
            who.actor,
        )
        public = answer(_public(request, advance))
        await uow.commit()
    return public
