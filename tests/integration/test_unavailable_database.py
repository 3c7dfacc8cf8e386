"""A database that is momentarily unreachable is a 503 with Retry-After on every service and
route (authentication and the idempotency middleware included), and the API reconnects by
itself once the database is back.

The shared PostgreSQL is never restarted: each service is pointed at a proxy in front of
it (tests/support/pgproxy.py) that refuses connections, cuts them, or answers "the database
system is starting up" as a restarting server does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.cli import DEFINITIONS
from services.runner import create_app
from shared import db, inbox
from shared.settings import Settings
from tests.support.keys import bearer, new_key
from tests.support.pgproxy import PgProxy

pytestmark = pytest.mark.integration

# service -> (scope of the key, a GET every key of that scope may make, a keyed write)
ROUTES: dict[str, tuple[str, str, tuple[str, str, dict[str, Any]]]] = {
    "escrow": ("platform", "/v1/orders", ("POST", "/v1/orders", {"buyer_id": "b"})),
    "ledger": ("finance", "/v1/ledger/accounts", ("POST", "/v1/ledger/adjustments", {})),
    "financing": ("finance", "/v1/advances", ("PUT", "/v1/policies/USD", {})),
}


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[PgProxy]:
    url = sa.make_url(settings.database_url)
    p = await PgProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield p
    await p.close()


def through(settings: Settings, proxy: PgProxy) -> Settings:
    url = sa.make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    return settings.model_copy(
        update={
            "database_url": url.render_as_string(hide_password=False),
            "stripe_api_key": SecretStr("sk_test_tradeflow"),
        }
    )


async def check_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "1"
    assert r.json()["error"]["code"] == "service_unavailable"
    assert "X-Correlation-Id" in r.headers


@pytest.mark.parametrize("service", sorted(ROUTES))
async def test_an_unreachable_database_is_a_503_and_the_api_reconnects(
    service: str,
    migrated: Settings,
    identity: AsyncEngine,
    proxy: PgProxy,
) -> None:
    scope, read, (method, write, body) = ROUTES[service]
    auth = bearer(await new_key(identity, f"t-{uuid.uuid4().hex[:6]}", [scope], "outage"))
    keyed = auth | {"Idempotency-Key": str(uuid.uuid4())}
    app = create_app(DEFINITIONS[service], through(migrated, proxy))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            assert (await client.get(read, headers=auth)).status_code == 200

            for outage in (proxy.down, proxy.starting_up):
                await outage()
                await check_unavailable(await client.get(read, headers=auth))  # in auth
                await check_unavailable(  # in the idempotency middleware
                    await client.request(method, write, json=body, headers=keyed)
                )
                ready = await client.get("/healthz/ready")
                assert ready.status_code == 503 and ready.headers["Retry-After"] == "1"
                assert ready.json()["status"] == "unavailable"
                assert (await client.get("/healthz/live")).status_code == 200

            await proxy.up()
            assert (await client.get(read, headers=auth)).status_code == 200
            assert (await client.get("/healthz/ready")).status_code == 200


async def test_starting_up_is_unavailable_for_consumers_too(
    settings: Settings, proxy: PgProxy
) -> None:
    """One classification for every caller: "the database system is starting up" stalls a
    consumer (it must not dead-letter the events it could not apply) as it is a 503."""
    url = sa.make_url(through(settings, proxy).database_url)
    engine = create_async_engine(url)
    await proxy.starting_up()
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    assert db.is_unavailable(caught.value)
    assert inbox.is_unavailable(caught.value)


async def test_a_connection_dropped_while_idle_is_replaced_at_checkout(
    settings: Settings, proxy: PgProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart cuts the pool's idle connections: the next checkout replaces them
    itself (no 503 long after the database is back), while a connection used a moment ago
    is handed out without the round trip of a ping."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.2)
    engine = db.make_engine(sa.make_url(through(settings, proxy).database_url))
    pings: list[object] = []
    dialect = engine.sync_engine.dialect
    ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    try:
        for _ in range(3):  # back to back: no ping
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        assert pings == []

        await proxy.down()  # what a restart does to the pool's connections
        await proxy.up()
        await asyncio.sleep(0.3)
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
        assert len(pings) == 1  # the idle one was pinged, found dead and replaced
    finally:
        await engine.dispose()


async def test_a_connection_cut_mid_request_fails_as_an_outage(
    settings: Settings, proxy: PgProxy
) -> None:
    """The cut surfaces as the driver's error, an outage (503, a stalled batch), and not as
    a PendingRollbackError raised while closing: the outbox's rollback hook asked the
    invalidated connection for its state, which tried to reconnect inside the dead
    transaction."""
    engine = db.make_engine(sa.make_url(through(settings, proxy).database_url))
    try:
        with pytest.raises(Exception) as caught:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
                await proxy.down()
                await conn.execute(sa.text("SELECT 1"))
        assert isinstance(caught.value, sa.exc.DBAPIError), repr(caught.value)
        assert caught.value.connection_invalidated and db.is_unavailable(caught.value)
    finally:
        await engine.dispose()
