"""What a key may be, and who may issue or manage which key. Pure: no I/O.

- A key holds a non-empty set of the scopes platform, finance, supplier.
- A key created by an operator or over the API with the supplier scope names its supplier
  (``party_id``), and only a supplier key names one. Keys imported from the services'
  old tables may be unbound supplier keys; rotation keeps whatever a key had.
- No privilege escalation: a caller grants only scopes it holds, except that a platform key
  may also grant supplier (the platform onboards its suppliers). So a finance key can only
  come from a caller that holds finance. Rotating or revoking a key is managing it and needs
  the same: rotation issues a key with the old one's scopes.
- Managing keys takes the platform scope, which is tenant-wide on every service (whatever
  party a key names), so a caller sees and manages all of its tenant's keys and no other
  tenant's (404, as for the services' own objects).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

SCOPES: tuple[str, ...] = ("platform", "finance", "supplier")
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = timedelta(days=30)
MAX_LABEL = 100  # characters of a key's name or party id
# The tenant id the platform files its own events under (the ledger's legacy chain
# checkpoints): never a tenant's, or that tenant would receive them (webhooks, lists).
PLATFORM_TENANT = "tradeflow"


class Caller(Protocol):
    """Who manages keys over the API (``shared.http.auth.Principal`` is one)."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def scopes(self) -> frozenset[str]: ...


class IdentityError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class KeyRequestInvalid(IdentityError):
    """The requested key cannot exist (unknown scope, supplier key without its party...)."""


class GrantDenied(IdentityError):
    """The caller may not grant or manage a key with these scopes or this party."""


class ApiKeyNotFound(IdentityError):
    def __init__(self, key_id: str) -> None:
        super().__init__("api_key_not_found", f"api key {key_id} does not exist")


class ApiKeyConflict(IdentityError):
    """The key's state forbids the change (revoked or expired, already rotated)."""


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise KeyRequestInvalid(
            "invalid_scopes", f"scopes must be a non-empty subset of {', '.join(SCOPES)}"
        )
    return tuple(wanted)


def check_tenant(tenant_id: str) -> str:
    check_label("tenant", tenant_id)
    if tenant_id.casefold() == PLATFORM_TENANT:
        raise KeyRequestInvalid(
            "reserved_tenant", f"{PLATFORM_TENANT!r} is the platform's own tenant id"
        )
    return tenant_id


def check_label(what: str, value: str) -> str:
    if not value.strip() or len(value) > MAX_LABEL or value != value.strip():
        raise KeyRequestInvalid(
            f"invalid_{what}", f"{what} must be 1-{MAX_LABEL} characters, without outer spaces"
        )
    return value


def check_new_key(scopes: Iterable[str], name: str, party_id: str | None) -> tuple[str, ...]:
    """The rules a newly requested key (operator or API) must meet; returns its scopes."""
    wanted = normalize_scopes(scopes)
    check_label("name", name)
    if party_id is not None:
        check_label("party_id", party_id)
    if "supplier" in wanted and party_id is None:
        raise KeyRequestInvalid(
            "party_required", "a supplier key must name the supplier it acts for (party_id)"
        )
    if "supplier" not in wanted and party_id is not None:
        raise KeyRequestInvalid(
            "party_without_supplier_scope", "only a key with the supplier scope names a party"
        )
    return wanted


def grantable(caller_scopes: frozenset[str]) -> frozenset[str]:
    extra = {"supplier"} if "platform" in caller_scopes else set()
    return caller_scopes | extra


def check_grant(caller: Caller, scopes: Iterable[str]) -> None:
    missing = sorted(set(scopes) - grantable(caller.scopes))
    if missing:
        raise GrantDenied(
            "insufficient_scope",
            f"only a key that holds {', '.join(missing)} may issue or manage keys with it",
        )


_DURATION = re.compile(r"(\d{1,7})([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3_600, "d": 86_400}


def parse_overlap(text: str) -> timedelta:
    """``0``, ``90s``, ``15m``, ``24h``, ``7d`` (plain digits are seconds)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise KeyRequestInvalid("invalid_overlap", "an overlap is like 0, 90s, 15m, 24h or 7d")
    return check_overlap(timedelta(seconds=int(match[1]) * _UNITS[match[2]]))


def check_overlap(overlap: timedelta) -> timedelta:
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise KeyRequestInvalid(
            "invalid_overlap", f"the overlap is between 0 and {MAX_OVERLAP.days} days"
        )
    return overlap
