"""A console session: who signed in, what they may see, until when. Pure: no I/O.

A session is made from the answer of ``GET /v1/api-keys/current`` for the key the person
signed in with, and it keeps that key: every page is read through the services' APIs with
it, so the APIs decide what the person may see, exactly as for any client. The scopes here
only choose which views the navigation offers; they never grant anything.

The CSRF token is a random value kept in the (encrypted) session and written into every
form; a POST whose token is not the session's is refused (``csrf_valid``). A visitor who has
not signed in has an anonymous session holding only a CSRF token, so the sign-in form is
protected too.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ROLES = ("finance", "operations", "supplier")


class SignInRefused(Exception):
    """A key the console cannot make a session of (the message is shown to the person)."""


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    csrf: str = field(default_factory=new_csrf_token)
    api_key: str | None = None
    tenant_id: str | None = None
    key_name: str | None = None
    scopes: tuple[str, ...] = ()
    party_id: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def signed_in(self) -> bool:
        return self.api_key is not None

    @property
    def roles(self) -> tuple[str, ...]:
        """The views to offer: finance (ledger), operations (orders), supplier (advances)."""
        have = set(self.scopes)
        offered = {
            "finance": "finance" in have,
            "operations": bool(have & {"platform", "finance"}),
            "supplier": "supplier" in have and self.party_id is not None,
        }
        return tuple(r for r in ROLES if offered[r])

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def to_payload(self) -> dict[str, Any]:
        return {
            "c": self.csrf,
            "k": self.api_key,
            "t": self.tenant_id,
            "n": self.key_name,
            "s": list(self.scopes),
            "p": self.party_id,
            "i": self.issued_at.isoformat() if self.issued_at else None,
            "e": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Session:
        def moment(v: Any) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return cls(
            csrf=str(data["c"]),
            api_key=data.get("k"),
            tenant_id=data.get("t"),
            key_name=data.get("n"),
            scopes=tuple(data.get("s") or ()),
            party_id=data.get("p"),
            issued_at=moment(data.get("i")),
            expires_at=moment(data.get("e")),
        )


def sign_in(api_key: str, key: dict[str, Any], now: datetime, lifetime: timedelta) -> Session:
    """The session for ``api_key``, described by its ``/v1/api-keys/current`` answer.

    It ends after ``lifetime``, or when the key expires if that is sooner (the APIs would
    refuse it from then on anyway). A fresh CSRF token: the anonymous one is not carried
    over into the signed-in session (no session fixation)."""
    scopes = tuple(sorted(key["scopes"]))
    party = key.get("party_id")
    if scopes == ("supplier",) and not party:
        raise SignInRefused(
            "This supplier key is not bound to a supplier; ask the platform for a key "
            "issued with --party."
        )
    ends = now + lifetime
    key_expiry = key.get("expires_at")
    if key_expiry:
        ends = min(ends, datetime.fromisoformat(str(key_expiry).replace("Z", "+00:00")))
    return Session(
        api_key=api_key,
        tenant_id=str(key["tenant_id"]),
        key_name=str(key["name"]),
        scopes=scopes,
        party_id=party,
        issued_at=now,
        expires_at=ends,
    )


def signed_out(session: Session) -> Session:
    """An anonymous session, with a new CSRF token, in place of ``session``."""
    return Session()


def csrf_valid(session: Session, submitted: str | None) -> bool:
    """Whether a form's token is this session's (constant-time comparison)."""
    if not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())
