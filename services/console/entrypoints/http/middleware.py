"""The session cookie and the security headers of every answer.

The cookie: ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page
sends it), ``Secure`` outside development, ``Path=/``. It is written only when the session
changed (a first visit, sign-in, sign-out, an expired or refused session).
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from services.console.adapters.cookies import COOKIE
from services.console.bootstrap import ConsoleContainer
from services.console.domain.session import Session
from services.console.entrypoints.http.deps import CallNext

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def install_session(app: FastAPI) -> None:
    @app.middleware("http")
    async def session_cookie(request: Request, call_next: CallNext) -> Response:
        c: ConsoleContainer = request.app.state.container
        session = c.codec.decode(request.cookies.get(COOKIE))
        request.state.session_changed = session is None
        if session is not None and session.expired(c.clock.now()):
            request.state.session_expired = True
            session, request.state.session_changed = None, True
        request.state.session = session or Session()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            # Pages show a tenant's books: never kept by a shared cache or the back button.
            response.headers.setdefault("Cache-Control", "no-store")
        if request.state.session_changed:
            response.set_cookie(
                COOKIE,
                c.codec.encode(request.state.session),
                max_age=c.settings.console_session_seconds,
                httponly=True,
                secure=c.secure_cookies,
                samesite="strict",
                path="/",
            )
        return response
