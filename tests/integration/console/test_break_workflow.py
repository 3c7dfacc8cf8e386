"""A break's page on the ledger's break workflow, through the real ledger API: comments,
assignment to a finance user, resolution with an adjusting transaction that waits for a
second finance user (the maker is refused, and told so), and bulk resolution of the
ticked breaks, all or none."""

from __future__ import annotations

import re

import pytest

from tests.integration.console.conftest import Browser, csrf_of, more_breaks, raw, signed_in
from tests.support.stack import Stack, Tenant

pytestmark = pytest.mark.integration


async def workflow(stack: Stack, tenant: Tenant, break_id: int | str) -> dict:
    return await stack.ok("ledger", "GET", f"/v1/ledger/reconciliation/breaks/{break_id}/workflow",
                          tenant.keys["finance"])  # fmt: skip


async def test_finance_comments_on_and_assigns_a_break(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    bid = tenant.objects["break_id"]
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    queue = await client.get("/finance/breaks")
    assert f'href="/finance/breaks/{bid}"' in queue.text
    page = await client.get(f"/finance/breaks/{bid}")
    assert page.status_code == 200 and "No comments yet" in page.text
    token = csrf_of(page.text)

    r = await client.post(f"/finance/breaks/{bid}/comments",
                          data={"csrf_token": token, "body": "Asked Stripe <support>"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/finance/breaks/{bid}?done=commented"
    page = await client.get(r.headers["location"])
    assert (
        "Asked Stripe &lt;support&gt;" in page.text and f"apikey:{tenant.id}-finance" in page.text
    )

    refused = await client.post(f"/finance/breaks/{bid}/assignee",
                                data={"csrf_token": token, "assignee": "apikey:nobody"})  # fmt: skip
    assert refused.status_code == 422 and 'data-code="not_a_finance_user"' in refused.text
    assert (await workflow(stack, tenant, bid))["assignment"] is None

    colleague = f"apikey:{tenant.id}-all"  # another finance key of the tenant
    r = await client.post(f"/finance/breaks/{bid}/assignee",
                          data={"csrf_token": token, "assignee": colleague})  # fmt: skip
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert re.search(rf'id="assignee">{re.escape(colleague)}', page.text)
    flow = await workflow(stack, tenant, bid)
    assert flow["assignment"]["assignee"] == colleague
    assert [c["body"] for c in flow["comments"]] == ["Asked Stripe <support>"]

    forged = await client.post(f"/finance/breaks/{bid}/comments", data={"body": "forged"})
    assert forged.status_code == 403
    assert len((await workflow(stack, tenant, bid))["comments"]) == 1


async def test_an_adjustment_waits_for_a_second_finance_user(
    browser: Browser, stack: Stack
) -> None:
    tenant = await stack.prepare()
    bid = tenant.objects["break_id"]
    maker = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await maker.get(f"/finance/breaks/{bid}")
    token = csrf_of(page.text)
    adjustment = {"debit_account": "psp_fee_expense", "credit_account": "stripe_clearing",
                  "amount": "3.20", "external_ref": f"ch_{tenant.id}", "memo": "PSP fee"}  # fmt: skip

    bad = await maker.post(f"/finance/breaks/{bid}/resolutions",
                           data={"csrf_token": token, "reason": "fee never booked",
                                 **adjustment, "amount": "3.205"})  # fmt: skip
    assert bad.status_code == 422 and "at most 2 decimals" in bad.text
    assert (await workflow(stack, tenant, bid))["resolution"] is None

    r = await maker.post(f"/finance/breaks/{bid}/resolutions",
                         data={"csrf_token": token, "reason": "fee never booked", **adjustment})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("?done=pending")
    page = await maker.get(r.headers["location"])
    assert 'data-status="pending_approval"' in page.text and 'id="waiting"' in page.text
    assert "USD 3.20" in page.text
    queue = await maker.get("/finance/breaks")
    assert f'data-pending="{bid}"' in queue.text and "someone else must approve" in queue.text

    own = await maker.post(
        f"/finance/breaks/{bid}/approve", data={"csrf_token": csrf_of(page.text)}
    )
    assert own.status_code == 403 and 'data-code="same_user_approval"' in own.text
    assert "You cannot approve your own adjustment" in own.text
    flow = await workflow(stack, tenant, bid)
    assert flow["resolution"]["status"] == "pending_approval" and flow["break"]["status"] == "open"

    checker = await signed_in(browser, raw(tenant.keys["all"]))
    page = await checker.get(f"/finance/breaks/{bid}")
    assert 'id="waiting"' not in page.text and 'id="approve"' in page.text
    r = await checker.post(
        f"/finance/breaks/{bid}/approve", data={"csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?done=approved")
    page = await checker.get(r.headers["location"])
    assert 'data-status="applied"' in page.text and f"apikey:{tenant.id}-all" in page.text
    flow = await workflow(stack, tenant, bid)
    assert flow["break"]["status"] == "resolved" and flow["resolution"]["transaction_id"]
    assert flow["resolution"]["checker"] == f"apikey:{tenant.id}-all"

    again = await checker.post(
        f"/finance/breaks/{bid}/approve", data={"csrf_token": csrf_of(page.text)}
    )
    assert again.status_code == 409 and 'role="alert"' in again.text


async def test_a_resolution_without_money_resolves_at_once(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    bid = tenant.objects["break_id"]
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get(f"/finance/breaks/{bid}")
    r = await client.post(f"/finance/breaks/{bid}/resolutions",
                          data={"csrf_token": csrf_of(page.text), "reason": "timing difference"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("?done=resolved")
    flow = await workflow(stack, tenant, bid)
    assert flow["break"]["status"] == "resolved" and flow["resolution"]["adjustment"] is None


async def test_bulk_resolve_is_all_or_none(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    first = int(tenant.objects["break_id"])
    others = await more_breaks(stack, tenant, 2)
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    queue = await client.get("/finance/breaks")
    assert 'id="filter-note"' in queue.text and "Every filter is the ledger's" in queue.text
    for b in (first, *others):
        assert f'name="break_{b}"' in queue.text
    token = csrf_of(queue.text)

    none = await client.post(
        "/finance/breaks/bulk-resolve", data={"csrf_token": token, "reason": "x-batch"}
    )
    assert none.status_code == 422 and "Tick at least one" in none.text

    # One of them is resolved meanwhile (elsewhere): the whole batch is refused.
    await stack.ok("ledger", "POST", f"/v1/ledger/reconciliation/breaks/{others[0]}/resolve",
                   tenant.keys["finance"], json={"resolution": "done by hand"})  # fmt: skip
    ticked = {f"break_{b}": "on" for b in (first, *others)}
    refused = await client.post("/finance/breaks/bulk-resolve",
                                data={"csrf_token": token, "reason": "payout batch", **ticked})  # fmt: skip
    assert refused.status_code == 409 and "Nothing was resolved" in refused.text
    assert f'data-refused="{others[0]}"' in refused.text and "break_resolved" in refused.text
    assert f'data-refused="{first}"' not in refused.text
    listed = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks", tenant.keys["finance"],
                            params={"status": "open"})  # fmt: skip
    assert {b["id"] for b in listed["data"]} == {first, others[1]}

    ticked.pop(f"break_{others[0]}")
    r = await client.post("/finance/breaks/bulk-resolve",
                          data={"csrf_token": token, "reason": "payout batch", **ticked})  # fmt: skip
    assert r.status_code == 303 and "done=bulk&count=2" in r.headers["location"]
    page = await client.get(r.headers["location"])
    assert "2 breaks resolved" in page.text and "No open breaks" in page.text
    resolved = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks", tenant.keys["finance"],
                              params={"status": "resolved"})  # fmt: skip
    assert sorted(b["resolution"] for b in resolved["data"]) == ["done by hand", "payout batch",
                                                                 "payout batch"]  # fmt: skip


async def test_another_tenant_cannot_open_or_work_a_break(browser: Browser, stack: Stack) -> None:
    owner, intruder = await stack.prepare(), await stack.prepare()
    bid = owner.objects["break_id"]
    client = await signed_in(browser, raw(intruder.keys["finance"]))
    assert (await client.get(f"/finance/breaks/{bid}")).status_code == 404
    token = csrf_of((await client.get("/finance/breaks")).text)
    r = await client.post(
        f"/finance/breaks/{bid}/comments", data={"csrf_token": token, "body": "hi"}
    )
    assert r.status_code == 404
    assert (await workflow(stack, owner, bid))["comments"] == []
