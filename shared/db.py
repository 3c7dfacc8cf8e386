"""Database plumbing shared by the services: engines, the backbone tables, the unit of work.

Every service owns its own database. Each of them carries the same backbone tables
(outbox, inbox, timers, parked subjects, idempotency keys), created by the backbone's Alembic
branch (shared/backbone_migrations), so the machinery in shared/ can address them by the
same names. ``BACKBONE`` below describes them for queries; the migrations never read it. API keys are not among them: they live in the identity database
(shared/identity), one copy for every service.

Two more things every engine made here shares:
- ``is_unavailable``: the one classification of "the database cannot be used right now"
  (refused, starting up, shutting down, connection cut, pool exhausted). The HTTP layer
  answers it with 503 + Retry-After, consumers and timers pause and retry.
- commit hooks (``on_commit``): a function the current context (one HTTP request) wants to
  run inside every transaction it commits, just before COMMIT, so what it writes commits
  atomically with the transaction's own writes. shared/http/idempotency.py records
  "this Idempotency-Key's effect committed" that way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import asyncpg
import sqlalchemy as sa
import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

BACKBONE = sa.MetaData()

outbox = sa.Table(
    "outbox",
    BACKBONE,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("envelope", JSONB, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Index("outbox_unsent", "seq", postgresql_where=sa.text("sent_at IS NULL")),
)

inbox = sa.Table(
    "inbox",
    BACKBONE,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column(
        "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

timers = sa.Table(
    "timers",
    BACKBONE,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("payload", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("fired_at", sa.DateTime(timezone=True)),
    sa.Column("cancelled_at", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("kind", "key", name="timers_kind_key"),
    sa.Index(
        "timers_due",
        "due_at",
        postgresql_where=sa.text("fired_at IS NULL AND cancelled_at IS NULL"),
    ),
)

# A subject (aggregate) whose event a consumer had to dead-letter: its later events are
# parked behind it, never applied out of order, until an operator replays them.
parked_subjects = sa.Table(
    "parked_subjects",
    BACKBONE,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column(
        "parked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    BACKBONE,
    # Whose key: the hash of the sending API key, or of the first key of its rotation chain
    # (shared.identity.keys.lineage_hash), so a successor finds what its predecessor did.
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    # The one execution whose effect committed for this key (written in the effect's own
    # transaction, see shared/http/idempotency.py); NULL for answers that changed nothing.
    sa.Column("execution_id", UUID(as_uuid=True)),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("content_type", sa.Text),
    # Set when the request's final answer is stored over what its commit recorded; NULL
    # while only that answer is known, and when the final answer is the one its commit
    # recorded (then the row already holds it, and nothing is written after the request).
    # Nothing reads it to decide anything.
    sa.Column("completed_at", sa.DateTime(timezone=True)),
)

OUTBOX_CHANNEL = "tradeflow_outbox"


# Seconds a new connection may take: an unreachable server is reported, not waited for.
CONNECT_TIMEOUT = 5


def make_engine(url: str | sa.URL, **kwargs: Any) -> AsyncEngine:
    # Up to 20 connections, all kept once opened: an "overflow" connection is closed when it
    # comes back, so a load above the pool size opened (TLS handshake, authentication, a new
    # server backend) and closed a connection per request. Opened lazily, as many as needed.
    # (A caller naming a smaller pool_size keeps 10 overflow connections on top, as before.)
    kwargs.setdefault("max_overflow", 0 if "pool_size" not in kwargs else 10)
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT})
    engine = create_async_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


# A connection back in the pool for longer than this is pinged when it is next checked out.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Replace, at checkout, a connection the server dropped while it sat in the pool (a
    restart, a failover, an idle timeout), so the process reconnects by itself once the
    database is back and no request is answered 503 long after it is.

    SQLAlchemy's ``pool_pre_ping`` does this with a round trip on every checkout (three of
    the sixteen of an escrow create, all on connections used a millisecond before). Only a
    connection idle for ``PING_AFTER_IDLE_S`` is pinged here. One that was busy until just
    now and is cut by a restart fails in its request, which answers 503 (``is_unavailable``),
    and SQLAlchemy then invalidates every connection of the pool opened before the cut."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _taken(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new, or busy a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out a fresh one
            raise sqlalchemy.exc.DisconnectionError(f"dropped while idle: {exc!r}") from exc


# SQLSTATEs of a server that cannot serve now: connection exceptions (class 08), admin or
# crash shutdown, starting up (57P01-57P03), too many connections (53300).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says the database (or the way to it) cannot be used right now.

    Such a failure says nothing about the request or event at hand: anything would fail the
    same way until the server is back. The driver's exception is looked for along the whole
    chain SQLAlchemy wraps it in (``DBAPIError.orig`` and the causes behind it).
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError | TimeoutError | sqlalchemy.exc.TimeoutError):
            return True  # refused, reset, unreachable; the pool had no connection to give
        if isinstance(e, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError):
            return True
        if isinstance(e, asyncpg.InterfaceError) and "closed" in str(e):
            return True
        if isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, sqlalchemy.exc.PendingRollbackError) and "reconnect" in str(e):
            # The connection was invalidated (cut) inside this transaction, and a savepoint
            # or handler swallowed the cut: the transaction is gone, retry it whole.
            return True
        sqlstate = getattr(e, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        todo += [getattr(e, "orig", None), e.__cause__]
    return False


# A function the current context runs in each transaction it commits, on the engine it
# names, right before COMMIT (with the synchronous face of the connection: it runs inside
# SQLAlchemy's greenlet, so ``conn.execute`` works there).
CommitHook = Callable[[Connection], None]
_commit_hook: ContextVar[tuple[Engine, CommitHook] | None] = ContextVar(
    "tradeflow_commit_hook", default=None
)


@contextlib.contextmanager
def on_commit(engine: AsyncEngine, hook: CommitHook) -> Iterator[None]:
    """Run ``hook`` in every transaction committed on ``engine`` in this context.

    Whatever the hook writes commits with the transaction or not at all; if it raises, the
    COMMIT is not sent and the transaction rolls back. Savepoints do not call it; other
    engines (another service's database) do not either.
    """
    token = _commit_hook.set((engine.sync_engine, hook))
    try:
        yield
    finally:
        _commit_hook.reset(token)


@event.listens_for(Engine, "commit")
def _before_commit(conn: Connection) -> None:
    current = _commit_hook.get()
    if current is not None and conn.engine is current[0]:
        current[1](conn)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, for raw asyncpg connections (LISTEN).

    SQLAlchemy's asyncpg dialect takes TLS as ``?ssl=<mode>``; libpq (and asyncpg's DSN
    parser, which would send an unknown parameter to the server as a setting) calls it
    ``sslmode``."""
    parsed = sa.make_url(url).set(drivername="postgresql")
    if "ssl" in parsed.query:
        query = dict(parsed.query)
        query["sslmode"] = query.pop("ssl")
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def violates(exc: sqlalchemy.exc.IntegrityError, constraint: str) -> bool:
    """Whether the database refused the statement for ``constraint`` (a unique index's name
    is in PostgreSQL's message: 'violates unique constraint "<name>"')."""
    return f'"{constraint}"' in str(exc.orig)
