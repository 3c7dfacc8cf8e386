"""The short chaos run inside `make test`: a few hundred trades while every process kind is
killed once (the webhooks service's five among them, its deliveries checked at a real
receiver) and Kafka and PostgreSQL each restart once. `make chaos` is the full run."""

from __future__ import annotations

import json
import os

import pytest

from tests.chaos.report import show
from tests.chaos.run import Options, run

pytestmark = pytest.mark.chaos

TRADES = int(os.environ.get("TRADEFLOW_CHAOS_TRADES", "200"))


async def test_no_cent_is_lost_while_processes_die_and_servers_restart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = await run(Options(trades=TRADES, concurrency=40, kills_per_kind=1))
    with capsys.disabled():
        from rich.console import Console

        show(report, Console())
    assert report.figures["kills"] and min(report.figures["kills"].values()) >= 1
    assert {o["what"] for o in report.figures["outages"]} == {"kafka", "postgres"}
    # The webhooks service ran, was killed like the rest, and its receiver heard the trades.
    assert {"webhooks-deliver", "webhooks-consume"} <= set(report.figures["kills"])
    hooks = report.figures["webhooks"]
    assert hooks["events_expected"] > 0 and hooks["answered_500"] > 0
    assert report.ok, json.dumps(report.problems[:20], indent=1)
