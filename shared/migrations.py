"""Alembic plumbing shared by the services' migration histories.

Each service keeps its own history in services/<name>/migrations; its env.py is one call to
``run_env``. ``upgrade`` creates the service's database when it is missing, then migrates.
"""

from __future__ import annotations

import asyncio
from importlib import resources

import asyncpg
from alembic import command, context
from alembic.config import Config
from alembic.operations import Operations
from sqlalchemy import make_url, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from shared.db import BACKBONE, asyncpg_dsn
from shared.settings import Settings


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files(f"services.{service}") / "migrations")
    )
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


def upgrade(service: str, settings: Settings | None = None, revision: str = "heads") -> str:
    """Create (if needed) and migrate one service's database. Call it outside an event loop."""
    settings = settings or Settings()
    url = settings.service_database_url(service)
    asyncio.run(ensure_database(url))
    command.upgrade(alembic_config(service, url), revision)
    return url


def create_backbone(op: Operations) -> None:
    """The outbox, inbox, timers, API keys and idempotency tables every service carries."""
    BACKBONE.create_all(bind=op.get_bind())


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
