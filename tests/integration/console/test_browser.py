"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright's
Python API; ``make browser`` installs it, Playwright never downloads a browser).

The console runs under uvicorn on a free port of this loop, in front of the three services'
real apps; Chromium loads its pages, runs its htmx and its scripts, keeps its cookie.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright import async_api as playwright_api

from services.demo.console import sign_in_link
from tests.integration.console.conftest import funded_order, more_breaks, post_to_ledger, raw
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration
CHROMIUM = os.environ.get("TRADEFLOW_CHROMIUM", "/usr/bin/chromium")
# `make screenshots` sets this: each view the tests reach is saved there as a PNG.
SCREENSHOTS = os.environ.get("TRADEFLOW_SCREENSHOTS")


async def shot(page: object, name: str) -> None:
    if SCREENSHOTS:
        await page.wait_for_timeout(400)  # past the loading indicator's fade
        await page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)  # type: ignore[attr-defined]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
async def console_url(console_app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(console_app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn's Server offers no event to await)
        await asyncio.sleep(0.05)
    # localhost: a secure context for Chromium, so it keeps the console's Secure cookie.
    yield f"http://localhost:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[object]:
    found = await asyncio.to_thread(os.path.exists, CHROMIUM)
    assert found, f"{CHROMIUM} missing: run `make browser` (Debian's chromium)"
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox"])  # fmt: skip
        yield browser
        await browser.close()


async def signed_in_page(chromium: object, url: str, key: str) -> object:
    context = await chromium.new_context(  # type: ignore[attr-defined]
        accept_downloads=True, viewport={"width": 1280, "height": 800}
    )
    page = await context.new_page()
    await page.goto(f"{url}/sign-in")
    await shot(page, "sign-in")
    await page.fill("#api_key", key)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def test_finance_reads_the_trial_balance_and_downloads_the_statement(
    chromium: object, console_url: str, prepared: Tenant
) -> None:
    page = await signed_in_page(chromium, console_url, raw(prepared.keys["finance"]))
    await page.wait_for_selector("section[data-currency=USD]")
    usd = page.locator("section[data-currency=USD]")
    assert "balanced" in await usd.locator("h2").inner_text()
    bank = usd.locator("tr[data-account=bank]")
    assert (await bank.locator("td.debit").inner_text()).strip() == "1,250.00"
    # The moment is shown in the viewer's zone, with UTC on hover.
    title = await page.locator("time").first.get_attribute("title")
    assert title and title.endswith(" UTC")
    await shot(page, "trial-balance")
    await bank.locator("a").click()
    await page.wait_for_selector("#statement")
    await shot(page, "statement")
    closing = (await page.locator("#closing").inner_text()).strip()
    async with page.expect_download() as info:
        await page.click("#download-csv")
    download = await info.value
    saved = await download.path()
    text = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and rows[0]["currency"] == "USD"
    assert download.suggested_filename.endswith(".csv")
    # The spreadsheet's last running balance is the page's closing balance.
    assert closing == f"USD {float(rows[-1]['balance']):,.2f}".replace("-", "\u2212")
    await page.context.close()


async def test_a_supplier_accepts_an_advance_in_one_click(
    chromium: object, console_url: str, stack: Stack, prepared: Tenant
) -> None:
    order = await funded_order(stack, prepared)
    oid = order["order_id"]
    page = await signed_in_page(chromium, console_url, raw(prepared.keys["supplier"]))
    row = page.locator(f'tr[data-order="{oid}"]')
    await row.get_by_role("button", name="Get an offer").click()
    accept = row.get_by_role("button", name="Accept")
    await accept.wait_for()
    await shot(page, "supplier-offer")
    net = (await row.locator(".offer-net").inner_text()).strip()
    assert net.startswith("USD ")
    await accept.click()
    await page.wait_for_selector("#accepted")
    await shot(page, "supplier-accepted")
    advances = await stack.ok("financing", "GET", "/v1/advances", prepared.keys["supplier"])
    mine = [a for a in advances["data"] if a["order_id"] == oid]
    assert [a["state"] for a in mine] == ["accepted"]
    assert net == f"USD {mine[0]['net'] / 100:,.2f}"
    await page.context.close()


async def test_another_tenants_order_is_a_404_in_the_browser(
    chromium: object, console_url: str, prepared: Tenant, intruder: Tenant
) -> None:
    page = await signed_in_page(chromium, console_url, raw(intruder.keys["platform"]))
    response = await page.goto(f"{console_url}/orders/{prepared.objects['order_id']}")
    assert response is not None and response.status == 404
    assert await page.locator("h1").inner_text() == "Not found"
    await shot(page, "not-found")
    await page.context.close()


async def test_operations_filters_the_orders_and_follows_one(
    chromium: object, console_url: str, stack: Stack, prepared: Tenant
) -> None:
    order = await funded_order(stack, prepared)
    oid = order["order_id"]
    page = await signed_in_page(chromium, console_url, raw(prepared.keys["platform"]))
    assert page.url.endswith("/orders")
    # The filter refreshes the table in place (htmx) and keeps the URL.
    await page.select_option("select[name=status]", "funded")
    await page.wait_for_url("**/orders?*status=funded*")
    link = page.get_by_role("link", name=oid)
    await link.wait_for()
    await shot(page, "orders")
    await page.select_option("select[name=status]", "cancelled")
    await page.get_by_text("No orders match these filters").wait_for()
    await page.goto(f"{console_url}/orders/{oid}")
    steps = page.locator("ol.progress li")
    assert await steps.count() == 3
    api = await stack.ok("escrow", "GET", f"/v1/orders/{oid}", prepared.keys["platform"])
    shown = [await steps.nth(i).get_attribute("data-status") for i in range(3)]
    assert shown == [m["status"] for m in api["milestones"]]
    assert "USD 100,000.00" in await page.locator("dl.facts").inner_text()
    assert await page.locator("ol.timeline li").count() >= 2
    await shot(page, "order")
    await page.context.close()


async def test_finance_resolves_a_break(chromium: object, console_url: str, stack: Stack) -> None:
    tenant = await stack.prepare()  # its own break: the shared tenants' stay open
    break_id = tenant.objects["break_id"]
    page = await signed_in_page(chromium, console_url, raw(tenant.keys["finance"]))
    await page.get_by_role("link", name="Breaks").click()
    row = page.locator(f'tr[data-break="{break_id}"]')
    await row.wait_for()
    await shot(page, "breaks")
    await row.locator("input[name=resolution]").fill("matched to payout po_123 by hand")
    await row.get_by_role("button", name="Resolve").click()
    await page.wait_for_selector("#done")
    assert await page.get_by_text("No open breaks").count() == 1
    api = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks",
                         tenant.keys["finance"], params={"status": "resolved"})  # fmt: skip
    assert [b["resolution"] for b in api["data"]] == ["matched to payout po_123 by hand"]
    await page.context.close()


async def test_finance_sees_the_trends_drawn(
    chromium: object, console_url: str, stack: Stack
) -> None:
    tenant = await stack.prepare()
    order = await funded_order(stack, tenant)
    await post_to_ledger(stack, order["order_id"])
    page = await signed_in_page(chromium, console_url, raw(tenant.keys["finance"]))
    await page.get_by_role("link", name="Trends").click()
    await page.wait_for_selector("canvas#chart-escrow[data-drawn='1']")
    drawn = await page.evaluate(
        "['chart-escrow', 'chart-income'].map(id => Chart.getChart(id).data.datasets.length)"
    )
    assert drawn == [1, 2]
    held = await page.evaluate("Chart.getChart('chart-escrow').data.datasets[0].data.at(-1)")
    assert held == 100_000  # USD 100,000.00, in major units for the axis
    await shot(page, "trends")
    await page.context.close()


async def test_finance_works_a_break_with_a_second_approver(
    chromium: object, console_url: str, stack: Stack
) -> None:
    tenant = await stack.prepare()
    break_id = tenant.objects["break_id"]
    maker = await signed_in_page(chromium, console_url, raw(tenant.keys["finance"]))
    await maker.get_by_role("link", name="Breaks").click()
    await maker.locator(f'tr[data-break="{break_id}"]').get_by_role("link", name=break_id).click()
    await maker.wait_for_selector("#break")
    await maker.fill("textarea[name=body]", "Stripe fee on the charge was never booked")
    await maker.get_by_role("button", name="Add comment").click()
    await maker.wait_for_selector("#comments li")
    form = maker.locator("#resolve")
    await form.locator("input[name=reason]").fill("PSP fee never booked")
    await form.locator("input[name=debit_account]").fill("psp_fee_expense")
    await form.locator("input[name=credit_account]").fill("stripe_clearing")
    await form.locator("input[name=amount]").fill("0.30")
    await form.locator("input[name=external_ref]").fill(f"ch_{tenant.id}")
    await form.get_by_role("button", name="Resolve").click()
    await maker.wait_for_selector("#waiting")
    await shot(maker, "break-pending")
    await maker.click("#approve")
    error = maker.locator("#error[data-code=same_user_approval]")
    await error.wait_for()
    assert "cannot approve your own adjustment" in await error.inner_text()
    await shot(maker, "break-same-user")

    checker = await signed_in_page(chromium, console_url, raw(tenant.keys["all"]))
    await checker.goto(f"{console_url}/finance/breaks")
    await checker.locator(f'li[data-pending="{break_id}"] a').click()
    await checker.click("#approve")
    await checker.wait_for_selector("#resolution[data-status=applied]")
    assert (
        "Stripe fee on the charge was never booked"
        in await checker.locator("#comments").inner_text()
    )
    await shot(checker, "break-approved")
    flow = await stack.ok("ledger", "GET",
                          f"/v1/ledger/reconciliation/breaks/{break_id}/workflow",
                          tenant.keys["finance"])  # fmt: skip
    assert flow["break"]["status"] == "resolved"
    assert flow["resolution"]["checker"] == f"apikey:{tenant.id}-all"
    await maker.context.close()
    await checker.context.close()


async def test_finance_reads_a_period_report_and_downloads_it(
    chromium: object, console_url: str, prepared: Tenant
) -> None:
    page = await signed_in_page(chromium, console_url, raw(prepared.keys["finance"]))
    await page.get_by_role("link", name="Reports").click()
    await page.select_option("select[name=kind]", "balance-sheet")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_selector("#report[data-kind=balance-sheet]")
    assert "1,250.00" in await page.locator("tr[data-code=bank]").inner_text()
    await shot(page, "balance-sheet")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    assert text.startswith("section,code,number,name,currency,opening,closing")
    assert download.suggested_filename.startswith("balance-sheet-USD-")
    await page.context.close()


async def test_finance_bulk_resolves_ticked_breaks(
    chromium: object, console_url: str, stack: Stack
) -> None:
    """The checkboxes belong to the bulk form through its ``form`` attribute: boosted by
    htmx, the submission still carries them."""
    tenant = await stack.prepare()
    first = int(tenant.objects["break_id"])
    others = await more_breaks(stack, tenant, 1)
    page = await signed_in_page(chromium, console_url, raw(tenant.keys["finance"]))
    await page.goto(f"{console_url}/finance/breaks")
    for b in (first, *others):
        await page.check(f"input[name=break_{b}]")
    await page.fill("input[name=reason][form=bulk]", "payout batch of June")
    await page.get_by_role("button", name="Resolve ticked").click()
    await page.get_by_text("2 breaks resolved").wait_for()
    api = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks",
                         tenant.keys["finance"], params={"status": "resolved"})  # fmt: skip
    assert sorted(b["id"] for b in api["data"]) == sorted([first, *others])
    await page.context.close()


async def test_a_newcomer_opens_each_roles_sign_in_link_once(
    chromium: object, console_url: str, prepared: Tenant
) -> None:
    """What `make demo` prints: one link per role, made by the demo's own code against the
    running console; each opens its role's view, once."""
    async with httpx.AsyncClient(timeout=10) as client:
        links = {
            role: (await sign_in_link(client, console_url, raw(prepared.keys[role])))[0]
            for role in ("finance", "platform", "supplier")
        }
    landing = {"finance": "/finance/trial-balance", "platform": "/orders", "supplier": "/supplier"}
    for role, link in links.items():
        context = await chromium.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
        page = await context.new_page()
        await page.goto(link)
        if role == "finance":
            await shot(page, "sign-in-link")
        await page.click("#continue")
        await page.wait_for_load_state("networkidle")
        assert page.url == f"{console_url}{landing[role]}", (role, page.url)
        await context.close()
    context = await chromium.new_context()  # type: ignore[attr-defined]
    page = await context.new_page()
    response = await page.goto(links["finance"])
    assert response is not None and response.status == 410
    assert "already used" in await page.locator("h1").inner_text()
    await shot(page, "sign-in-link-used")
    await context.close()


async def test_finance_follows_a_reconciliation_run_to_its_counts(
    chromium: object, console_url: str, stack: Stack
) -> None:
    tenant = await stack.prepare()
    page = await signed_in_page(chromium, console_url, raw(tenant.keys["finance"]))
    await page.goto(f"{console_url}/finance/breaks")
    await page.get_by_role("button", name="Reconcile with Stripe now").click()
    await page.wait_for_url("**/finance/breaks/runs/*")
    # htmx polls the status fragment every second until the run has ended.
    await page.wait_for_selector("#run-status[data-status=succeeded]", timeout=30_000)
    assert "Stripe rows read" in await page.locator("#run-result").inner_text()
    assert await page.locator("#run-counts tr[data-count=matched]").count() == 1
    await shot(page, "reconciliation-run")
    await page.context.close()


async def test_finance_sets_a_rule_and_dry_runs_it(
    chromium: object, console_url: str, stack: Stack
) -> None:
    tenant = await stack.prepare()
    page = await signed_in_page(chromium, console_url, raw(tenant.keys["finance"]))
    await page.get_by_role("link", name="Rules").click()
    await page.wait_for_selector("#rules-form")
    await page.fill("#rules-form input[name=amount_tolerance]", "0.05")
    await page.fill("#rules-form input[name=date_window_days]", "3")
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_selector("#saved")
    assert "USD 0.05" in await page.locator("#rules tr[data-currency=USD]").inner_text()
    await shot(page, "matching-rules")
    await page.get_by_role("link", name="Try them: dry run").click()
    await page.wait_for_selector("#dry-run-form")
    await page.get_by_role("button", name="Dry run").click()
    await page.wait_for_selector("#dry-run-result")
    assert "Stripe rows" in await page.locator("#dry-run-result h2").inner_text()
    await shot(page, "dry-run")
    await page.context.close()


async def test_a_supplier_sees_its_headroom_per_order(
    chromium: object, console_url: str, stack: Stack, prepared: Tenant
) -> None:
    order = await funded_order(stack, prepared)
    page = await signed_in_page(chromium, console_url, raw(prepared.keys["supplier"]))
    row = page.locator(f"tr[data-order='{order['order_id']}']")
    await row.wait_for()
    assert "set by the advance rate" in await row.locator("td.headroom").inner_text()
    await shot(page, "supplier-headroom")
    await page.context.close()
