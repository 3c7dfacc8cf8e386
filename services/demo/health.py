"""``tradeflow demo``: show that every service is up and healthy against the real stack."""

from __future__ import annotations

import asyncio

import httpx
from rich.console import Console
from rich.table import Table

from shared.settings import ALL_SERVICES, Settings


async def service_health(settings: Settings, attempts: int = 30) -> dict[str, dict]:
    """Each service's /healthz answer, waiting up to ``attempts`` seconds for it to come up."""
    results: dict[str, dict] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for service in ALL_SERVICES:
            url = f"http://{settings.host}:{settings.service_port(service)}/healthz"
            for attempt in range(attempts):
                try:
                    r = await client.get(url)
                    results[service] = {"url": url, "status_code": r.status_code, **r.json()}
                    if r.status_code == 200:
                        break
                except (httpx.HTTPError, ValueError) as exc:
                    results[service] = {
                        "url": url,
                        "status": "down",
                        "checks": {"error": repr(exc)},
                    }
                if attempt + 1 < attempts:
                    await asyncio.sleep(1)
    return results


def run_demo(console: Console | None = None) -> bool:
    console = console or Console()
    settings = Settings()
    health = asyncio.run(service_health(settings))
    table = Table(title="Tradeflow services")
    for column in ("service", "endpoint", "status", "database", "identity", "kafka"):
        table.add_column(column)
    for service, h in health.items():
        checks = h.get("checks", {})
        ok = h.get("status") == "ok"
        table.add_row(
            service,
            h["url"].removesuffix("/healthz"),
            "[green]healthy[/]" if ok else f"[red]{h.get('status')}[/]",
            str(checks.get("database", "-")),
            str(checks.get("identity", "-")),
            str(checks.get("kafka", checks.get("error", "-"))),
        )
    console.print(table)
    if not all(h.get("status") == "ok" for h in health.values()):
        return False
    from services.demo.support import DemoFailed
    from services.demo.trade import run_trade

    try:
        return asyncio.run(run_trade(settings, console))
    except DemoFailed as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        return False
