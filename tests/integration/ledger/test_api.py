"""The finance API over HTTP: chart, balances as of, statements, trial balance, journal,
adjustments and reversals; tenant isolation and scopes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import allow_adjustments, funded, post, refunded, released
from tests.support.keys import new_key

T0 = datetime(2026, 6, 1, tzinfo=UTC)


async def _book_order(ledger: AsyncEngine, tenant: str) -> None:
    await post(
        ledger,
        funded(tenant, "o1", 100_000, 100_000, at=T0),
        funded(tenant, "o2", 20_000, 20_000, at=T0 + timedelta(days=1), currency="EUR"),
    )
    await post(ledger, released(tenant, "o1", 30_000, 900, 0, 70_000, at=T0 + timedelta(days=2)))
    await post(ledger, refunded(tenant, "o1", 10_000, 60_000, at=T0 + timedelta(days=3)))


async def _account_id(api: Api, code: str, currency: str = "USD", sub: str = "") -> int:
    r = await api.client.get("/v1/ledger/accounts", params={"code": code, "currency": currency})
    return next(a["id"] for a in r.json() if a["subledger"] == sub)


async def test_chart_and_accounts(api: Api, ledger: AsyncEngine) -> None:
    chart = (await api.client.get("/v1/ledger/chart")).json()
    assert {a["code"] for a in chart} >= {"stripe_clearing", "escrow_held", "suspense"}
    await _book_order(ledger, api.tenant)
    codes = {
        (a["code"], a["currency"], a["subledger"])
        for a in (await api.client.get("/v1/ledger/accounts")).json()
    }
    assert ("escrow_held", "USD", "o1") in codes and ("escrow_held", "EUR", "o2") in codes


async def test_balance_as_of_any_moment(api: Api, ledger: AsyncEngine) -> None:
    await _book_order(ledger, api.tenant)
    held = await _account_id(api, "escrow_held", sub="o1")
    now = (await api.client.get(f"/v1/ledger/accounts/{held}/balance")).json()
    assert (now["balance"], now["debit_minus_credit"]) == (60_000, -60_000)
    then = await api.client.get(
        f"/v1/ledger/accounts/{held}/balance", params={"as_of": T0.isoformat()}
    )
    assert then.json()["balance"] == 100_000
    before = await api.client.get(
        f"/v1/ledger/accounts/{held}/balance",
        params={"as_of": (T0 - timedelta(seconds=1)).isoformat()},
    )
    assert before.json()["balance"] == 0


async def test_statement_pages_with_running_balance(api: Api, ledger: AsyncEngine) -> None:
    await _book_order(ledger, api.tenant)
    clearing = await _account_id(api, "stripe_clearing")
    first = (
        await api.client.get(f"/v1/ledger/accounts/{clearing}/statement", params={"limit": 2})
    ).json()
    assert [(x["debit"], x["credit"], x["balance"]) for x in first["lines"]] == [
        (100_000, 0, 100_000),
        (0, 29_100, 70_900),  # payout of the release
    ]
    assert first["opening_balance"] == 0 and first["next_cursor"]
    second = (
        await api.client.get(
            f"/v1/ledger/accounts/{clearing}/statement",
            params={"limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    assert second["opening_balance"] == 70_900
    assert [(x["credit"], x["balance"]) for x in second["lines"]] == [(10_000, 60_900)]
    assert second["closing_balance"] == 60_900 and second["next_cursor"] is None


async def test_trial_balance_sums_to_zero_per_currency(api: Api, ledger: AsyncEngine) -> None:
    await _book_order(ledger, api.tenant)
    tb = (await api.client.get("/v1/ledger/trial-balance")).json()
    by_cur = {c["currency"]: c for c in tb["currencies"]}
    assert set(by_cur) == {"USD", "EUR"}
    for c in by_cur.values():
        assert c["difference"] == 0 and c["total_debit"] == c["total_credit"]
    usd = {x["account"]: (x["debit"], x["credit"]) for x in by_cur["USD"]["lines"]}
    assert usd["platform_fee_revenue"] == (0, 900)
    assert usd["escrow_held"] == (0, 60_000)
    early = (
        await api.client.get("/v1/ledger/trial-balance", params={"as_of": T0.isoformat()})
    ).json()
    assert [c["currency"] for c in early["currencies"] if c["total_debit"]] == ["USD"]


async def test_transaction_by_id_and_by_source(api: Api, ledger: AsyncEngine) -> None:
    event = funded(api.tenant, "o7", 5_000, 5_000)
    await post(ledger, event)
    by_src = await api.client.get(
        "/v1/ledger/transactions", params={"source_event_id": str(event.id)}
    )
    assert by_src.status_code == 200
    tx = by_src.json()
    assert tx["source_type"] == "escrow.funded" and len(tx["hash"]) == 64
    assert [(p["account"], p["debit"], p["credit"]) for p in tx["postings"]] == [
        ("stripe_clearing", 5_000, 0),
        ("escrow_held", 0, 5_000),
    ]
    assert (await api.client.get(f"/v1/ledger/transactions/{tx['id']}")).json() == tx


async def test_adjustment_records_actor_and_reason_and_replays(api: Api) -> None:
    await allow_adjustments(api.client, api.identity, api.tenant)
    body = {
        "reason": "Stripe fee on ch_123 not booked",
        "memo": "PSP fee",
        "lines": [
            {"account": "psp_fee_expense", "currency": "USD", "debit": 320},
            {
                "account": "stripe_clearing",
                "currency": "USD",
                "credit": 320,
                "external_ref": "ch_123",
            },
        ],
    }
    headers = {"Idempotency-Key": "adj-1"}
    r = await api.client.post("/v1/ledger/adjustments", json=body, headers=headers)
    assert r.status_code == 201, r.text
    tx = r.json()
    assert (tx["kind"], tx["actor"], tx["reason"]) == ("adjustment", "apikey:alice", body["reason"])
    again = await api.client.post("/v1/ledger/adjustments", json=body, headers=headers)
    assert again.json()["id"] == tx["id"] and again.headers["Idempotent-Replayed"] == "true"
    unbalanced = {**body, "lines": [{**body["lines"][0], "debit": 321}, body["lines"][1]]}
    bad = await api.client.post("/v1/ledger/adjustments", json=unbalanced)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_adjustment"


async def test_reversal_mirrors_and_happens_once(api: Api, ledger: AsyncEngine) -> None:
    event = funded(api.tenant, "o8", 4_000, 4_000)
    await post(ledger, event)
    tx = (
        await api.client.get("/v1/ledger/transactions", params={"source_event_id": str(event.id)})
    ).json()
    r = await api.client.post(
        f"/v1/ledger/transactions/{tx['id']}/reverse", json={"reason": "duplicate charge"}
    )
    assert r.status_code == 201, r.text
    rev = r.json()
    assert rev["reverses"] == tx["id"]
    assert [(p["account"], p["debit"], p["credit"]) for p in rev["postings"]] == [
        ("stripe_clearing", 0, 4_000),
        ("escrow_held", 4_000, 0),
    ]
    twice = await api.client.post(
        f"/v1/ledger/transactions/{tx['id']}/reverse", json={"reason": "again"}
    )
    assert twice.status_code == 409


async def test_other_tenants_and_scopes(
    api: Api, ledger: AsyncEngine, identity: AsyncEngine
) -> None:
    event = funded(api.tenant, "o9", 1_000, 1_000)
    await post(ledger, event)
    tx = (
        await api.client.get("/v1/ledger/transactions", params={"source_event_id": str(event.id)})
    ).json()
    other = await new_key(identity, "someone-else", ["finance"], "mallory")
    platform = await new_key(identity, api.tenant, ["platform"], "bot")
    as_other = {"Authorization": f"Bearer {other}"}
    assert (
        await api.client.get(f"/v1/ledger/transactions/{tx['id']}", headers=as_other)
    ).status_code == 404
    account = tx["postings"][0]["account_id"]
    assert (
        await api.client.get(f"/v1/ledger/accounts/{account}/balance", headers=as_other)
    ).status_code == 404
    as_platform = {"Authorization": f"Bearer {platform}"}
    assert (await api.client.get("/v1/ledger/chart", headers=as_platform)).status_code == 403


async def test_out_of_range_input_is_a_4xx_and_changes_nothing(api: Api) -> None:
    for path in (
        f"/v1/ledger/accounts/{2**63}/balance",
        f"/v1/ledger/accounts/{10**20}/statement",
    ):
        r = await api.client.get(path)
        assert r.status_code in (404, 422), (path, r.status_code, r.text)
    r = await api.client.post(
        f"/v1/ledger/reconciliation/breaks/{10**20}/resolve", json={"resolution": "nope"}
    )
    assert r.status_code in (404, 422), r.text
    too_big = {
        "reason": "more money than exists",
        "lines": [
            {"account": "suspense", "currency": "USD", "debit": 10**19},
            {"account": "bank", "currency": "USD", "credit": 10**19},
        ],
    }
    r = await api.client.post("/v1/ledger/adjustments", json=too_big)
    assert r.status_code == 422, r.text
    assert (await api.client.get("/v1/ledger/accounts")).json() == []


async def test_concurrent_reversals_one_wins_the_others_conflict(
    api: Api, ledger: AsyncEngine
) -> None:
    event = funded(api.tenant, "o8", 4_000, 4_000)
    await post(ledger, event)
    tx = (
        await api.client.get("/v1/ledger/transactions", params={"source_event_id": str(event.id)})
    ).json()
    answers = await asyncio.gather(
        *(
            api.client.post(
                f"/v1/ledger/transactions/{tx['id']}/reverse", json={"reason": f"dup {n}"}
            )
            for n in range(3)
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409], [r.text for r in answers]


async def test_an_adjustment_above_the_threshold_is_asked_for_and_approved_by_another(
    api: Api, ledger: AsyncEngine
) -> None:
    """The defect: one finance user posted any adjustment alone (maker-checker bypass)."""
    body = {
        "reason": "write off a disputed fee",
        "lines": [
            {"account": "psp_fee_expense", "currency": "USD", "debit": 90_000},
            {"account": "stripe_clearing", "currency": "USD", "credit": 90_000},
        ],
    }
    # no rules for USD: threshold 0, every adjustment needs a checker
    r = await api.client.post("/v1/ledger/adjustments", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "approval_required", r.text
    assert (await api.client.get("/v1/ledger/accounts")).json() == []
    asked = await api.client.post("/v1/ledger/adjustment-requests", json=body)
    assert asked.status_code == 201, asked.text
    req = asked.json()
    assert (req["status"], req["maker"], req["transaction_id"]) == (
        "pending_approval", "apikey:alice", None,
    )  # fmt: skip
    approve = f"/v1/ledger/adjustment-requests/{req['id']}/approve"
    own = await api.client.post(approve)
    assert own.status_code == 403 and own.json()["error"]["code"] == "same_user_approval"
    assert (await api.client.get("/v1/ledger/accounts")).json() == []
    other_tenant = await new_key(api.identity, f"o-{uuid.uuid4().hex[:12]}", ["finance"], "eve")
    theirs = await api.client.post(approve, headers={"Authorization": f"Bearer {other_tenant}"})
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "adjustment_not_found"
    bob = await new_key(api.identity, api.tenant, ["finance"], "bob")
    ok = await api.client.post(approve, headers={"Authorization": f"Bearer {bob}"})
    assert ok.status_code == 201, ok.text
    tx = ok.json()
    assert (tx["actor"], tx["reason"]) == (
        "apikey:alice", "write off a disputed fee (approved by apikey:bob)",
    )  # fmt: skip
    again = await api.client.post(approve, headers={"Authorization": f"Bearer {bob}"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "no_pending_adjustment"
