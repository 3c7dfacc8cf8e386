"""The figures of a chaos run, as a person reads them."""

from __future__ import annotations

import json

from rich.console import Console

from tests.chaos.run import Report


def show(report: Report, console: Console) -> None:
    f = report.figures
    console.rule("chaos run")
    for key in (
        "trades",
        "seconds",
        "processes",
        "cpu_seconds",
        "kills",
        "outages",
        "events",
        "kafka",
        "webhooks",
        "advances",
        "redeliveries_absorbed",
        "partition_assignments",
        "interrupted_writes",
        "unrecovered_writes",
        "clean_writes",
        "slowest_recoveries",
        "server_errors_during_db_restart",
        "release_latency_after_window",
        "ledger_tools",
        "ordering_checked",
        "escrow_held_orders_checked",
        "books_checked",
        "requests",
        "replayed",
        "statuses",
    ):
        if key in f:
            console.print(f"[bold]{key}[/]: {json.dumps(f[key], default=str)}")
    if report.ok:
        console.print("[green]every check held[/]")
    else:
        console.print(f"[red]{len(report.problems)} discrepancies[/]")
        for p in report.problems[:50]:
            console.print(f"  [red]✗[/] {p}")
