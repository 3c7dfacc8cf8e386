"""``python -m tests.chaos``: a chaos run from the command line (``make chaos`` runs the full one)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console

from tests.chaos.report import show
from tests.chaos.run import Options, run

app = typer.Typer(add_completion=False)
console = Console()


@app.command()
def main(
    trades: int = typer.Option(10_000, help="Trades to drive"),
    concurrency: int = typer.Option(
        30,
        help="Trades in flight at once (the 2-core machine is saturated at 30: 60 drove no more"
        " trades per second and only lengthened every queue)",
    ),
    kills_per_kind: int = typer.Option(5, help="SIGKILLs of each of the 17 process kinds"),
    instances: int = typer.Option(2, help="Processes of every role of every service"),
    seed: int | None = typer.Option(None, help="Random seed (trades, faults)"),
    faults: bool = typer.Option(True, help="Inject faults (off: a baseline run)"),
    check_targets: bool = typer.Option(True, help="Fail on missed recovery/latency targets"),
    json_out: Path = typer.Option(
        Path(".cache/chaos/last-run.json"), "--json", help="Write the figures here"
    ),
    keep_up: bool = typer.Option(False, help="Leave the chaos PostgreSQL and Kafka running"),
) -> None:
    """Drive trades while killing processes and restarting Kafka and PostgreSQL; check every
    cent afterwards. Exits 1 on any discrepancy."""
    opts = Options(
        trades=trades,
        concurrency=concurrency,
        kills_per_kind=kills_per_kind,
        instances=instances,
        seed=seed,
        faults=faults,
        check_targets=check_targets,
        keep_up=keep_up,
    )
    report = asyncio.run(run(opts, say=console.print))
    show(report, console)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    body = {"ok": report.ok, "problems": report.problems, "figures": report.figures}
    json_out.write_text(json.dumps(body, indent=2, default=str))
    if not report.ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
