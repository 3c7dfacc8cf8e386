"""Database plumbing shared by the services: engines, the backbone tables, the unit of work.

Every service owns its own database. Each of them carries the same backbone tables
(outbox, inbox, timers, parked subjects, idempotency keys), created by the service's first
Alembic migration from ``BACKBONE`` below, so the machinery in shared/ can address them by
the same names. API keys are not among them: they live in the identity database
(shared/identity), one copy for every service.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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
    sa.Column("scope", sa.Text, primary_key=True),  # hash of the API key that sent the request
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("content_type", sa.Text),
)

OUTBOX_CHANNEL = "tradeflow_outbox"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq form of a SQLAlchemy URL, for raw asyncpg connections (LISTEN)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class UnitOfWork:
    """One database transaction. It rolls back unless ``commit()`` is called.

    ``async with UnitOfWork(engine) as uow: ...; await uow.commit()``. Everything written
    through ``uow.conn`` (state, outbox rows, inbox rows, timers) commits or vanishes together.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._committed = False

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._conn

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        return self

    async def commit(self) -> None:
        await self.conn.commit()
        self._committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not self._committed:
                await conn.rollback()
        finally:
            await conn.close()
