"""Finance: the tenant's matching rules per currency (amount tolerance, date window,
approval threshold), set on one form, and a dry run against Stripe: what a run over a
period of days would match and which breaks it would open, reopen, change and clear, with
nothing written (the ledger rolls the very run back)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.adapters.api import ApiFailure
from services.console.domain.rules import RulesInvalid, rules_of, window_of
from services.console.domain.session import Session
from services.console.entrypoints.http.deps import (
    Container,
    Form,
    SignedIn,
    idempotency_key_of,
    redirect,
    render,
)

router = APIRouter(prefix="/finance")


async def rules_page(
    request: Request, session: Session, c: Container, status_code: int = 200, **context: Any
) -> Response:
    rules = await c.ledger(str(session.api_key)).matching_rules()
    rules.sort(key=lambda r: str(r["currency"]))
    return render(request, "finance/rules.html", status_code, rules=rules,
                  new_key=lambda: str(uuid.uuid4()), **context)  # fmt: skip


@router.get("/rules", include_in_schema=False)
async def rules(
    request: Request, session: SignedIn, c: Container, saved: str | None = None
) -> Response:
    return await rules_page(request, session, c, saved=saved, form={})


@router.post("/rules", include_in_schema=False)
async def set_rules(request: Request, session: SignedIn, form: Form, c: Container) -> Response:
    try:
        currency, body = rules_of(form)
        await c.ledger(str(session.api_key)).set_matching_rules(
            currency, body, idempotency_key_of(form)
        )
    except RulesInvalid as exc:
        return await rules_page(request, session, c, 422, error=str(exc), form=form)
    except ApiFailure as exc:
        if exc.status != 422:
            raise
        return await rules_page(request, session, c, 422, error=exc.message, form=form)
    return redirect(f"/finance/rules?saved={currency}")


@router.get("/dry-run", include_in_schema=False)
async def dry_run_form(request: Request, session: SignedIn) -> Response:
    return render(request, "finance/dry_run.html", form={}, result=None,
                  new_key=lambda: str(uuid.uuid4()))  # fmt: skip


@router.post("/dry-run", include_in_schema=False)
async def dry_run(request: Request, session: SignedIn, form: Form, c: Container) -> Response:
    """A POST (it reads Stripe, which costs), though it changes nothing."""

    def page(status_code: int = 200, **context: Any) -> Response:
        return render(request, "finance/dry_run.html", status_code, form=form,
                      new_key=lambda: str(uuid.uuid4()), **context)  # fmt: skip

    try:
        start, end = window_of(form.get("from"), form.get("to"))
        result = await c.ledger(str(session.api_key)).dry_run_with_stripe(
            start, end, idempotency_key_of(form)
        )
    except RulesInvalid as exc:
        return page(422, result=None, error=str(exc))
    except ApiFailure as exc:
        if exc.status not in (422, 502):
            raise
        return page(exc.status, result=None, error=exc.message)
    return page(result=result)
