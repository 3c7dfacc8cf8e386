from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.bootstrap import DEFINITION, LedgerContainer
from services.runner import create_app
from shared.clock import ManualClock
from shared.db import make_engine
from shared.migrations import upgrade
from shared.outbox import make_producer
from shared.runtime import Runtime
from shared.settings import Settings
from tests.conftest import TEST_DB_PREFIX, _created, recreate_database
from tests.support.keys import new_key

pytestmark = pytest.mark.integration

ScratchLedger = Callable[[str], Awaitable[AsyncEngine]]


@pytest.fixture(scope="session")
async def scratch_ledger(settings: Settings) -> AsyncIterator[ScratchLedger]:
    """A factory of freshly migrated ledger databases of their own.

    The ledger's hash chain and its audit cover a whole database, so tests that break them
    on purpose (tamper, audit failures) get a database nobody else books into. The
    databases carry the session's test prefix and are dropped with the others at the end.
    """
    _created["settings"] = settings
    engines: list[AsyncEngine] = []

    async def make(name: str) -> AsyncEngine:
        own = settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}{name}_"})
        await recreate_database(own, "ledger")
        await asyncio.to_thread(upgrade, "ledger", own)
        engine = make_engine(own.service_database_url("ledger"), pool_size=4)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture(scope="session")
async def ledger(scratch_ledger: ScratchLedger) -> AsyncEngine:
    """The ledger database the tests share, each booking into its own tenant."""
    return await scratch_ledger("shared")


@pytest.fixture
def tenant() -> str:
    """Each test books into its own tenant, so tests share the database without interfering."""
    return f"t-{uuid.uuid4().hex[:12]}"


@dataclass
class Api:
    client: httpx.AsyncClient
    clock: ManualClock
    tenant: str
    key: str
    identity: AsyncEngine


@pytest.fixture
async def api(
    ledger: AsyncEngine, settings: Settings, tenant: str, identity: AsyncEngine
) -> AsyncIterator[Api]:
    """The ledger's HTTP API in-process over the shared test database, with a finance key."""
    clock = ManualClock(datetime(2026, 6, 30, 12, tzinfo=UTC))
    producer = make_producer(
        settings.kafka_bootstrap_servers
    )  # never started: the API sends nothing
    # stripe-mock accepts only keys shaped like sk_test_<alphanumerics>
    settings = settings.model_copy(update={"stripe_api_key": SecretStr("sk_test_tradeflow123")})
    runtime = Runtime("ledger", settings, ledger, producer, clock, identity)
    app = create_app(DEFINITION, settings)
    app.state.container = LedgerContainer(runtime)
    app.state.engine = ledger
    app.state.identity = identity
    key = await new_key(identity, tenant, ["finance"], "alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://ledger", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield Api(client, clock, tenant, key, identity)
    await producer.stop()
