"""The webhooks service on real PostgreSQL and Kafka, its API in process, and a real HTTP
server (aiohttp, on 127.0.0.1) receiving what the delivery worker sends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from services.webhooks.adapters import tables
from services.webhooks.adapters.resolver import SystemResolver
from services.webhooks.bootstrap import DEFINITION, WebhooksContainer, bootstrap, worker
from services.webhooks.domain.ssrf import IpAddress
from services.webhooks.entrypoints.worker import DeliveryWorker
from shared.clock import ManualClock
from shared.http.app import create_service_app
from shared.migrations import upgrade
from shared.settings import Settings
from tests.conftest import recreate_database
from tests.support.keys import bearer, new_key

pytestmark = pytest.mark.integration


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A platform's webhook receiver: answers by path (``/ok`` 200, ``/fail`` 500,
    ``/slow`` after 5 s, ``/redirect`` 302, ``/nul`` 200 with NUL bytes in its text,
    ``/gzip`` 200 compressed when the request allows it), and records every request."""

    port: int = 0
    received: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        if request.path.startswith("/fail"):
            return web.Response(status=500, text="boom " * 1_000)
        if request.path.startswith("/slow"):
            await asyncio.sleep(5)
        if request.path.startswith("/redirect"):
            raise web.HTTPFound("http://127.0.0.1:1/elsewhere")
        if request.path.startswith("/nul"):
            return web.Response(status=200, body=b"ok\x00\x00done")
        if request.path.startswith("/gzip"):
            answer = web.Response(status=200, text="received, thank you " * 20)
            answer.enable_compression()  # only if the request's Accept-Encoding allows it
            return answer
        return web.Response(status=200, text="thanks")


class Resolver(SystemResolver):
    """The system resolver, except for names a test pins to addresses (DNS it controls)."""

    def __init__(self) -> None:
        super().__init__()
        self.pinned: dict[str, list[IpAddress]] = {}

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        if host in self.pinned:
            return self.pinned[host]
        return await super().resolve(host, port)


@dataclass
class Hooks:
    client: httpx.AsyncClient
    container: WebhooksContainer
    worker: DeliveryWorker
    clock: ManualClock
    settings: Settings
    engine: AsyncEngine
    receiver: Receiver
    resolver: Resolver
    platform: dict[str, str]
    other_tenant: dict[str, str]
    tenant: str

    async def post(
        self, path: str, body: Any = None, who: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {**(who or self.platform), "Idempotency-Key": str(uuid.uuid4())}
        return await self.client.post(path, json=body, headers=headers)

    async def endpoint(
        self, path: str, events: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        r = await self.post(
            "/v1/webhook-endpoints",
            {"url": self.receiver.url(path), "enabled_events": events or ["*"], **extra},
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def deliveries(
        self, endpoint_id: str, who: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.get(
            f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=who or self.platform
        )


SCHEDULE = [1, 2, 3]  # seconds on the test's clock: 4 attempts in all


@pytest.fixture(scope="session")
async def webhooks_settings(migrated: Settings) -> Settings:
    await recreate_database(migrated, "webhooks")
    await asyncio.to_thread(upgrade, "webhooks", migrated)
    return migrated.model_copy(
        update={
            "webhook_allow_loopback": True,
            "webhook_retry_schedule": SCHEDULE,
            "webhook_retry_jitter": 0.0,
            "webhook_disable_after_failures": 3,
            "webhook_disable_after_seconds": 0,
            "webhook_read_timeout": 1.0,
            "webhook_connect_timeout": 1.0,
        }
    )


@pytest.fixture
async def hooks(webhooks_settings: Settings, identity: AsyncEngine) -> AsyncIterator[Hooks]:
    receiver = Receiver()
    server = web.Server(receiver.handle)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    clock = ManualClock(datetime.now(UTC))  # near real time: receivers check the timestamp
    resolver = Resolver()
    container: WebhooksContainer | None = None

    async def boot() -> WebhooksContainer:
        nonlocal container
        container = await bootstrap(webhooks_settings, clock, resolver)
        return container

    app = create_service_app(service="webhooks", bootstrap=boot, routers=DEFINITION.routers())
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    platform = bearer(await new_key(identity, tenant, ["platform"], f"{tenant}-platform"))
    other = bearer(await new_key(identity, f"o-{tenant}", ["platform"], f"o-{tenant}-platform"))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://webhooks") as client:
                assert container is not None
                yield Hooks(
                    client,
                    container,
                    worker(container),
                    clock,
                    webhooks_settings,
                    container.runtime.engine,
                    receiver,
                    resolver,
                    platform,
                    other,
                    tenant,
                )
                # The worker claims every tenant's due deliveries: a test's leftovers (a
                # retry 1 s later) must not fall due in a later test's deliver_due().
                async with container.runtime.engine.begin() as conn:
                    await conn.execute(
                        tables.endpoints.delete().where(
                            tables.endpoints.c.tenant_id.in_([tenant, f"o-{tenant}"])
                        )
                    )
    finally:
        await runner.cleanup()
