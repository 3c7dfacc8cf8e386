"""Claims on Idempotency-Keys: who runs a key now, and the key's row (see idempotency.py).

A claim is a session advisory lock (``pg_try_advisory_lock``) held on a connection of its
own for as long as the request runs. PostgreSQL drops it when that connection ends, and the
connection of a killed process ends with the process: a crash frees the key at once, with
no timeout to wait out, while a live holder keeps a second request with the key out.

The connections come from a pool beside the service's own, one per service engine, so that
a burst of keyed requests waits here holding nothing the endpoints need (a claim holder may
wait for the service's pool, never the other way round). At most ``MAX_CLAIMS`` keyed writes
run at once per process; the others queue for a claim connection.

Claim connections run in autocommit: the lock is the session's, not a transaction's, and the
key's row is read and written only by its lock holder, so each statement may be its own
transaction. That spares a BEGIN and a COMMIT round trip around every one of them (taking the
lock, reading the row, storing the answer, unlocking), on every keyed write.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from uuid import UUID

import anyio
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import idempotency_keys, make_engine

KEY_TTL = timedelta(hours=24)
MAX_CLAIMS = 10
T = idempotency_keys
_claim_engines: dict[AsyncEngine, AsyncEngine] = {}


# The statements of every keyed write, built once: a statement object reused keeps its
# compiled form and cache key, which one built per request recomputes.
# (bind names other than the columns': an UPDATE/INSERT reserves those for its own values)
_THIS_KEY = sa.and_(T.c.scope == sa.bindparam("of_scope"), T.c.key == sa.bindparam("of_key"))
_FRESH = T.c.created_at >= sa.func.now() - KEY_TTL
_LOCK = sa.select(sa.func.pg_try_advisory_lock(sa.bindparam("lock_id", type_=sa.BigInteger)))
_UNLOCK_ALL = sa.select(sa.func.pg_advisory_unlock_all())
# One statement, whose DELETE of an expired row runs whether or not the SELECT reads it
# (PostgreSQL runs a data-modifying WITH to completion), and whose SELECT, seeing the row as
# it was before that DELETE (one snapshot), leaves an expired row out by the same test.
_EXISTING = (
    sa.select(T)
    .where(_THIS_KEY, _FRESH)
    .add_cte(T.delete().where(_THIS_KEY, sa.not_(_FRESH)).returning(T.c.key).cte("expired"))
)
_ANSWER = ("status_code", "response_body", "content_type")
# The final answer replaces the row's, unless the answer is an error and the row holds the
# answer an effect committed with (a 503, a 500, a version conflict settling it after an
# effect committed does not replace what describes that effect).
_KEEP_COMMITTED = sa.and_(sa.bindparam("is_error", type_=sa.Boolean), T.c.status_code.is_not(None))
_STORE_MINE = (
    T.update()
    .where(_THIS_KEY, T.c.execution_id == sa.bindparam("execution"))
    .values(
        **{
            name: sa.case(
                (_KEEP_COMMITTED, T.c[name]),
                else_=sa.bindparam(f"new_{name}", type_=T.c[name].type),
            )
            for name in _ANSWER
        },
        completed_at=sa.func.now(),
    )
    .returning(T.c.key)
)
_STORE_UNNAMED = (
    pg_insert(T)
    .values(
        scope=sa.bindparam("of_scope"),
        key=sa.bindparam("of_key"),
        request_hash=sa.bindparam("fingerprint"),
        **{name: sa.bindparam(f"new_{name}", type_=T.c[name].type) for name in _ANSWER},
        completed_at=sa.func.now(),
    )
    .on_conflict_do_nothing()
)


def _lock_id(scope: str, key: str) -> int:
    digest = hashlib.sha256(f"{scope}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def claim_engine(engine: AsyncEngine) -> AsyncEngine:
    """The pool of claim connections beside ``engine`` (made on first use)."""
    if engine not in _claim_engines:
        pool = {"pool_size": MAX_CLAIMS, "max_overflow": 0}  # kept, not reopened (db.py)
        _claim_engines[engine] = make_engine(engine.url, isolation_level="AUTOCOMMIT", **pool)
    return _claim_engines[engine]


async def close_claim_engine(engine: AsyncEngine) -> None:
    """At shutdown, with the service's engine."""
    claims = _claim_engines.pop(engine, None)
    if claims is not None:
        await claims.dispose()


class Claim:
    """A held claim on one key: its connection, and the key's row read and written there."""

    def __init__(self, conn: AsyncConnection, scope: str, key: str) -> None:
        self.conn, self.scope, self.key = conn, scope, key
        self._this = {"of_scope": scope, "of_key": key}

    @classmethod
    @asynccontextmanager
    async def take(cls, engine: AsyncEngine, scope: str, key: str) -> AsyncIterator[Claim | None]:
        """The claim, or None while a live request holds it."""
        conn = await engine.connect()
        try:
            held = (await conn.execute(_LOCK, {"lock_id": _lock_id(scope, key)})).scalar_one()
            await conn.commit()  # the session lock outlives the transaction
            if not held:
                yield None
                return
            try:
                yield cls(conn, scope, key)
            finally:
                await _release(conn)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await conn.close()

    async def existing(self) -> sa.Row[Any] | None:
        """The key's row, unless it expired (then it is forgotten), in one statement."""
        async with self.conn.begin():
            return (await self.conn.execute(_EXISTING, self._this)).first()

    async def store(
        self,
        execution_id: UUID,
        fingerprint: str,
        answer: tuple[int, bytes, str | None],
        storable: bool,
    ) -> None:
        """Keep the final answer: always if ``execution_id`` committed an effect (its row is
        there), else if it is ``storable`` (as a row naming no execution).

        An error after an effect committed (a 503, a 500, a version conflict settling it)
        does not replace the answer the endpoint committed with it: that answer describes
        what did commit, and a retry gets it rather than an error inviting more retries.
        """
        status, body, content_type = answer
        values = {
            **self._this,
            "new_status_code": status,
            "new_response_body": body,
            "new_content_type": content_type,
        }
        async with self.conn.begin():
            mine = {**values, "execution": execution_id, "is_error": status >= 400}
            done = await self.conn.execute(_STORE_MINE, mine)
            if done.first() is None and storable:
                await self.conn.execute(_STORE_UNNAMED, {**values, "fingerprint": fingerprint})


async def _release(conn: AsyncConnection) -> None:
    """Drop the lock; a connection that cannot is discarded (the server drops it then)."""
    with anyio.CancelScope(shield=True):
        try:
            await conn.execute(_UNLOCK_ALL)
            await conn.commit()
        except Exception:
            await conn.invalidate()
