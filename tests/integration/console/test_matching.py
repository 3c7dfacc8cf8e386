"""Finance sets the matching rules and dry-runs a reconciliation from the console, over the
ledger's own rules and dry-run endpoints."""

from __future__ import annotations

import pytest

from tests.integration.console.conftest import Browser, csrf_of, raw, signed_in
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_finance_sets_rules_typed_in_major_units(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get("/finance/rules")
    assert page.status_code == 200 and "No rules yet" in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "currency": "usd", "amount_tolerance": "0.05",
            "date_window_days": "3", "approval_threshold": "500.00"}  # fmt: skip
    r = await client.post("/finance/rules", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/finance/rules?saved=USD"
    # A raise of the approval threshold waits for a second finance user (maker-checker).
    saved = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/rules",
                           tenant.keys["finance"])  # fmt: skip
    saved = saved["data"] if isinstance(saved, dict) else saved
    assert [(x["approval_threshold"], (x["pending_threshold"] or {}).get("approval_threshold"))
            for x in saved] == [(0, 50_000)]  # fmt: skip
    await stack.ok("ledger", "POST", "/v1/ledger/reconciliation/rules/USD/approve",
                   tenant.keys["all"])  # fmt: skip
    api = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/rules",
                         tenant.keys["finance"])  # fmt: skip
    rules = api["data"] if isinstance(api, dict) else api
    assert [(x["currency"], x["amount_tolerance"], x["date_window_days"],
             x["approval_threshold"]) for x in rules] == [("USD", 5, 3, 50_000)]  # fmt: skip
    shown = await client.get(r.headers["location"])
    row = shown.text.split('data-currency="USD"', 1)[1].split("</tr>", 1)[0]
    assert "USD 0.05" in row and "3 days" in row and "USD 500.00" in row
    # Too many decimals: said beside the form, nothing sent.
    bad = await client.post("/finance/rules", data={**form, "amount_tolerance": "0.001"})
    assert bad.status_code == 422 and "The amount tolerance" in bad.text
    again = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/rules",
                           tenant.keys["finance"])  # fmt: skip
    assert again == api
    assert (await client.post("/finance/rules", data={**form, "csrf_token": ""})).status_code == 403
    ops = await signed_in(browser, raw(tenant.keys["platform"]))
    assert (await ops.get("/finance/rules")).status_code == 403


async def test_finance_dry_runs_against_stripe_and_nothing_is_kept(
    browser: Browser, stack: Stack
) -> None:
    tenant = await stack.prepare()
    before = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks",
                            tenant.keys["finance"], params={"status": "open"})  # fmt: skip
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get("/finance/dry-run")
    assert page.status_code == 200 and 'id="dry-run-form"' in page.text
    r = await client.post("/finance/dry-run", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    assert 'id="dry-run-result"' in r.text and "Stripe rows" in r.text
    assert 'data-count="matched"' in r.text
    after = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks",
                           tenant.keys["finance"], params={"status": "open"})  # fmt: skip
    assert after["data"] == before["data"]
    bad = await client.post("/finance/dry-run", data={"csrf_token": csrf_of(page.text),
                                                      "from": "2026-06-02", "to": "2026-06-01"})  # fmt: skip
    assert bad.status_code == 422 and 'id="error"' in bad.text
