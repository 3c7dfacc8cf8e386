"""The backbone steps every service ran until the backbone had a branch of its own, frozen.

``upgrade_0001`` is what ``shared.migrations.create_backbone`` did: ``create_all`` of the
table definitions in shared/db.py, copied here as they were when that function went away
(so this copy, unlike the original, never changes). The other steps are the bodies of
``<svc>_backbone_0002`` .. ``_0005`` as they were; the legacy ``api_keys`` drop still calls
shared.migrations, whose functions for it did not change. ``run_env`` is the env.py of then.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import pool
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.migrations import drop_legacy_api_keys, recreate_legacy_api_keys

BACKBONE = sa.MetaData()

sa.Table(
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

sa.Table(
    "inbox",
    BACKBONE,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column(
        "processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

sa.Table(
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

sa.Table(
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

sa.Table(
    "idempotency_keys",
    BACKBONE,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("execution_id", UUID(as_uuid=True)),
    sa.Column("status_code", sa.Integer),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("content_type", sa.Text),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
)


def create_backbone() -> None:
    BACKBONE.create_all(bind=op.get_bind())


def upgrade_0001() -> None:
    create_backbone()


def downgrade_0001() -> None:
    for table in ("idempotency_keys", "api_keys", "timers", "inbox", "outbox"):
        op.drop_table(table)


def upgrade_0002() -> None:
    create_backbone()  # creates only the backbone tables that are missing


def downgrade_0002() -> None:
    op.drop_table("parked_subjects")


def upgrade_0003() -> None:
    op.execute("ALTER TABLE IF EXISTS api_keys ADD COLUMN IF NOT EXISTS party_id text")


def downgrade_0003() -> None:
    op.execute("ALTER TABLE IF EXISTS api_keys DROP COLUMN IF EXISTS party_id")


def upgrade_0004() -> None:
    drop_legacy_api_keys(op)


def downgrade_0004() -> None:
    recreate_legacy_api_keys(op)


def upgrade_0005() -> None:
    op.execute("ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS execution_id uuid")
    op.execute("ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS completed_at timestamptz")
    op.execute("DELETE FROM idempotency_keys WHERE status_code IS NULL AND execution_id IS NULL")


def downgrade_0005() -> None:
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS completed_at")
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS execution_id")


def borrow(service: str, module: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A service's own revision as it is in services/<service>/migrations: released
    revisions never change, only where the service's chain hangs did."""
    found = importlib.import_module(f"services.{service}.migrations.versions.{module}")
    return found.upgrade, found.downgrade


def run_env() -> None:
    config = context.config

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection, target_metadata=None, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())
