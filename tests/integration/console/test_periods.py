"""Period close from the console: reviewed, confirmed, listed; refused when it would
reopen books."""

from __future__ import annotations

import re

import pytest

from tests.integration.console.conftest import Browser, csrf_of, raw, signed_in
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


async def test_finance_closes_a_period_after_confirming(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()  # its own books: a close is for good
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    page = await client.get("/finance/periods")
    assert page.status_code == 200 and "before the first trade" in page.text  # the stack's close
    token = csrf_of(page.text)
    review = await client.post("/finance/periods/close",
                               data={"csrf_token": token, "through": "2020-12-31",
                                     "reason": "FY2020"})  # fmt: skip
    assert review.status_code == 200 and "Close the books through 2020-12-31?" in review.text
    before = await stack.ok("ledger", "GET", "/v1/ledger/periods", tenant.keys["finance"])
    assert len(before) == 1  # reviewing closed nothing
    drawn = re.search(r'name="idempotency_key" value="([^"]+)"', review.text)
    assert drawn, review.text
    confirm = {"csrf_token": token, "through": "2020-12-31", "reason": "FY2020",
               "confirm": "yes", "idempotency_key": drawn.group(1)}  # fmt: skip
    r = await client.post("/finance/periods/close", data=confirm)
    assert r.status_code == 303 and r.headers["location"] == "/finance/periods?closed=2020-12-31"
    after = await stack.ok("ledger", "GET", "/v1/ledger/periods", tenant.keys["finance"])
    assert [p["reason"] for p in after].count("FY2020") == 1
    assert any(p["closed_through"].startswith("2020-12-31T23:59:59") for p in after)
    listed = await client.get("/finance/periods")
    assert "FY2020" in listed.text
    # A double submission of the confirmed form is replayed by the API, not closed twice.
    again = await client.post("/finance/periods/close", data=confirm)
    assert again.status_code == 303
    assert len(await stack.ok("ledger", "GET", "/v1/ledger/periods", tenant.keys["finance"])) == 2


async def test_a_close_without_a_date_or_token_is_refused(browser: Browser, stack: Stack) -> None:
    tenant = await stack.prepare()
    client = await signed_in(browser, raw(tenant.keys["finance"]))
    token = csrf_of((await client.get("/finance/periods")).text)
    r = await client.post("/finance/periods/close", data={"csrf_token": token, "through": ""})
    assert r.status_code == 422
    r = await client.post(
        "/finance/periods/close", data={"through": "2020-12-31", "confirm": "yes"}
    )
    assert r.status_code == 403
    assert len(await stack.ok("ledger", "GET", "/v1/ledger/periods", tenant.keys["finance"])) == 1
