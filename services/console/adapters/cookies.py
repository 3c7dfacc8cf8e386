"""The session cookie: the session, encrypted and authenticated (Fernet: AES-128-CBC and
HMAC-SHA256), so the browser holds it but can neither read the API key in it nor change it.

Why a cookie and not a table: the console owns no database, and it would need one only to
keep sessions; a cookie it alone can open keeps it stateless (any number of console
processes, nothing to clean up). What that costs: signing out deletes the cookie in the
browser, but a copy taken before that stays usable until the session's end
(``console_session_seconds``, 8 hours by default). Revoking the API key ends every session
made from it at once, since every page calls the APIs with the key.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken

from services.console.domain.session import Session

COOKIE = "tradeflow_console"


class SessionCodec:
    def __init__(self, secret: str, max_age_seconds: int) -> None:
        # The secret may be any string: Fernet wants 32 url-safe base64 bytes, derived here.
        key = base64.urlsafe_b64encode(
            hashlib.sha256(b"console-session:" + secret.encode()).digest()
        )
        self._fernet = Fernet(key)
        self.max_age = max_age_seconds

    def encode(self, session: Session) -> str:
        payload = json.dumps(session.to_payload(), separators=(",", ":")).encode()
        return self._fernet.encrypt(payload).decode("ascii")

    def decode(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``, or None if it is missing, forged, changed or older than
        the cookie's lifetime (the session's own end is checked by its ``expires_at``)."""
        if not cookie:
            return None
        try:
            payload = self._fernet.decrypt(cookie.encode("ascii"), ttl=self.max_age)
            return Session.from_payload(json.loads(payload))
        except (InvalidToken, ValueError, KeyError, TypeError, UnicodeError):
            return None
