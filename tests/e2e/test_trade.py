"""The main job: a full cross-border trade across the three services running as processes."""

from __future__ import annotations

from rich.console import Console

from services.demo.trade import run_trade
from shared.settings import Settings


async def test_a_full_trade_with_an_advance_balances_the_ledger(running_services: Settings) -> None:
    console = Console(record=True, width=120)
    assert await run_trade(running_services, console), console.export_text()
    out = console.export_text()
    assert "disbursed 26,236.87" in out or "disbursed 26236.87" in out
    assert "Ledger balanced to the cent." in out
