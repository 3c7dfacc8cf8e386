"""Sign-in links: a short-lived, single-use, signed token that stands for an API key the
console holds, so a ready session can be handed over as a URL without the key in it. Pure:
no I/O (the store of pending links is ``adapters/sign_in_links.py``).

A token is ``<payload>.<signature>``, both unpadded base64url: the payload is a random
16-byte id and the moment the link ends (seconds since the epoch, 8 bytes big-endian); the
signature is HMAC-SHA256 of the payload under a key derived from the console's secret. The
token carries no key, not even encrypted: the key stays in the console, under the id, until
the link is used once or ends. The signature lets the console tell a forged or mangled
token from one it made, and its end from a link it no longer holds (used already), without
keeping anything after the link is gone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

ID_BYTES = 16


class LinkRefused(Enum):
    """Why a token does not sign anyone in (each has its own page)."""

    MALFORMED = "malformed"  # not a token this console signed
    EXPIRED = "expired"  # past its end
    USED = "used"  # signed and in time, but no longer held: used once already


class InvalidLink(Exception):
    def __init__(self, reason: LinkRefused) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class LinkToken:
    link_id: str  # hex of the random id: the store's key
    expires_at: datetime
    token: str  # what goes into the URL


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def link_key(secret: str) -> bytes:
    """The signing key: derived from the console's secret, apart from the cookie's key."""
    return hashlib.sha256(b"console-sign-in-link:" + secret.encode()).digest()


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def mint(key: bytes, expires_at: datetime, link_id: bytes | None = None) -> LinkToken:
    raw_id = link_id if link_id is not None else secrets.token_bytes(ID_BYTES)
    ends = int(expires_at.timestamp())
    payload = raw_id + ends.to_bytes(8, "big")
    return LinkToken(
        link_id=raw_id.hex(),
        expires_at=datetime.fromtimestamp(ends, UTC),
        token=f"{_b64(payload)}.{_b64(_sign(key, payload))}",
    )


def verify(key: bytes, token: str, now: datetime) -> LinkToken:
    """The token's id and end if this console signed it and it has not ended; otherwise
    ``InvalidLink`` (MALFORMED or EXPIRED). Whether it was used is the store's to say."""
    try:
        payload_text, signature_text = token.split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
    except (ValueError, UnicodeError):
        raise InvalidLink(LinkRefused.MALFORMED) from None
    if len(payload) != ID_BYTES + 8 or not hmac.compare_digest(signature, _sign(key, payload)):
        raise InvalidLink(LinkRefused.MALFORMED)
    ends = datetime.fromtimestamp(int.from_bytes(payload[ID_BYTES:], "big"), UTC)
    if now >= ends:
        raise InvalidLink(LinkRefused.EXPIRED)
    return LinkToken(link_id=payload[:ID_BYTES].hex(), expires_at=ends, token=token)
