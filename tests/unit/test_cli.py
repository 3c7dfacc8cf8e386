"""The tradeflow CLI's shape: every service has the four process roles; bad input is refused."""

from __future__ import annotations

from typer.testing import CliRunner

from services.cli import app


def test_every_service_runs_the_four_roles_and_migrates() -> None:
    runner = CliRunner()
    for service in ("escrow", "ledger", "financing"):
        result = runner.invoke(app, [service, "--help"])
        assert result.exit_code == 0
        for role in ("api", "relay", "consume", "timers", "migrate", "parked", "replay"):
            assert role in result.output


def test_a_supplier_key_must_name_its_supplier() -> None:
    result = CliRunner().invoke(
        app, ["apikey", "create", "--tenant", "t", "--scope", "supplier", "--name", "n"],
        env={"TRADEFLOW_ENVIRONMENT": "test"},
    )  # fmt: skip
    assert result.exit_code != 0
    assert "--party" in result.output
