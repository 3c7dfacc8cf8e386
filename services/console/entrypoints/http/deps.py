"""What every page needs: the session from its cookie, the CSRF check of a form, and
rendering (templates, and the session cookie when the session changed)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment

from services.console.bootstrap import ConsoleContainer
from services.console.domain.session import Session, csrf_valid

MAX_FORM_BYTES = 16_384


class SignInRequired(Exception):
    def __init__(self, next_path: str, reason: str | None = None) -> None:
        self.next_path, self.reason = next_path, reason


class CsrfRefused(Exception):
    pass


class FormTooLarge(Exception):
    pass


def container(request: Request) -> ConsoleContainer:
    found: ConsoleContainer = request.app.state.container
    return found


Container = Annotated[ConsoleContainer, Depends(container)]


def session_of(request: Request) -> Session:
    """The request's session (read from its cookie by ``SessionMiddleware``)."""
    found: Session = request.state.session
    return found


def replace_session(request: Request, session: Session) -> None:
    """Make ``session`` the browser's from this response on."""
    request.state.session = session
    request.state.session_changed = True


def signed_in(request: Request) -> Session:
    session = session_of(request)
    if not session.signed_in:
        raise SignInRequired(request.url.path)
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST, after its CSRF token was checked (403 otherwise)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormTooLarge()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge()
    fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if not csrf_valid(session_of(request), fields.get("csrf_token")):
        raise CsrfRefused()
    return fields


Form = Annotated[dict[str, str], Depends(form_of)]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    env: Environment = request.app.state.templates
    session = session_of(request)
    html = env.get_template(template).render(
        request=request, session=session, csrf_token=session.csrf, **context
    )
    return HTMLResponse(html, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def sign_in_path(next_path: str | None = None, reason: str | None = None) -> str:
    query = []
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        query.append(f"next={quote(next_path)}")
    if reason:
        query.append(f"reason={quote(reason)}")
    return "/sign-in" + ("?" + "&".join(query) if query else "")


CallNext = Callable[[Request], Awaitable[Response]]


def idempotency_key_of(form: dict[str, str]) -> str:
    """The Idempotency-Key an action form carries (drawn when its page was rendered, so a
    double submission replays), or a new one if it carries none that is a UUID."""
    try:
        return str(uuid.UUID(form.get("idempotency_key", "")))
    except ValueError:
        return str(uuid.uuid4())
