"""Sign-in with an API key, sign-out, and the landing page of each role."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.adapters.api import ApiFailure
from services.console.adapters.identity import current_key
from services.console.domain.session import Session, SignInRefused, sign_in, signed_out
from services.console.entrypoints.http.deps import (
    Container,
    Form,
    redirect,
    render,
    replace_session,
    session_of,
)

router = APIRouter()
HOME = {"finance": "/finance/trial-balance", "operations": "/orders", "supplier": "/supplier"}
REASONS = {
    "expired": "Your session ended. Sign in again.",
    "key_invalid": "Your API key is no longer valid (revoked or expired). Sign in with a new one.",
    "signed_out": "You are signed out.",
}


def home_of(session: Session) -> str:
    return HOME[session.roles[0]] if session.roles else "/account"


@router.get("/", include_in_schema=False)
async def index(request: Request) -> Response:
    session = session_of(request)
    return redirect(home_of(session) if session.signed_in else "/sign-in")


@router.get("/sign-in", include_in_schema=False)
async def sign_in_page(
    request: Request, next: str | None = None, reason: str | None = None
) -> HTMLResponse:
    return render(request, "sign_in.html", notice=REASONS.get(reason or ""), next=safe_next(next))


@router.post("/sign-in", include_in_schema=False)
async def sign_in_submit(request: Request, form: Form, c: Container) -> Response:
    raw = form.get("api_key", "").strip()
    next_path = safe_next(form.get("next"))
    if not raw:
        return render(request, "sign_in.html", 422, error="Paste your API key.", next=next_path)
    try:
        key = await current_key(c.api("ledger", raw))
        session = sign_in(
            raw, key, c.clock.now(), timedelta(seconds=c.settings.console_session_seconds)
        )
    except ApiFailure as exc:
        status = 401 if exc.status in (401, 403) else exc.status
        message = "This API key is unknown, revoked or expired." if status == 401 else exc.message
        return render(request, "sign_in.html", status, error=message, next=next_path)
    except SignInRefused as exc:
        return render(request, "sign_in.html", 403, error=str(exc), next=next_path)
    replace_session(request, session)
    return redirect(next_path or home_of(session))


@router.post("/sign-out", include_in_schema=False)
async def sign_out(request: Request, _form: Form) -> Response:
    replace_session(request, signed_out(session_of(request)))
    return redirect("/sign-in?reason=signed_out")


@router.get("/account", include_in_schema=False)
async def account(request: Request) -> Response:
    session = session_of(request)
    if not session.signed_in:
        return redirect("/sign-in")
    return render(request, "account.html")


def safe_next(path: str | None) -> str | None:
    """Only a path of this site (never ``//evil.example`` or a full URL): no open redirect."""
    if path and path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return None
