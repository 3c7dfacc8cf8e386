"""The demo's three-currency trade (services/demo/fx_trade.py) run in process on the real
stack of test_end_to_end.py: escrow, financing and ledger over real Kafka, real PostgreSQL
and stripe-mock. EUR from the buyer, USD contract, CNY to the supplier: the rates imported,
the quotes used once, the advance paid in CNY at the locked rate less the haircut and repaid
in USD, the releases paid in CNY, every currency's books balanced.

What ``make demo`` does against the running services, without starting any: the demo's
clients are the in-process apps, and each request first relays the outboxes and consumes
the topics (what the services' workers do on their own) on a clock that follows real time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from rich.console import Console

from services.demo.fx_trade import FxTrade
from services.demo.trade import Trade
from shared.settings import Settings
from tests.integration.financing.test_end_to_end import Stack, stack  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration


class InProcessTrade(Trade):
    """The demo's Trade on the stack's in-process clients and keys."""

    def __init__(self, s: Stack, settings: Settings, console: Console) -> None:
        self.s, self.console = settings, console
        self.keys = {
            scope: s.keys[f"escrow-{scope}"] for scope in ("platform", "finance", "supplier")
        }
        self.escrow, self.financing, self.ledger = (
            s.clients[n] for n in ("escrow", "financing", "ledger")
        )
        self.requests: list[tuple[str, str]] = []

        async def workers(request: httpx.Request) -> None:
            s.clock.set(datetime.now(UTC))
            await s.pump()
            self.requests.append((request.method, request.url.path))

        for client in (self.escrow, self.financing, self.ledger):
            client.event_hooks["request"] = [workers]


async def test_the_demos_three_currency_trade_runs_on_the_real_stack(
    stack: Stack,  # noqa: F811 (the fixture imported above)
    migrated: Settings,
) -> None:
    stack.clock.set(datetime.now(UTC))
    settings = stack.containers["escrow"].runtime.settings
    console = Console(record=True, width=220)
    trade = InProcessTrade(stack, settings, console)
    assert await FxTrade(trade).run() is True
    out = console.export_text()
    print(out)
    # the quotes, with their rates; the advance in both currencies; the books' FX lines
    assert "funding quote" in out and "payout quote" in out and "USD/EUR" in out
    assert "CNY" in out and "haircut" in out
    advances = await stack.call("financing", "finance", "GET", "/v1/advances")
    (advance,) = advances["data"]
    assert advance["currency"] == "USD" and advance["payout"]["currency"] == "CNY"
    assert advance["state"] == "repaid" and advance["balance"] == 0
    trial = await stack.call("ledger", "finance", "GET", "/v1/ledger/trial-balance")
    assert {c["currency"] for c in trial["currencies"]} >= {"EUR", "USD", "CNY"}
    assert all(c["difference"] == 0 for c in trial["currencies"])
    fx: Any = [
        line
        for c in trial["currencies"]
        for line in c["lines"]
        if line["account"] in ("fx_clearing", "fx_revenue")
    ]
    assert fx, "the FX lines of the books"
