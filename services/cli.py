"""``tradeflow``: run any service's API, consumers, relay and timers; migrate; manage keys."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from sqlalchemy import make_url

from services.escrow.bootstrap import DEFINITION as ESCROW
from services.financing.bootstrap import DEFINITION as FINANCING
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.runner import service_cli
from shared.settings import SERVICES, Settings

DEFINITIONS = {d.name: d for d in (ESCROW, LEDGER, FINANCING)}

app = typer.Typer(no_args_is_help=True, help=__doc__)
for _definition in DEFINITIONS.values():
    app.add_typer(
        service_cli(_definition), name=_definition.name, help=f"The {_definition.name} service."
    )

console = Console()


@app.command()
def migrate() -> None:
    """Create and migrate every service's database."""
    from shared.migrations import upgrade

    settings = Settings()
    for service in SERVICES:
        url = make_url(upgrade(service, settings))
        console.print(f"[green]✓[/] {service}: database {url.database} at {url.host}:{url.port}")


@app.command()
def topics(
    partitions: int = typer.Option(6, min=1, help="Partitions of each new topic"),
    replication: int = typer.Option(1, min=1, help="Replication factor of each new topic"),
) -> None:
    """Create the services' event topics and the dead-letter topic where missing."""
    from shared.topics import ensure_topics

    for topic, state in asyncio.run(ensure_topics(Settings(), partitions, replication)).items():
        console.print(f"{topic}: {state}")


@app.command("apikey")
def create_apikey(
    tenant: str = typer.Option(..., help="Tenant (integrating platform) id"),
    scope: list[str] = typer.Option(..., help="platform, finance or supplier; repeatable"),
    name: str = typer.Option(..., help="A label recorded as the actor of changes"),
    key: str | None = typer.Option(None, help="Use this key instead of a random one"),
    party: str | None = typer.Option(
        None, help="The supplier id a supplier key acts for (required with --scope supplier)"
    ),
) -> None:
    """Create an API key, valid on every service; the key is printed once."""
    if "supplier" in scope and not party:
        raise typer.BadParameter("a supplier key must name its supplier: --party SUPPLIER_ID")
    from shared.db import make_engine
    from shared.http.auth import create_api_key

    async def create() -> str:
        settings = Settings()
        raw = key
        for service in SERVICES:
            engine = make_engine(settings.service_database_url(service))
            async with engine.begin() as conn:
                raw = await create_api_key(conn, tenant, scope, name, raw, party)
            await engine.dispose()
        assert raw is not None
        return raw

    typer.echo(asyncio.run(create()))


@app.command()
def demo() -> None:
    """Run the demo against the running services (start them with `make demo`)."""
    from services.demo import run_demo

    if not run_demo(console):
        raise typer.Exit(1)


@app.command("events")
def events_docs(
    out: str = typer.Option("docs/events", help="Where to write the documents"),
) -> None:
    """Write the AsyncAPI document and JSON Schemas of every event model."""
    from pathlib import Path

    from shared.events.schema import write_docs

    for path in write_docs(Path(out)):
        console.print(f"wrote {path}")


if __name__ == "__main__":
    app()
