"""Alembic plumbing shared by the services' migration histories.

Each service keeps its own history in services/<name>/migrations, the identity component
(API keys) in shared/identity/migrations; each env.py is one call to ``run_env``. ``upgrade``
creates the database when it is missing, then migrates. A service database that still has
the old per-service ``api_keys`` table first has its keys copied into identity; the
service's backbone revision that drops the table checks that copy (``drop_legacy_api_keys``).
"""

from __future__ import annotations

import asyncio
from importlib import resources

import asyncpg
import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.operations import Operations
from sqlalchemy import make_url, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config, create_async_engine

from shared.db import BACKBONE, asyncpg_dsn
from shared.identity.legacy import CopiedKeys, copy_legacy_keys, has_legacy_table
from shared.settings import IDENTITY, Settings

# Alembic config attribute: the legacy keys upgrade() copied to identity before migrating.
LEGACY_KEYS_COPIED = "tradeflow_legacy_keys_copied"


def alembic_config(component: str, url: str) -> Config:
    """``component``: a service name, or ``identity``."""
    package = "shared.identity" if component == IDENTITY else f"services.{component}"
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(package) / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def ensure_database(url: str) -> None:
    """CREATE DATABASE for ``url`` when it does not exist yet (connecting to 'postgres')."""
    target = make_url(url)
    admin = await asyncpg.connect(
        asyncpg_dsn(str(target.set(database="postgres").render_as_string(False)))
    )
    try:
        exists = await admin.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", target.database
        )
        if not exists:
            await admin.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await admin.close()


def upgrade(component: str, settings: Settings | None = None, revision: str = "heads") -> str:
    """Create (if needed) and migrate a service's (or identity's) database; returns its URL.

    Call it outside an event loop. A service database that still holds API keys gets
    identity migrated and the keys copied there first."""
    settings = settings or Settings()
    url = settings.service_database_url(component)
    asyncio.run(ensure_database(url))
    cfg = alembic_config(component, url)
    if component != IDENTITY:
        copied = asyncio.run(_copy_legacy_keys(url, settings, component))
        if copied is not None:
            cfg.attributes[LEGACY_KEYS_COPIED] = copied
    command.upgrade(cfg, revision)
    return url


async def _copy_legacy_keys(url: str, settings: Settings, service: str) -> CopiedKeys | None:
    """None when the service database has no legacy api_keys table (any more)."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            if not await has_legacy_table(conn):
                return None
        await asyncio.to_thread(upgrade, IDENTITY, settings)
        identity = create_async_engine(settings.identity_database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as conn, identity.begin() as target:
                return await copy_legacy_keys(conn, target, service)
        finally:
            await identity.dispose()
    finally:
        await engine.dispose()


def create_backbone(op: Operations) -> None:
    """The outbox, inbox, timers, parked subjects and idempotency tables every service carries."""
    BACKBONE.create_all(bind=op.get_bind())


def drop_legacy_api_keys(op: Operations) -> None:
    """Drop a service's old api_keys table once ``upgrade`` copied its keys into identity.

    Refuses when the copy did not happen in this run (alembic driven some other way) or
    when a key was added or revoked in the table after the copy (an old process still
    running): dropping then would lose or revive a key. Run ``tradeflow migrate`` again."""
    bind = op.get_bind()
    if not sa.inspect(bind).has_table("api_keys"):
        return  # a database created after the move never had it
    copied: CopiedKeys | None = context.config.attributes.get(LEGACY_KEYS_COPIED)
    if copied is None:
        raise RuntimeError(
            "api_keys still holds keys that were not copied to the identity database; "
            "migrate with `tradeflow migrate`, which copies them first"
        )
    bind.execute(sa.text("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE"))
    rows = bind.execute(sa.text("SELECT key_hash, revoked_at IS NOT NULL FROM api_keys"))
    if not {(h, bool(revoked)) for h, revoked in rows} <= copied.seen:
        raise RuntimeError("api_keys changed after the copy to identity; migrate again")
    op.drop_table("api_keys")


def recreate_legacy_api_keys(op: Operations) -> None:
    """Downgrade: the old table's shape, empty. The keys stay in identity; copy them back by
    hand if the old code must run again."""
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.Text), nullable=False),
        sa.Column("party_id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def run_env() -> None:
    """The body of every service's migrations/env.py (online, async engine)."""
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
