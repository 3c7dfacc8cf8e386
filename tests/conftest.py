"""Fixtures for the integration and e2e layers. Unit tests need none of them."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import asyncpg_dsn, make_engine
from shared.migrations import upgrade
from shared.runtime import identity_engine
from shared.settings import IDENTITY, SERVICES, Settings
from tests.support.infra import Endpoints, resolve

# Every pytest session gets its own databases and topics, so parallel runs (two developers,
# CI beside a dev loop) never drop each other's data; they are dropped again at the end.
RUN_ID = uuid.uuid4().hex[:8]
TEST_DB_PREFIX = f"tradeflow_test_{RUN_ID}_"


@pytest.fixture(scope="session")
def endpoints() -> Iterator[Endpoints]:
    with ExitStack() as stack:
        yield resolve(stack)


@pytest.fixture(scope="session")
def settings(endpoints: Endpoints) -> Settings:
    return Settings(
        environment="test",
        database_url=endpoints.database_url,
        kafka_bootstrap_servers=endpoints.kafka,
        stripe_api_base=endpoints.stripe_api_base,
        database_prefix=TEST_DB_PREFIX,
        topic_prefix=f"test-{RUN_ID}",
        log_json=False,
    )


async def _admin(settings: Settings) -> asyncpg.Connection:
    url = make_url(settings.database_url).set(database="postgres")
    return await asyncpg.connect(asyncpg_dsn(url.render_as_string(hide_password=False)))


async def recreate_database(settings: Settings, name: str) -> str:
    """Drop and create ``<prefix><name>``; returns its SQLAlchemy URL."""
    url = settings.service_database_url(name)
    admin = await _admin(settings)
    try:
        db = make_url(url).database
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    return url


@pytest.fixture(scope="session", autouse=True)
async def _drop_test_databases() -> AsyncIterator[None]:
    yield
    if "settings" not in _created:
        return
    settings = _created["settings"]
    admin = await _admin(settings)
    try:
        names = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{TEST_DB_PREFIX}%"
        )
        for row in names:
            await _drop_quietly(admin, row["datname"])
    finally:
        await admin.close()


async def _drop_quietly(admin: asyncpg.Connection, name: str) -> None:
    """Drop a test database; an autovacuum worker on it (which a non-superuser cannot
    terminate) only delays that. Cleanup never fails a run that passed."""
    for attempt in range(10):
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.PostgresError as exc:
            if attempt == 9:
                warnings.warn(f"could not drop test database {name}: {exc}", stacklevel=1)
            await asyncio.sleep(0.5)


_created: dict[str, Settings] = {}


async def migrate_all(settings: Settings) -> None:
    """Fresh databases for identity and every service under ``settings``' prefix, at head."""
    for component in (IDENTITY, *SERVICES):
        await recreate_database(settings, component)
        await asyncio.to_thread(upgrade, component, settings)


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> Settings:
    """Fresh test databases for identity and every service, migrated to head once per session."""
    _created["settings"] = settings
    await migrate_all(settings)
    return settings


@pytest.fixture(scope="session")
async def identity(migrated: Settings) -> AsyncIterator[AsyncEngine]:
    """The session's identity database (API keys), which every in-process app reads."""
    engine = identity_engine(migrated)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def service_engines(migrated: Settings) -> AsyncIterator[dict[str, AsyncEngine]]:
    engines = {s: make_engine(migrated.service_database_url(s)) for s in SERVICES}
    yield engines
    for engine in engines.values():
        await engine.dispose()


@pytest.fixture
def unique_topic(settings: Settings) -> str:
    return f"{settings.topic_prefix}.t-{uuid.uuid4().hex[:10]}"


async def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
