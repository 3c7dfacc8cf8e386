"""Period reports in the console: the income statement and balance sheet of the ledger,
for whole days and one currency, beside the previous period, and their CSV and PDF
passed through from the ledger with the person's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.console.conftest import Browser, raw, signed_in
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_income_statement_and_balance_sheet(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()  # posts an opening bank balance of USD 1,250.00 today
    await stack.adjustment(tenant, {
        "reason": "PSP fee of June", "lines": [
            {"account": "psp_fee_expense", "currency": "USD", "debit": 320},
            {"account": "bank", "currency": "USD", "credit": 320}]})  # fmt: skip
    today = datetime.now(UTC).date()
    period = {"from": str(today - timedelta(days=6)), "to": str(today), "currency": "usd"}
    client = await signed_in(browser, raw(tenant.keys["finance"]))

    page = await client.get("/finance/reports", params={"kind": "income-statement", **period})
    assert page.status_code == 200, page.text
    assert 'data-kind="income-statement"' in page.text and 'data-status="provisional"' in page.text
    assert 'data-code="psp_fee_expense"' in page.text and "\u22123.20" in page.text  # net income
    assert "Previous period" in page.text

    sheet = await client.get("/finance/reports", params={"kind": "balance-sheet", **period})
    assert sheet.status_code == 200 and 'data-code="bank"' in sheet.text
    assert "1,246.80" in sheet.text and "Assets = liabilities + equity + net income" in sheet.text
    api = await stack.ok("ledger", "GET", "/v1/ledger/reports/balance-sheet", tenant.keys["finance"],
                         params={"from": f"{period['from']}T00:00:00Z",
                                 "to": f"{today + timedelta(days=1)}T00:00:00Z", "currency": "USD"})  # fmt: skip
    assert [p["closing"] for p in api["assets"] if p["code"] == "bank"] == [124_680]

    query = f"from={period['from']}&to={period['to']}&currency=USD"
    assert f'href="/finance/reports/balance-sheet.csv?{query.replace("&", "&amp;")}"' in sheet.text
    csv = await client.get(f"/finance/reports/balance-sheet.csv?{query}")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert 'filename="balance-sheet-USD-' in csv.headers["content-disposition"]
    assert csv.content.startswith(b"\xef\xbb\xbfsection,code,number,name,currency,opening,closing")
    assert b"124680" in csv.content
    pdf = await client.get(f"/finance/reports/income-statement.pdf?{query}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


async def test_a_report_refused_or_not_allowed(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    backwards = await client.get("/finance/reports",
                                 params={"from": "2026-06-30", "to": "2026-06-01", "currency": "USD"})  # fmt: skip
    assert backwards.status_code == 422 and "invalid_period" in backwards.text
    malformed = await client.get("/finance/reports", params={"from": "30/06/2026"})
    assert malformed.status_code == 422 and "YYYY-MM-DD" in malformed.text
    unknown = await client.get("/finance/reports/trial.csv")
    assert unknown.status_code == 404
    bad = await client.get("/finance/reports/income-statement.csv",
                           params={"from": "2026-06-30", "to": "2026-06-01"})  # fmt: skip
    assert bad.status_code == 422

    platform = await signed_in(browser, raw(tenant.keys["platform"]))
    r = await platform.get("/finance/reports/income-statement.pdf")
    assert r.status_code == 403 and "%PDF" not in r.text
