"""Sign-in links: a ready session handed over as a URL, without the API key in it.

- ``POST /sign-in-links`` with ``Authorization: Bearer <key>`` (JSON, no cookie): the console
  checks the key as at sign-in (``GET /v1/api-keys/current``), keeps it under a new link, and
  answers the link's path and end. Whoever holds a key may make links for that key only:
  nothing a link opens is more than the key itself opens. The demo makes one per role.
- ``GET /sign-in/link?token=…`` shows whom the link signs in as (key name, role, tenant:
  so nobody is signed in to someone else's tenant unawares), with a "Continue" button; it
  changes nothing (a GET never does here, so a link preview or a prefetch cannot use it up).
- ``POST /sign-in/link`` (the button, CSRF-checked) takes the link (it cannot be used again),
  asks again whom the key acts for (it may have been revoked since), and makes the encrypted
  session cookie, as a sign-in with the key would.

An expired, used or forged token is a ``410``/``400`` page that says which and what to do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.console.adapters.api import ApiFailure
from services.console.adapters.identity import current_key
from services.console.adapters.sign_in_links import TooManyLinks
from services.console.domain.session import SignInRefused, sign_in
from services.console.domain.sign_in_links import InvalidLink, LinkRefused
from services.console.entrypoints.http.deps import (
    Container,
    Form,
    redirect,
    render,
    replace_session,
)
from services.console.entrypoints.http.pages import home_of

router = APIRouter()

REFUSALS: dict[LinkRefused, tuple[int, str, str]] = {
    LinkRefused.EXPIRED: (
        410,
        "This sign-in link has expired",
        "Sign-in links work for a short while only. Ask for a new one (run `make demo` "
        "again, or `tradeflow console sign-in-link`), or sign in with your API key.",
    ),
    LinkRefused.USED: (
        410,
        "This sign-in link was already used",
        "Each sign-in link works once (or the console was restarted since it was made). "
        "Ask for a new one, or sign in with your API key.",
    ),
    LinkRefused.MALFORMED: (
        400,
        "This is not a sign-in link of this console",
        "The link is incomplete or was changed. Copy the whole link again, or sign in "
        "with your API key.",
    ),
}


def api_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def refused_page(request: Request, exc: InvalidLink) -> HTMLResponse:
    status, title, message = REFUSALS[exc.reason]
    return render(request, "sign_in_link.html", status, refused=exc.reason.value, title=title,
                  message=message)  # fmt: skip


def role_label(key: dict[str, Any]) -> str:
    scopes = set(key.get("scopes") or ())
    if "finance" in scopes:
        return "finance"
    if "platform" in scopes:
        return "operations"
    if "supplier" in scopes:
        return f"supplier {key.get('party_id')}"
    return ", ".join(sorted(scopes)) or "no scope"


@router.post("/sign-in-links", include_in_schema=False)
async def make_link(request: Request, c: Container) -> JSONResponse:
    auth = request.headers.get("authorization", "")
    raw = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if not raw:
        return api_error(401, "unauthenticated", "Send the key as Authorization: Bearer <key>.")
    now = c.clock.now()
    lifetime = timedelta(seconds=c.settings.console_link_seconds)
    try:
        key = await current_key(c.api("ledger", raw))
        sign_in(raw, key, now, lifetime)  # refuses what sign-in would refuse
        who = f"{key['name']} ({role_label(key)}) of tenant {key['tenant_id']}"
        link = await c.links.make(raw, now + lifetime, now, signs_in_as=who)
    except ApiFailure as exc:
        if exc.status in (401, 403):
            return api_error(401, "invalid_api_key", "This API key is unknown, revoked or expired.")
        return api_error(exc.status, exc.code, exc.message)
    except SignInRefused as exc:
        return api_error(403, "key_not_bound", str(exc))
    except TooManyLinks:
        return api_error(429, "too_many_links", "Too many unused sign-in links; try later.")
    return JSONResponse(
        {
            "path": f"/sign-in/link?token={link.token}",
            "expires_at": link.expires_at.isoformat().replace("+00:00", "Z"),
            "key_name": key["name"],
            "tenant_id": key["tenant_id"],
            "role": role_label(key),
            "single_use": True,
        },
        status_code=201,
    )


@router.get("/sign-in/link", include_in_schema=False)
async def link_page(request: Request, c: Container, token: str = "") -> HTMLResponse:
    try:
        link, who = await c.links.peek(token, c.clock.now())
    except InvalidLink as exc:
        return refused_page(request, exc)
    return render(request, "sign_in_link.html", token=token, expires_at=link.expires_at,
                  signs_in_as=who)  # fmt: skip


@router.post("/sign-in/link", include_in_schema=False)
async def use_link(request: Request, form: Form, c: Container) -> Response:
    now = c.clock.now()
    try:
        raw = await c.links.take(form.get("token", ""), now)
    except InvalidLink as exc:
        return refused_page(request, exc)
    try:
        key = await current_key(c.api("ledger", raw))
        session = sign_in(raw, key, now, timedelta(seconds=c.settings.console_session_seconds))
    except ApiFailure as exc:
        status = 401 if exc.status in (401, 403) else exc.status
        message = "The API key of this link is unknown, revoked or expired."
        return render(request, "sign_in_link.html", status, refused="key_invalid",
                      title="This link's key no longer works",
                      message=message if status == 401 else exc.message)  # fmt: skip
    except SignInRefused as exc:
        return render(request, "sign_in_link.html", 403, refused="key_not_bound",
                      title="This link cannot sign you in", message=str(exc))  # fmt: skip
    replace_session(request, session)
    return redirect(home_of(session))
