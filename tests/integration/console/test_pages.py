"""The console's pages through its app in process, against the real services' apps: what
each role sees, and that it sees no more than its key lets it through the APIs."""

from __future__ import annotations

import csv
import io
import re

import pytest

from services.console.adapters.cookies import COOKIE
from tests.integration.console.conftest import (
    Browser,
    csrf_of,
    funded_order,
    post_to_ledger,
    raw,
    sign_in,
    signed_in,
)
from tests.support.stack import Stack, Tenant, order_body

pytestmark = pytest.mark.integration


async def test_signing_in_sets_a_strict_httponly_secure_cookie(
    browser: Browser, prepared: Tenant
) -> None:
    client = browser()
    r = await sign_in(client, raw(prepared.keys["finance"]))
    assert r.status_code == 303 and r.headers["location"] == "/finance/trial-balance"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert raw(prepared.keys["finance"]) not in cookie


async def test_an_unknown_or_revoked_key_does_not_sign_in(
    browser: Browser, prepared: Tenant
) -> None:
    for key in (raw(prepared.keys["revoked"]), "tf_" + "x" * 43):
        r = await sign_in(browser(), key)
        assert r.status_code == 401
        assert "unknown, revoked or expired" in r.text


async def test_a_post_without_the_sessions_csrf_token_is_refused(
    browser: Browser, prepared: Tenant
) -> None:
    client = browser()
    await client.get("/sign-in")
    key = raw(prepared.keys["finance"])
    assert (await client.post("/sign-in", data={"api_key": key})).status_code == 403
    bad = {"api_key": key, "csrf_token": "forged"}
    assert (await client.post("/sign-in", data=bad)).status_code == 403
    # Another visitor's token is no good either.
    other = browser()
    token = csrf_of((await other.get("/sign-in")).text)
    r = await client.post("/sign-in", data={"api_key": key, "csrf_token": token})
    assert r.status_code == 403
    signed = await signed_in(browser, key)
    assert (await signed.post("/sign-out", data={})).status_code == 403
    assert (await signed.get("/finance/trial-balance")).status_code == 200


async def test_pages_need_a_session_and_sign_out_ends_it(
    browser: Browser, prepared: Tenant
) -> None:
    anonymous = browser()
    r = await anonymous.get("/finance/trial-balance")
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in?next=")
    client = await signed_in(browser, raw(prepared.keys["finance"]))
    page = await client.get("/finance/trial-balance")
    r = await client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert (await client.get("/finance/trial-balance")).status_code == 303


async def test_finance_sees_the_trial_balance_and_drills_down_to_the_statement(
    browser: Browser, prepared: Tenant
) -> None:
    client = await signed_in(browser, raw(prepared.keys["finance"]))
    tb = await client.get("/finance/trial-balance")
    assert tb.status_code == 200
    assert "USD" in tb.text and "balanced" in tb.text
    assert "1,250.00" in tb.text  # the prepared adjustment: bank Dr USD 1,250.00
    drill = await client.get("/finance/accounts", params={"code": "bank", "currency": "USD"})
    assert drill.status_code == 303
    statement = await client.get(drill.headers["location"])
    assert statement.status_code == 200
    assert "Bank" in statement.text and "adjustment" in statement.text
    assert "USD 1,250.00" in statement.text  # the closing balance


async def test_a_trial_balance_before_anything_was_posted_is_the_empty_state(
    browser: Browser, prepared: Tenant
) -> None:
    client = await signed_in(browser, raw(prepared.keys["finance"]))
    tb = await client.get("/finance/trial-balance", params={"as_of": "2000-01-01"})
    assert tb.status_code == 200 and "No postings yet" in tb.text


async def test_the_statement_csv_opens_in_a_spreadsheet(browser: Browser, prepared: Tenant) -> None:
    client = await signed_in(browser, raw(prepared.keys["finance"]))
    account = prepared.objects["account_id"]
    r = await client.get(f"/finance/accounts/{account}/statement.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows, "a header and at least the prepared posting"
    assert {row["currency"] for row in rows} == {"USD"}
    assert rows[-1]["balance"] in ("1250.00", "-1250.00")


async def test_another_tenants_pages_are_not_found(
    browser: Browser, prepared: Tenant, intruder: Tenant
) -> None:
    client = await signed_in(browser, raw(intruder.keys["all"]))
    for path in (
        f"/finance/accounts/{prepared.objects['account_id']}/statement",
        f"/finance/accounts/{prepared.objects['account_id']}/statement.csv",
        f"/orders/{prepared.objects['order_id']}",
        f"/supplier/advances/{prepared.objects['advance_id']}",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert "Not found" in r.text
    # and its own pages are there
    mine = await client.get(f"/orders/{intruder.objects['order_id']}")
    assert mine.status_code == 200


async def test_the_apis_scopes_decide_what_a_session_may_see(
    browser: Browser, prepared: Tenant
) -> None:
    supplier = await signed_in(browser, raw(prepared.keys["supplier"]))
    assert (await supplier.get("/finance/trial-balance")).status_code == 403
    other = await signed_in(browser, raw(prepared.keys["other_supplier"]))
    # The prepared order is supplier-shenzhen's: to supplier-dongguan it does not exist.
    assert (await other.get(f"/orders/{prepared.objects['order_id']}")).status_code == 404


async def test_operations_filters_orders_and_reads_an_order(
    browser: Browser, stack: Stack, prepared: Tenant
) -> None:
    client = await signed_in(browser, raw(prepared.keys["platform"]))
    oid = prepared.objects["order_id"]
    listed = await client.get("/orders", params={"status": "funded"})
    assert listed.status_code == 200 and oid in listed.text
    none = await client.get("/orders", params={"status": "cancelled"})
    assert oid not in none.text and "No orders match these filters" in none.text
    # Currency and external reference: escrow's own filters, typed as a person would.
    usd = await client.get("/orders", params={"currency": " usd ", "status": "funded"})
    assert oid in usd.text and 'value="USD"' in usd.text
    eur = await client.get("/orders", params={"currency": "EUR", "status": "funded"})
    assert oid not in eur.text
    unknown = await client.get("/orders", params={"currency": "ABC"})
    assert unknown.status_code == 422 and "ABC is not an ISO 4217 currency" in unknown.text
    rows = await client.get("/orders", params={"currency": "ABC"},
                            headers={"hx-target": "order-rows"})  # fmt: skip
    assert rows.status_code == 422 and rows.text.lstrip().startswith('<div id="order-rows">')
    ref = f"PO-{oid[-8:]}"
    r = await client.get("/orders", params={"external_reference": ref})
    assert oid not in r.text and "No orders match these filters" in r.text
    theirs = await stack.ok("escrow", "POST", "/v1/orders", prepared.keys["platform"],
                            json={**order_body(), "external_reference": ref})  # fmt: skip
    r = await client.get("/orders", params={"external_reference": f" {ref} "})
    assert theirs["order_id"] in r.text and oid not in r.text
    page = await client.get(f"/orders/{oid}")
    assert page.status_code == 200
    assert "USD 1,000.00" in page.text  # the total, 100,000 minor units
    assert "escrow.order_created" in page.text or "order_created" in page.text
    assert "apikey:" in page.text  # the timeline's actors


async def test_a_supplier_gets_an_offer_and_accepts_it(
    browser: Browser, stack: Stack, prepared: Tenant
) -> None:
    order = await funded_order(stack, prepared)
    oid = order["order_id"]
    client = await signed_in(browser, raw(prepared.keys["supplier"]))
    desk = await client.get("/supplier")
    assert desk.status_code == 200 and oid in desk.text and "Get an offer" in desk.text
    token = csrf_of(desk.text)
    assert (await client.post(f"/supplier/orders/{oid}/offer", data={})).status_code == 403
    r = await client.post(f"/supplier/orders/{oid}/offer", data={"csrf_token": token})
    assert r.status_code == 303, r.text
    advance_id = r.headers["location"].split("offered=")[1]
    desk = await client.get(r.headers["location"])
    advance = await stack.ok("financing", "GET", f"/v1/advances/{advance_id}",
                             prepared.keys["supplier"])  # fmt: skip
    assert advance["state"] == "offered"
    from services.console.domain.formatting import money, percent

    for figure in (money(advance["net"], "USD"), money(advance["fee"], "USD"),
                   percent(advance["apr"])):  # fmt: skip
        assert figure in desk.text
    # The headroom beside it: what can still be advanced, the most an offer is (the principal).
    room = await stack.ok("financing", "GET", f"/v1/orders/{oid}/headroom",
                          prepared.keys["supplier"])  # fmt: skip
    assert room["available"] == advance["principal"] and room["binding"] == "advance_rate"
    cell = desk.text.split(f'data-order="{oid}"', 1)[1].split("</tr>", 1)[0]
    assert money(advance["principal"], "USD") in cell and "set by the advance rate" in cell
    r = await client.post(f"/supplier/advances/{advance_id}/accept",
                          data={"csrf_token": token})  # fmt: skip
    assert r.status_code == 303
    after = await stack.ok("financing", "GET", f"/v1/advances/{advance_id}",
                           prepared.keys["supplier"])  # fmt: skip
    assert after["state"] == "accepted"
    again = await client.post(f"/supplier/advances/{advance_id}/accept",
                              data={"csrf_token": token})  # fmt: skip
    assert again.status_code == 409 and 'role="alert"' in again.text
    # Accepted, not yet disbursed: nothing to repay early; asked anyway, financing's refusal
    # is shown on the advance's own page, and the order's headroom is now none.
    page = await client.get(f"/supplier/advances/{advance_id}")
    assert page.status_code == 200 and 'id="repay-early"' not in page.text
    early = await client.post(f"/supplier/advances/{advance_id}/repay-early",
                              data={"csrf_token": token})  # fmt: skip
    assert early.status_code == 409 and 'id="error"' in early.text, early.text
    desk = await client.get("/supplier")
    cell = desk.text.split(f'data-order="{oid}"', 1)[1].split("</tr>", 1)[0]
    assert "advance taken" in cell


async def test_an_orders_page_shows_finance_the_ledger_postings_of_its_events(
    browser: Browser, stack: Stack, prepared: Tenant
) -> None:
    order = await funded_order(stack, prepared)
    oid = order["order_id"]
    await post_to_ledger(stack, oid)
    finance = await signed_in(browser, raw(prepared.keys["finance"]))
    page = await finance.get(f"/orders/{oid}")
    assert page.status_code == 200
    assert 'class="grid postings"' in page.text
    assert "escrow_held" in page.text and "USD 100,000.00" in page.text
    platform = await signed_in(browser, raw(prepared.keys["platform"]))
    page = await platform.get(f"/orders/{oid}")
    assert page.status_code == 200
    assert 'class="grid postings"' not in page.text
    assert "shown to finance keys" in page.text


async def test_an_oversized_form_is_refused_before_anything_is_read(
    browser: Browser, prepared: Tenant
) -> None:
    client = browser()
    token = csrf_of((await client.get("/sign-in")).text)
    r = await client.post("/sign-in", data={"api_key": "x" * 20_000, "csrf_token": token})
    assert r.status_code == 413


async def test_trends_show_this_months_escrow_held_and_fee_revenue(
    browser: Browser, stack: Stack
) -> None:
    tenant = await stack.prepare()
    order = await funded_order(stack, tenant)
    await post_to_ledger(stack, order["order_id"])
    await stack.adjustment(tenant, {
        "reason": "fee billed by hand",
        "lines": [{"account": "bank", "currency": "USD", "debit": 2_500},
                  {"account": "platform_fee_revenue", "currency": "USD", "credit": 2_500}],
    })  # fmt: skip
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get("/finance/trends", params={"months": 3})
    assert page.status_code == 200
    rows = re.findall(
        r'<tr data-month="([^"]+)" data-escrow="(-?\d+)" data-fees="(-?\d+)"', page.text
    )
    assert len(rows) == 3
    assert rows[-1][1:] == ("10000000", "2500")  # this month: USD 100,000.00 held, 25.00 fees
    assert (
        "100,000.00" in page.text and "chart-4.5.1.umd.min.js" in page.text
    )  # vendored, same origin
