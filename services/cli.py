"""``tradeflow``: run any service's API, consumers, relay and timers; migrate; manage keys."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import make_url

from services.console.entrypoints.cli import app as console_cli
from services.escrow.bootstrap import DEFINITION as ESCROW
from services.financing.bootstrap import DEFINITION as FINANCING
from services.ledger.bootstrap import DEFINITION as LEDGER
from services.runner import ServiceDefinition, service_cli
from services.webhooks.bootstrap import DEFINITION as WEBHOOKS
from shared.identity.cli import app as apikey_cli
from shared.settings import ALL_SERVICES, IDENTITY, Settings

DEFINITIONS: dict[str, ServiceDefinition[Any]] = {
    d.name: d for d in (ESCROW, LEDGER, FINANCING, WEBHOOKS)
}

app = typer.Typer(no_args_is_help=True, help=__doc__)
# One at a time: each definition is typed by its own container.
app.add_typer(service_cli(ESCROW), name=ESCROW.name, help="The escrow service.")
app.add_typer(service_cli(LEDGER), name=LEDGER.name, help="The ledger service.")
app.add_typer(service_cli(FINANCING), name=FINANCING.name, help="The financing service.")
app.add_typer(service_cli(WEBHOOKS), name=WEBHOOKS.name, help="The webhooks service.")
app.add_typer(console_cli, name="console", help="The web console (no database of its own).")
app.add_typer(apikey_cli, name="apikey")

console = Console()


@app.command()
def migrate() -> None:
    """Create and migrate the identity database (API keys) and every service's database.

    A service database that still holds API keys from before identity has them copied
    into identity, then its old table dropped."""
    from shared.migrations import upgrade

    settings = Settings()
    for component in (IDENTITY, *ALL_SERVICES):
        url = make_url(upgrade(component, settings))
        console.print(f"[green]✓[/] {component}: database {url.database} at {url.host}:{url.port}")


@app.command()
def topics(
    partitions: int = typer.Option(6, min=1, help="Partitions of each new topic"),
    replication: int = typer.Option(1, min=1, help="Replication factor of each new topic"),
) -> None:
    """Create the services' event topics and the dead-letter topic where missing."""
    from shared.topics import ensure_topics

    for topic, state in asyncio.run(ensure_topics(Settings(), partitions, replication)).items():
        console.print(f"{topic}: {state}")


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
