"""Period reports over HTTP on PostgreSQL: posted events and staff postings, the identity
assets = liabilities + equity + net income, the previous period, period close, CSV and PDF."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import Result
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.ledger.entrypoints.cli import app as cli_app
from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import allow_adjustments, funded, post, refunded, released
from tests.support.keys import new_key
from tests.unit.ledger.test_reports import pdf_text

MAY = datetime(2026, 5, 1, tzinfo=UTC)
JUNE = datetime(2026, 6, 1, tzinfo=UTC)
JULY = datetime(2026, 7, 1, tzinfo=UTC)
JUNE_Q = {"from": JUNE.isoformat(), "to": JULY.isoformat(), "currency": "USD"}


async def _fee(api: Api, at: datetime, amount: int, ref: str) -> None:
    r = await api.client.post("/v1/ledger/adjustments", json={
        "reason": "Stripe fee booked", "posted_at": at.isoformat(),
        "lines": [{"account": "psp_fee_expense", "currency": "USD", "debit": amount},
                  {"account": "stripe_clearing", "currency": "USD", "credit": amount,
                   "external_ref": ref}],
    })  # fmt: skip
    assert r.status_code == 201, r.text


async def _book(api: Api, ledger: AsyncEngine) -> None:
    """May: fund o1 100,000.00 and release 30,000.00 (fee 900.00), a 120.00 Stripe fee.
    June: fund o2 50,000.00, release 20,000.00 of o1 (fee 600.00), refund 5,000.00 of o2,
    a 200.00 fee; a EUR funding that the USD reports leave out."""
    t = api.tenant
    await allow_adjustments(api.client, api.identity, api.tenant)
    await post(ledger, funded(t, "o1", 10_000_000, 10_000_000, at=MAY + timedelta(days=2)))
    await post(ledger, released(t, "o1", 3_000_000, 90_000, 0, 7_000_000, at=MAY + timedelta(10)))
    await _fee(api, MAY + timedelta(days=11), 12_000, "ch_o1")
    await post(ledger, funded(t, "o2", 5_000_000, 5_000_000, at=JUNE + timedelta(days=1)))
    await post(
        ledger,
        released(t, "o1", 2_000_000, 60_000, 0, 5_000_000, at=JUNE + timedelta(days=3),
                 milestone_id="m2", stripe_transfer_id="tr_o1_m2"),
    )  # fmt: skip
    await post(ledger, refunded(t, "o2", 500_000, 4_500_000, at=JUNE + timedelta(days=4)))
    await _fee(api, JUNE + timedelta(days=5), 20_000, "ch_o2")
    await post(ledger, funded(t, "o3", 777, 777, at=JUNE + timedelta(days=6), currency="EUR"))


def _codes(lines: list[dict[str, Any]], field: str) -> dict[str, int]:
    return {x["code"]: x[field] for x in lines}


async def test_reports_of_posted_books_balance_and_compare_with_the_previous_period(
    api: Api, ledger: AsyncEngine
) -> None:
    await _book(api, ledger)
    r = await api.client.get("/v1/ledger/reports/income-statement", params=JUNE_Q)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["previous_period"] == {"start": "2026-05-02T00:00:00Z", "end": "2026-06-01T00:00:00Z"}
    assert _codes(s["income"], "amount") == {"platform_fee_revenue": 60_000}
    assert _codes(s["income"], "previous_amount") == {"platform_fee_revenue": 90_000}
    assert _codes(s["expenses"], "amount") == {"psp_fee_expense": 20_000}
    assert s["net_income"] == {
        "code": "net_income",
        "number": "",
        "name": "Net income",
        "amount": 40_000,
        "previous_amount": 78_000,
        "change": -38_000,
    }
    assert s["status"] == "provisional" and s["closed_through"] is None  # fmt: skip

    b = (await api.client.get("/v1/ledger/reports/balance-sheet", params=JUNE_Q)).json()
    assets, liabilities = b["total_assets"], b["total_liabilities"]
    # Clearing at June's end: 100,000 - 29,100 payout - 120 fee + 50,000 - 19,400 - 5,000 - 200.
    assert _codes(b["assets"], "closing") == {"stripe_clearing": 9_618_000}
    assert _codes(b["assets"], "opening") == {"stripe_clearing": 7_078_000}
    assert _codes(b["liabilities"], "closing") == {"escrow_held": 9_500_000, "supplier_payable": 0}
    assert b["equity"]["closing"] == 78_000 and b["net_income"] == 40_000
    assert assets["closing"] == liabilities["closing"] + b["equity"]["closing"] + b["net_income"]
    assert assets["opening"] == liabilities["opening"] + b["equity"]["opening"]
    assert b["closing_difference"] == 0 and b["opening_difference"] == 0
    assert (assets["previous_opening"], assets["previous_closing"]) == (0, 7_078_000)
    eur = {**JUNE_Q, "currency": "EUR"}
    e = (await api.client.get("/v1/ledger/reports/balance-sheet", params=eur)).json()
    assert e["total_assets"]["closing"] == 777 and e["closing_difference"] == 0


async def test_a_closed_period_report_is_final_and_a_late_event_lands_in_the_open_one(
    api: Api, ledger: AsyncEngine
) -> None:
    await _book(api, ledger)
    may = {"from": MAY.isoformat(), "to": JUNE.isoformat(), "currency": "USD"}
    before = (await api.client.get("/v1/ledger/reports/income-statement", params=may)).json()
    r = await api.client.post("/v1/ledger/periods/close",
                              json={"through": JUNE.isoformat(), "reason": "May"})  # fmt: skip
    assert r.status_code == 201
    late = released(api.tenant, "o1", 1_000_000, 30_000, 0, 4_000_000,
                    at=JUNE - timedelta(days=2), milestone_id="m3", stripe_transfer_id="tr_m3")  # fmt: skip
    await post(ledger, late)  # dated in closed May: re-dated to June 1
    after = (await api.client.get("/v1/ledger/reports/income-statement", params=may)).json()
    assert after["status"] == "final" and after["closed_through"] == "2026-06-01T00:00:00Z"
    assert {k: v for k, v in after.items() if k not in ("status", "closed_through")} == {
        k: v for k, v in before.items() if k not in ("status", "closed_through")
    }
    june = (await api.client.get("/v1/ledger/reports/income-statement", params=JUNE_Q)).json()
    assert june["net_income"]["amount"] == 40_000 + 30_000 and june["status"] == "provisional"
    sheet = (await api.client.get("/v1/ledger/reports/balance-sheet", params=JUNE_Q)).json()
    assert sheet["closing_difference"] == 0


async def test_csv_and_pdf_carry_the_figures(api: Api, ledger: AsyncEngine) -> None:
    await _book(api, ledger)
    r = await api.client.get("/v1/ledger/reports/balance-sheet", params={**JUNE_Q, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert (
        'filename="balance-sheet-USD-20260601T000000-20260701T000000.csv"'
        in (r.headers["content-disposition"])
    )
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(r.text.lstrip("\ufeff")))}
    assert rows["total_assets"]["closing"] == "9618000"
    assert rows["total_liabilities_and_equity"]["closing"] == "9618000"
    assert rows["net_income"]["closing"] == "40000"
    income = await api.client.get(
        "/v1/ledger/reports/income-statement", params={**JUNE_Q, "format": "csv"}
    )
    assert "net_income,net_income,,Net income,USD,40000,78000,-38000" in income.text

    pdf = await api.client.get(
        "/v1/ledger/reports/balance-sheet", params={**JUNE_Q, "format": "pdf"}
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    text = pdf_text(pdf.content)
    for figure in ("96,180.00", "95,000.00", "780.00", "400.00", api.tenant, "provisional"):
        assert figure in text, figure
    ipdf = await api.client.get(
        "/v1/ledger/reports/income-statement", params={**JUNE_Q, "format": "pdf"}
    )
    assert ipdf.content.startswith(b"%PDF-") and "Income statement" in pdf_text(ipdf.content)
    assert "600.00" in pdf_text(ipdf.content) and "-380.00" in pdf_text(ipdf.content)


async def test_refusals(api: Api, identity: AsyncEngine) -> None:
    path = "/v1/ledger/reports/balance-sheet"
    r = await api.client.get(path, params={**JUNE_Q, "to": JUNE.isoformat()})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period"
    r = await api.client.get(path, params={**JUNE_Q, "currency": "XXQ"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await api.client.get(path, params={**JUNE_Q, "format": "xlsx"})
    assert r.status_code == 422
    platform = await new_key(identity, api.tenant, ["platform"], "p")
    r = await api.client.get(path, params=JUNE_Q, headers={"Authorization": f"Bearer {platform}"})
    assert r.status_code == 403


async def test_the_cli_writes_each_report_in_each_format_to_a_file(
    api: Api, ledger: AsyncEngine, tmp_path: Path
) -> None:
    """``tradeflow ledger report``: the API's figures, written to --out (json, csv, pdf)."""
    await _book(api, ledger)
    url = ledger.url.render_as_string(hide_password=False)
    env = {"TRADEFLOW_ENVIRONMENT": "test"}

    async def cli(*args: str) -> Result:
        base = ["report", *args, "--tenant", api.tenant, "--currency", "usd",
                "--from", "2026-06-01T00:00:00", "--to", "2026-07-01T00:00:00+00:00",
                "--database-url", url]  # fmt: skip
        return await asyncio.to_thread(CliRunner().invoke, cli_app, base, env=env)

    done = await cli("balance-sheet", "--format", "json", "--out", str(tmp_path / "b.json"))
    assert done.exit_code == 0, done.output
    sheet = json.loads((tmp_path / "b.json").read_text())
    api_sheet = (await api.client.get("/v1/ledger/reports/balance-sheet", params=JUNE_Q)).json()
    assert sheet == api_sheet and sheet["closing_difference"] == 0
    done = await cli("income-statement", "--format", "csv", "--out", str(tmp_path / "i.csv"))
    assert done.exit_code == 0, done.output
    text = (tmp_path / "i.csv").read_text(encoding="utf-8-sig")
    assert "net_income,net_income,,Net income,USD,40000,78000,-38000" in text
    done = await cli("balance-sheet", "--format", "pdf", "--out", str(tmp_path / "b.pdf"))
    assert done.exit_code == 0, done.output
    pdf = (tmp_path / "b.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and "96,180.00" in pdf_text(pdf)
    # a reversed period is refused and writes nothing
    bad = await asyncio.to_thread(
        CliRunner().invoke, cli_app,
        ["report", "income-statement", "--tenant", api.tenant, "--currency", "USD",
         "--from", "2026-07-01", "--to", "2026-06-01", "--out", str(tmp_path / "x.json"),
         "--database-url", url], env=env,
    )  # fmt: skip
    assert bad.exit_code == 2 and not (tmp_path / "x.json").exists()
