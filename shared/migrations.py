"""Alembic plumbing shared by the services' migration histories.

Each service keeps its own history in services/<name>/migrations, the identity component
(API keys) in shared/identity/migrations; each env.py is one call to ``run_env``. A service's
history has two version locations: the backbone's branch, one for every service
(shared/backbone_migrations), and the service's own revisions, which depend on it.
``upgrade`` creates the database when it is missing, then migrates. A service database that
still has the old per-service ``api_keys`` table first has its keys copied into identity;
the backbone revision that drops the table checks that copy (``drop_legacy_api_keys``).
A database that still names its backbone revisions by the ids of its service's old copy
(``<svc>_0001``, ``<svc>_backbone_000N``) has them renamed first (``adopt_backbone_ids``).
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources

import asyncpg
import sqlalchemy as sa
import structlog
from alembic import command, context
from alembic.config import Config
from alembic.operations import Operations
from sqlalchemy import make_url, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config, create_async_engine

from shared.db import asyncpg_dsn
from shared.identity.legacy import CopiedKeys, copy_legacy_keys, has_legacy_table
from shared.settings import IDENTITY, SERVICES, Settings

log = structlog.get_logger(__name__)

# Alembic config attribute: the legacy keys upgrade() copied to identity before migrating.
LEGACY_KEYS_COPIED = "tradeflow_legacy_keys_copied"


# The backbone's branch, a version location of every service's history.
BACKBONE_VERSIONS = resources.files("shared.backbone_migrations") / "versions"


def alembic_config(component: str, url: str) -> Config:
    """``component``: a service name, or ``identity``."""
    package = "shared.identity" if component == IDENTITY else f"services.{component}"
    migrations = resources.files(package) / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    if component != IDENTITY:
        cfg.set_main_option("path_separator", "os")
        locations = (BACKBONE_VERSIONS, migrations / "versions")
        cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
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
        adopt_backbone_ids(connection)
        connection.commit()
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


def legacy_backbone_ids(service: str) -> dict[str, str]:
    """The ids a service's own copy of the backbone revisions had, and the shared ones
    (shared/backbone_migrations) that are the same revisions."""
    steps = {f"{service}_backbone_{n:04d}": f"backbone_{n:04d}" for n in range(2, 6)}
    return {f"{service}_0001": "backbone_0001", **steps}


LEGACY_BACKBONE_IDS = {old: new for s in SERVICES for old, new in legacy_backbone_ids(s).items()}


def adopt_backbone_ids(conn: Connection) -> list[str]:
    """Rename the old ids of the backbone revisions a service database holds in
    ``alembic_version`` to the shared ones; returns the old ids it renamed.

    Only the name changes: the revision it names already ran, so nothing runs again. Run by
    ``run_env`` before Alembic reads the versions, whoever drives Alembic; a database that
    holds none of them (fresh, identity, or renamed already) is left as it is. To run the
    code of before on the database again, rename them back (docs/operations.md)."""
    if conn.execute(sa.text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return []
    held = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    renamed = sorted(held & LEGACY_BACKBONE_IDS.keys())
    for old in renamed:
        conn.execute(
            sa.text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
            {"old": old, "new": LEGACY_BACKBONE_IDS[old]},
        )
        log.info("backbone revision renamed", old=old, new=LEGACY_BACKBONE_IDS[old])
    return renamed
