"""The break queue: finance filters, assigns and resolves breaks, and runs a reconciliation
against Stripe (stripe-mock), all through the ledger's API."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.console.conftest import Browser, csrf_of, raw, signed_in
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_finance_assigns_and_resolves_a_break(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()  # its own break: the shared tenants' stay open
    break_id = tenant.objects["break_id"]
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get("/finance/breaks")
    assert page.status_code == 200 and f'data-break="{break_id}"' in page.text
    assert "By age" in page.text
    token = csrf_of(page.text)

    r = await client.post(f"/finance/breaks/{break_id}/assign",
                          data={"csrf_token": token, "new_owner": "alice"})  # fmt: skip
    assert r.status_code == 303
    mine = await client.get("/finance/breaks", params={"owner": "alice"})
    assert f'data-break="{break_id}"' in mine.text
    theirs = await client.get("/finance/breaks", params={"owner": "finance"})
    assert f'data-break="{break_id}"' not in theirs.text
    old = await client.get("/finance/breaks", params={"min_age": "1"})
    assert f'data-break="{break_id}"' not in old.text  # first seen today
    young = await client.get("/finance/breaks", params={"max_age": "0", "owner": "alice"})
    assert f'data-break="{break_id}"' in young.text and "Every filter is the ledger's" in young.text
    backwards = await client.get("/finance/breaks", params={"min_age": "2", "max_age": "1"})
    assert backwards.status_code == 422 and "max_age_days (1) is below" in backwards.text

    refused = await client.post(f"/finance/breaks/{break_id}/resolve",
                                data={"csrf_token": token, "resolution": "no"})  # fmt: skip
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    forged = await client.post(f"/finance/breaks/{break_id}/resolve",
                               data={"resolution": "late Stripe payout"})  # fmt: skip
    assert forged.status_code == 403
    r = await client.post(f"/finance/breaks/{break_id}/resolve",
                          data={"csrf_token": token, "resolution": "late Stripe payout"})  # fmt: skip
    assert r.status_code == 303
    open_now = await client.get("/finance/breaks")
    assert "No open breaks" in open_now.text
    resolved = await client.get("/finance/breaks", params={"status": "resolved"})
    assert "late Stripe payout" in resolved.text
    api = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks", tenant.keys["finance"],
                         params={"status": "resolved"})  # fmt: skip
    assert [(b["owner"], b["resolution"]) for b in api["data"]] == [("alice", "late Stripe payout")]


async def test_finance_runs_a_reconciliation_against_stripe(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get("/finance/breaks")
    r = await client.post("/finance/breaks/runs", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    job = r.headers["location"]
    assert job.startswith("/finance/breaks/runs/")
    followed = await client.get(job)
    assert followed.status_code == 200 and 'id="run-status"' in followed.text
    # The page polls the status fragment until the run ends (then it stops polling).
    for _ in range(200):
        status = await client.get(f"{job}/status")
        assert status.status_code == 200
        if 'data-status="running"' not in status.text:
            break
        assert 'hx-trigger="every 1s"' in status.text
        await asyncio.sleep(0.05)
    assert 'data-status="succeeded"' in status.text, status.text
    assert "hx-trigger" not in status.text
    assert 'id="run-result"' in status.text and "Stripe rows read" in status.text
    assert 'data-count="matched"' in status.text
    # Another tenant's finance session: no such run.
    other = await signed_in(browser, raw((await stack.prepare()).keys["finance"]))
    assert (await other.get(job)).status_code == 404
    assert (await other.get(f"{job}/status")).status_code == 404


async def test_another_tenant_cannot_touch_a_break(browser: Browser, stack: Stack) -> None:
    owner, intruder = await stack.prepare(), await stack.prepare()
    client = await signed_in(browser, raw(intruder.keys["finance"]))
    page = await client.get("/finance/breaks")
    r = await client.post(f"/finance/breaks/{owner.objects['break_id']}/resolve",
                          data={"csrf_token": csrf_of(page.text), "resolution": "not mine"})  # fmt: skip
    assert r.status_code == 404
    api = await stack.ok("ledger", "GET", "/v1/ledger/reconciliation/breaks", owner.keys["finance"])
    assert [b["status"] for b in api["data"]] == ["open"]
