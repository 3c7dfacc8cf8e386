"""API keys in the identity database: issue, authenticate, list, revoke, rotate.

Every function takes a connection to the identity database inside the caller's transaction.
Whether a key is valid is decided by the database's clock (``now()``) in the very query that
authenticates, so all service processes agree on the instant a key stops working, a revoked
or expired key is refused on the next request, and tests move time by writing
``expires_at``, not by sleeping. ``caller`` is None for the operator (CLI); over the API it is
the key making the change, and the rules in ``rules.py`` apply.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.identity.rules import (
    ApiKeyConflict,
    ApiKeyNotFound,
    Caller,
    KeyRequestInvalid,
    check_grant,
    check_label,
    check_overlap,
    check_tenant,
    normalize_scopes,
)
from shared.identity.tables import api_keys as K

RAW_KEY = re.compile(r"tf_[A-Za-z0-9_-]{20,200}")  # what a key looks like (see shared/redaction)
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key

_now = sa.func.now()
_STATUS = sa.case(
    (K.c.revoked_at.is_not(None), "revoked"),
    (K.c.expires_at <= _now, "expired"),
    (K.c.expires_at.is_not(None), "expiring"),
    else_="active",
).label("status")
_PUBLIC = [c for c in K.c if c.name != "key_hash"]


@dataclass(frozen=True)
class ApiKey:
    """A stored key's public face: never the key, never its hash."""

    key_id: str
    tenant_id: str
    scopes: tuple[str, ...]
    party_id: str | None
    name: str
    hint: str | None
    status: str  # active | expiring (valid until expires_at) | expired | revoked
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    rotated_from: str | None

    @property
    def valid(self) -> bool:
        return self.status in ("active", "expiring")


@dataclass(frozen=True)
class IssuedKey:
    raw: str  # shown once, to whoever asked for the key; stored nowhere
    key: ApiKey


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_raw_key() -> str:
    return f"tf_{secrets.token_urlsafe(32)}"


class _KeyRow(Protocol):  # a Row of the api_keys table (_PUBLIC and _STATUS)
    scopes: Sequence[str]


def _record(row: _KeyRow) -> ApiKey:
    return ApiKey(**{f: getattr(row, f) for f in ApiKey.__dataclass_fields__} | {
        "scopes": tuple(row.scopes)
    })  # fmt: skip


async def create_api_key(
    conn: AsyncConnection,
    tenant_id: str,
    scopes: Iterable[str],
    name: str,
    *,
    actor: str,
    party_id: str | None = None,
    raw: str | None = None,
    rotated_from: str | None = None,
) -> IssuedKey:
    """Store a new key's hash and return the key. ``raw``: an operator-chosen key of the
    ``tf_...`` shape (redaction in the logs relies on it)."""
    wanted = normalize_scopes(scopes)
    check_tenant(tenant_id)
    check_label("name", name)
    if raw is None:
        raw = new_raw_key()
    elif not RAW_KEY.fullmatch(raw):
        raise KeyRequestInvalid("invalid_key", "a key is tf_ and 20-200 of [A-Za-z0-9_-]")
    row = (
        await conn.execute(
            K.insert()
            .values(
                key_id=f"key_{secrets.token_hex(12)}",
                key_hash=hash_key(raw),
                hint=raw[-4:],
                tenant_id=tenant_id,
                scopes=list(wanted),
                party_id=party_id,
                name=name,
                created_by=actor,
                rotated_from=rotated_from,
            )
            .returning(*_PUBLIC, _STATUS)
        )
    ).one()
    return IssuedKey(raw, _record(row))


_STALE = sa.or_(K.c.last_used_at.is_(None), K.c.last_used_at < _now - TOUCH_EVERY)
# Built once: a statement object reused keeps its compiled form and cache key, which a
# statement built per request recomputes (every request of every service runs this one).
_FIND_ACTIVE = sa.select(*_PUBLIC, _STATUS, _STALE.label("stale")).where(
    K.c.key_hash == sa.bindparam("key_hash"),
    K.c.revoked_at.is_(None),
    sa.or_(K.c.expires_at.is_(None), K.c.expires_at > _now),
)
_TOUCH = K.update().where(K.c.key_id == sa.bindparam("id"), _STALE).values(last_used_at=_now)


async def find_active(conn: AsyncConnection, raw: str) -> ApiKey | None:
    """The valid (not revoked, not expired) key ``raw``, or None. Notes its use."""
    row = (await conn.execute(_FIND_ACTIVE, {"key_hash": hash_key(raw)})).first()
    if row is None:
        return None
    if row.stale:  # one write per key and minute, not one per request
        await conn.execute(_TOUCH, {"id": row.key_id})
    return _record(row)


async def lineage_hash(conn: AsyncConnection, key_id: str) -> str:
    """The hash of the first key of ``key_id``'s rotation chain (its own, if it was never
    rotated from another). A successor is the same client as the key it replaces (same
    tenant, scopes, party and name): what the old key did under an Idempotency-Key stays
    done for the new one, so a retry sent after the switch is not run a second time."""
    older = K.alias("older")
    chain = (
        sa.select(K.c.key_hash, K.c.rotated_from).where(K.c.key_id == key_id).cte(recursive=True)
    )
    chain = chain.union_all(
        sa.select(older.c.key_hash, older.c.rotated_from).join(
            chain, older.c.key_id == chain.c.rotated_from
        )
    )
    first = sa.select(chain.c.key_hash).where(chain.c.rotated_from.is_(None))
    return str((await conn.execute(first)).scalar_one())


async def list_api_keys(conn: AsyncConnection, tenant_id: str) -> list[ApiKey]:
    query = sa.select(*_PUBLIC, _STATUS).where(K.c.tenant_id == tenant_id)
    rows = await conn.execute(query.order_by(K.c.created_at.desc(), K.c.key_id))
    return [_record(r) for r in rows]


async def get_api_key(conn: AsyncConnection, key_id: str) -> ApiKey | None:
    """The key ``key_id`` (whatever its status), or None."""
    row = (await conn.execute(sa.select(*_PUBLIC, _STATUS).where(K.c.key_id == key_id))).first()
    return None if row is None else _record(row)


async def _managed(conn: AsyncConnection, key_id: str, caller: Caller | None) -> ApiKey:
    """The key, locked for the change; 404 unless the caller sees it, 403 unless it may manage it."""
    row = (
        await conn.execute(
            sa.select(*_PUBLIC, _STATUS).where(K.c.key_id == key_id).with_for_update(of=K)
        )
    ).first()
    if row is None or (caller is not None and row.tenant_id != caller.tenant_id):
        raise ApiKeyNotFound(key_id)
    key = _record(row)
    if caller is not None:
        check_grant(caller, key.scopes)
    return key


async def revoke_api_key(
    conn: AsyncConnection, key_id: str, *, actor: str, caller: Caller | None = None
) -> ApiKey:
    """Revoke the key now, everywhere. Revoking a revoked key changes nothing."""
    key = await _managed(conn, key_id, caller)
    if key.revoked_at is not None:
        return key
    row = (
        await conn.execute(
            K.update()
            .where(K.c.key_id == key_id)
            .values(revoked_at=_now, revoked_by=actor)
            .returning(*_PUBLIC, _STATUS)
        )
    ).one()
    return _record(row)


async def rotate_api_key(
    conn: AsyncConnection,
    key_id: str,
    *,
    overlap: timedelta,
    actor: str,
    caller: Caller | None = None,
) -> tuple[IssuedKey, ApiKey]:
    """Issue a successor with the same tenant, scopes, party and name; the old key stays
    valid for ``overlap`` (0: refused from now on), never longer than it already would."""
    check_overlap(overlap)
    old = await _managed(conn, key_id, caller)
    if not old.valid:
        raise ApiKeyConflict("api_key_inactive", f"api key {key_id} is {old.status}")
    successor = await conn.execute(sa.select(K.c.key_id).where(K.c.rotated_from == key_id))
    if successor.first() is not None:
        raise ApiKeyConflict("api_key_already_rotated", f"api key {key_id} was rotated already")
    issued = await create_api_key(
        conn, old.tenant_id, old.scopes, old.name, actor=actor, party_id=old.party_id,
        rotated_from=old.key_id,
    )  # fmt: skip
    until = _now + overlap
    row = (
        await conn.execute(
            K.update()
            .where(K.c.key_id == key_id)
            .values(expires_at=sa.func.least(sa.func.coalesce(K.c.expires_at, until), until))
            .returning(*_PUBLIC, _STATUS)
        )
    ).one()
    return issued, _record(row)
