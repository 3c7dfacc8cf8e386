"""The break workflow over HTTP on PostgreSQL: comments, assignment, maker-checker
resolutions with a linked adjustment, bulk resolve, matching rules, dry run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import funded, post
from tests.integration.ledger.test_reconciliation import report
from tests.support.keys import bearer, new_key

BREAKS = "/v1/ledger/reconciliation/breaks"
JUNE_1 = datetime(2026, 6, 1, 10, tzinfo=UTC)  # the report's created_utc
FEE_LINES = [
    {"account": "psp_fee_expense", "currency": "USD", "debit": 30},
    {"account": "stripe_clearing", "currency": "USD", "credit": 30, "external_ref": "ch_B"},
]


async def _breaks(api: Api, ledger: AsyncEngine) -> dict[str, int]:
    """Open breaks A (missing_in_stripe), B (amount_mismatch: 50.00 booked, 49.70 at
    Stripe), D (missing_in_ledger); by object."""
    t = api.tenant
    await post(ledger, funded(t, "A", 10_000, 10_000, stripe_charge_id="ch_A", at=JUNE_1),
               funded(t, "B", 5_000, 5_000, stripe_charge_id="ch_B", at=JUNE_1))  # fmt: skip
    await _run(
        api, report(("ch_B", "charge", "49.70"), ("ch_D", "charge", "7.00"), tenant=api.tenant)
    )
    rows = (await api.client.get(BREAKS, params={"limit": 100})).json()["data"]
    return {b["object_id"].removeprefix("ch_"): b["id"] for b in rows}


async def _run(api: Api, body: str, path: str = "runs") -> dict[str, Any]:
    r = await api.client.post(
        f"/v1/ledger/reconciliation/{path}", params={"source": "csv"}, content=body.encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def _bob(api: Api, identity: AsyncEngine) -> dict[str, str]:
    return bearer(await new_key(identity, api.tenant, ["finance"], "bob"))


async def test_comments_and_assignment(
    api: Api, ledger: AsyncEngine, identity: AsyncEngine
) -> None:
    found = await _breaks(api, ledger)
    bob = await _bob(api, identity)
    a = found["A"]
    r = await api.client.post(f"{BREAKS}/{a}/comments", json={"body": "asked payments-ops"})
    assert r.status_code == 201 and r.json()["author"] == "apikey:alice"
    api.clock.advance(timedelta(minutes=1))
    await api.client.post(f"{BREAKS}/{a}/comments", json={"body": "seen"}, headers=bob)
    r = await api.client.put(f"{BREAKS}/{a}/assignee", json={"assignee": "apikey:bob"})
    assert r.status_code == 200 and r.json()["assigned_by"] == "apikey:alice"
    r = await api.client.put(f"{BREAKS}/{a}/assignee", json={"assignee": "apikey:nobody"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_finance_user"
    platform = await new_key(identity, api.tenant, ["platform"], "ops")
    r = await api.client.put(f"{BREAKS}/{a}/assignee", json={"assignee": "apikey:ops"})
    assert r.status_code == 422  # a key of another scope is no finance user
    w = (await api.client.get(f"{BREAKS}/{a}/workflow")).json()
    assert [(c["author"], c["body"]) for c in w["comments"]] == [
        ("apikey:alice", "asked payments-ops"), ("apikey:bob", "seen"),
    ]  # fmt: skip
    assert w["comments"][1]["created_at"] > w["comments"][0]["created_at"]
    assert w["assignment"]["assignee"] == "apikey:bob" and w["break"]["id"] == a
    r = await api.client.get(f"{BREAKS}/{a}/workflow", headers=bearer(platform))
    assert r.status_code == 403


async def test_maker_checker_and_the_linked_adjustment(
    api: Api, ledger: AsyncEngine, identity: AsyncEngine
) -> None:
    found = await _breaks(api, ledger)
    bob = await _bob(api, identity)
    r = await api.client.put("/v1/ledger/reconciliation/rules/USD",
                             json={"approval_threshold": 20})  # fmt: skip
    # a raise of the threshold waits for a second finance user: Alice cannot approve it
    assert r.status_code == 200 and r.json()["approval_threshold"] == 0, r.text
    assert r.json()["pending_threshold"]["approval_threshold"] == 20
    own = await api.client.post("/v1/ledger/reconciliation/rules/USD/approve")
    assert own.status_code == 403 and own.json()["error"]["code"] == "same_user_approval"
    r = await api.client.post("/v1/ledger/reconciliation/rules/USD/approve", headers=bob)
    assert r.status_code == 200 and r.json()["approval_threshold"] == 20, r.text
    assert r.json()["pending_threshold"] is None
    b = found["B"]
    body = {"reason": "Stripe fee on ch_B not booked",
            "adjustment": {"memo": "PSP fee", "lines": FEE_LINES}}  # fmt: skip
    r = await api.client.post(f"{BREAKS}/{b}/resolutions", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["resolution"]["status"] == "pending_approval"
    assert r.json()["transaction"] is None and r.json()["break"]["status"] == "open"
    again = await api.client.post(f"{BREAKS}/{b}/resolutions", json={"reason": "other"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "resolution_pending"
    own = await api.client.post(f"{BREAKS}/{b}/resolutions/approve")
    assert own.status_code == 403 and own.json()["error"]["code"] == "same_user_approval"
    ok = await api.client.post(f"{BREAKS}/{b}/resolutions/approve", headers=bob)
    assert ok.status_code == 200, ok.text
    res, tx = ok.json()["resolution"], ok.json()["transaction"]
    assert (res["status"], res["maker"], res["checker"]) == (
        "applied",
        "apikey:alice",
        "apikey:bob",
    )
    assert res["transaction_id"] == tx["id"] and tx["actor"] == "apikey:alice"
    assert ok.json()["break"]["status"] == "resolved"
    posted = (await api.client.get(f"/v1/ledger/transactions/{tx['id']}")).json()
    assert [(p["account"], p["debit"], p["credit"]) for p in posted["postings"]] == [
        ("psp_fee_expense", 30, 0), ("stripe_clearing", 0, 30),
    ]  # fmt: skip
    twice = await api.client.post(f"{BREAKS}/{b}/resolutions/approve", headers=bob)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "no_pending_resolution"
    # The fee booked, the next run matches ch_B; the resolved break stays resolved.
    await _run(
        api, report(("ch_B", "charge", "49.70"), ("ch_D", "charge", "7.00"), tenant=api.tenant)
    )
    row = next(
        x for x in (await api.client.get(BREAKS, params={"status": "resolved"})).json()["data"]
    )
    assert row["id"] == b
    # At or below the threshold, an adjustment is posted at once, by its maker alone.
    small = {**body, "adjustment": {"lines": [{**FEE_LINES[0], "debit": 20},
                                              {**FEE_LINES[1], "credit": 20}]}}  # fmt: skip
    r = await api.client.post(f"{BREAKS}/{found['A']}/resolutions", json=small)
    assert r.json()["resolution"]["status"] == "applied" and r.json()["transaction"]["id"]


async def test_raising_the_threshold_then_resolving_alone_is_refused(
    api: Api, ledger: AsyncEngine, identity: AsyncEngine
) -> None:
    """The defect: a finance user raised the threshold above an adjustment, then resolved
    alone. The raise waits for a second user; meanwhile the adjustment waits too."""
    found = await _breaks(api, ledger)
    r = await api.client.put("/v1/ledger/reconciliation/rules/USD",
                             json={"approval_threshold": 1_000_000})  # fmt: skip
    assert r.status_code == 200 and r.json()["approval_threshold"] == 0
    listed = (await api.client.get("/v1/ledger/reconciliation/rules")).json()
    assert listed[0]["pending_threshold"]["maker"].startswith("apikey:")
    body = {"reason": "write off", "adjustment": {"memo": "PSP fee", "lines": FEE_LINES}}
    r = await api.client.post(f"{BREAKS}/{found['B']}/resolutions", json=body)
    assert r.status_code == 201 and r.json()["resolution"]["status"] == "pending_approval"
    nothing = await api.client.post("/v1/ledger/reconciliation/rules/EUR/approve")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "no_pending_threshold"


async def test_two_checkers_at_once_post_one_adjustment(
    api: Api, ledger: AsyncEngine, identity: AsyncEngine
) -> None:
    found = await _breaks(api, ledger)
    bob, carol = (
        await _bob(api, identity),
        bearer(await new_key(identity, api.tenant, ["finance"], "carol")),
    )
    body = {"reason": "fee", "adjustment": {"lines": FEE_LINES}}  # threshold 0: needs a checker
    assert (
        await api.client.post(f"{BREAKS}/{found['B']}/resolutions", json=body)
    ).status_code == 201
    answers = await asyncio.gather(*(
        api.client.post(f"{BREAKS}/{found['B']}/resolutions/approve", headers=h)
        for h in (bob, carol)
    ))  # fmt: skip
    assert sorted(r.status_code for r in answers) == [200, 409]
    async with ledger.connect() as conn:
        n = await conn.scalar(sa.text(
            "SELECT count(*) FROM journal_transactions WHERE tenant_id = :t AND kind = 'adjustment'"
        ), {"t": api.tenant})  # fmt: skip
    assert n == 1


async def test_bulk_resolve_is_all_or_nothing(api: Api, ledger: AsyncEngine) -> None:
    found = await _breaks(api, ledger)
    path = f"{BREAKS}/bulk-resolve"
    await api.client.post(f"{BREAKS}/{found['D']}/resolutions", json={"reason": "known"})
    r = await api.client.post(path, json={"break_ids": [found["A"], found["D"], 2**62],
                                          "reason": "payout batch"})  # fmt: skip
    assert r.status_code == 409 and r.json()["error"]["code"] == "bulk_resolve_refused"
    assert [(d["break_id"], d["code"]) for d in r.json()["error"]["details"]] == [
        (found["D"], "break_resolved"), (2**62, "break_not_found"),
    ]  # fmt: skip
    still = {b["id"] for b in (await api.client.get(BREAKS, params={"limit": 100})).json()["data"]}
    assert still == {found["A"], found["B"]}  # nothing was resolved
    r = await api.client.post(
        path, json={"break_ids": [found["A"], found["B"]], "reason": "checked"}
    )
    assert r.status_code == 200, r.text
    assert {b["status"] for b in r.json()} == {"resolved"}
    assert (await api.client.get(BREAKS)).json()["data"] == []


async def test_rules_and_a_dry_run_that_writes_nothing(api: Api, ledger: AsyncEngine) -> None:
    found = await _breaks(api, ledger)
    stripe = report(("ch_A", "charge", "99.99"), ("ch_B", "charge", "49.70"), tenant=api.tenant)

    async def state() -> list[Any]:
        async with ledger.connect() as conn:
            rows = await conn.execute(sa.text(
                "SELECT id, status, ledger_amount, other_amount, last_run_id FROM recon_breaks"
                " WHERE tenant_id = :t ORDER BY id"), {"t": api.tenant})  # fmt: skip
            runs = await conn.scalar(sa.text("SELECT count(*) FROM recon_runs WHERE tenant_id = :t"),
                                     {"t": api.tenant})  # fmt: skip
        return [*rows.all(), runs]

    before = await state()
    dry = await _run(api, stripe, "dry-runs")
    assert dry["counts"]["amount_mismatch"] == 2 and dry["counts"]["matched"] == 0
    # A's kind changes: its missing_in_stripe break clears, an amount_mismatch one opens.
    assert {b["id"] for b in dry["cleared"]} == {found["A"], found["D"]}
    assert [(b["kind"], b["object_id"]) for b in dry["opened"]] == [("amount_mismatch", "ch_A")]
    assert await state() == before  # nothing written
    r = await api.client.put("/v1/ledger/reconciliation/rules/USD",
                             json={"amount_tolerance": 30, "date_window_days": 1})  # fmt: skip
    assert r.status_code == 200
    assert (await api.client.get("/v1/ledger/reconciliation/rules")).json() == [{
        "currency": "USD", "amount_tolerance": 30, "date_window_days": 1, "approval_threshold": 0,
        "pending_threshold": None,
    }]  # fmt: skip
    dry = await _run(api, stripe, "dry-runs")
    assert dry["counts"]["matched"] == 2 and dry["opened"] == []
    assert {b["id"] for b in dry["cleared"]} == {found["A"], found["B"], found["D"]}
    run = await _run(api, stripe)  # the run does what the dry run said
    assert {k: run[k] for k in dry["counts"]} == dry["counts"]
    assert (await api.client.get(BREAKS)).json()["data"] == []
    # A window the dates miss: the same amounts are a date_mismatch.
    await api.client.put("/v1/ledger/reconciliation/rules/USD",
                         json={"amount_tolerance": 30, "date_window_days": 0})  # fmt: skip
    late = report(("ch_A", "charge", "100.00"), tenant=api.tenant).replace(
        "2026-06-01 10:00:00", "2026-06-03 10:00:00"
    )
    dry = await _run(api, late, "dry-runs")
    assert {(b["kind"], b["object_id"]) for b in dry["opened"]} == {
        ("date_mismatch", "ch_A"),
        ("missing_in_stripe", "ch_B"),  # ch_B is not in this report
    }


async def test_the_list_filters_by_owner_and_age_before_paging(
    api: Api, ledger: AsyncEngine
) -> None:
    found = await _breaks(api, ledger)  # A, B, D first seen now
    api.clock.advance(timedelta(days=10))
    await _run(api, report(("ch_B", "charge", "49.70"), ("ch_D", "charge", "7.00"),
                           ("ch_E", "charge", "3.00"), tenant=api.tenant))  # fmt: skip
    rows = (await api.client.get(BREAKS, params={"limit": 100})).json()["data"]
    found = {b["object_id"].removeprefix("ch_"): b["id"] for b in rows}
    assert set(found) >= {"A", "B", "D", "E"}
    r = await api.client.post(f"{BREAKS}/{found['B']}/assign", json={"owner": "treasury-desk"})
    assert r.status_code == 200, r.text

    async def ids(**params: Any) -> list[int]:
        r = await api.client.get(BREAKS, params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        return [b["id"] for b in r.json()["data"]]

    old = [found[o] for o in found if o in ("A", "B", "D")]  # oldest first, as listed
    assert await ids(owner="treasury-desk") == [found["B"]]
    assert await ids(owner="nobody") == []
    assert await ids(min_age_days=10) == old
    assert await ids(min_age_days=11) == []
    assert await ids(max_age_days=9) == [found["E"]]
    assert await ids(min_age_days=0, max_age_days=10) == [*old, found["E"]]
    assert await ids(min_age_days=10, owner="treasury-desk") == [found["B"]]
    # Paging runs over the matching breaks only, the cursor carrying on.
    seen: list[int] = []
    cursor: int | None = None
    while True:
        params: dict[str, Any] = {"min_age_days": 10, "limit": 1}
        if cursor is not None:
            params["starting_after"] = cursor
        page = (await api.client.get(BREAKS, params=params)).json()
        seen += [b["id"] for b in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == old
    # A break's id is a cursor of any filter's list (a position, not a match).
    assert await ids(owner="treasury-desk", starting_after=old[0]) == (
        [found["B"]] if old.index(found["B"]) > 0 else []
    )
    r = await api.client.get(BREAKS, params={"min_age_days": 5, "max_age_days": 4})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_age_range"
    for bad in ({"min_age_days": -1}, {"max_age_days": "x"}, {"owner": ""}):
        r = await api.client.get(BREAKS, params=bad)
        assert r.status_code == 422, (bad, r.text)
