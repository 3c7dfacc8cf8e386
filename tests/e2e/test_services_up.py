"""Every service, run as processes with all four roles, reports healthy over HTTP."""

from __future__ import annotations

import httpx

from services.demo import service_health
from shared.settings import SERVICES, Settings


async def test_every_service_is_healthy_with_database_and_kafka(running_services: Settings) -> None:
    health = await service_health(running_services, attempts=1)
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            assert health[service]["status_code"] == 200, health[service]
            assert health[service]["checks"] == {"database": "ok", "identity": "ok", "kafka": "ok"}
            metrics = await client.get(health[service]["url"].replace("/healthz", "/metrics"))
            assert "tradeflow_http_requests_total" in metrics.text
