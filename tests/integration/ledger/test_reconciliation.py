"""Reconciliation: every kind of break, states kept across runs, Stripe API and report CSV."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.ledger.entrypoints.cli import app
from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import forget_stripe_mock_line, funded, post, refunded

HEADER = "balance_transaction_id,created_utc,source_id,reporting_category,currency,gross,fee,net\n"
TENANT_HEADER = HEADER.replace(",net\n", ",net,payment_metadata[tenant_id]\n")


def report(*rows: tuple[str, str, str], tenant: str) -> str:
    """A Stripe itemised balance report of the platform account, with the tenant on each
    payment's metadata: (source id, category, gross in major units). Balance transaction
    ids are global (one tenant's each): these are the tenant's own."""
    return TENANT_HEADER + "".join(
        f"txn_{tenant}_{i},2026-06-01 10:00:00,{src},{cat},usd,{gross},0.30,{gross},{tenant}\n"
        for i, (src, cat, gross) in enumerate(rows)
    )


async def _run_csv(api: Api, body: str) -> dict[str, int]:
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=body.encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _open(api: Api) -> dict[tuple[str, str], dict[str, object]]:
    rows = (await api.client.get("/v1/ledger/reconciliation/breaks", params={"limit": 100})).json()
    assert rows["object"] == "list" and rows["has_more"] is False
    return {(b["kind"], b["object_id"]): b for b in rows["data"]}


async def test_every_kind_of_break_and_their_states(api: Api, ledger: AsyncEngine) -> None:
    t = api.tenant
    await post(
        ledger,
        funded(t, "A", 10_000, 10_000, stripe_charge_id="ch_A"),
        funded(t, "B", 5_000, 5_000, stripe_charge_id="ch_B"),
        funded(t, "C", 3_000, 3_000, stripe_charge_id="ch_C"),
        funded(t, "E", 2_000, 1_500, stripe_charge_id="ch_E"),  # escrow says it holds 15.00
    )
    await post(ledger, refunded(t, "A", 2_000, 8_000, stripe_refund_id="re_A"))
    stripe = report(
        ("ch_A", "charge", "100.00"),
        ("re_A", "refund", "-20.00"),
        ("ch_B", "charge", "49.99"),  # one cent short
        ("ch_D", "charge", "7.00"),  # no event booked it
        ("ch_E", "charge", "20.00"),
        tenant=t,
    )
    counts = await _run_csv(api, stripe)
    assert {k: counts[k] for k in ("matched", "missing_in_ledger", "missing_in_stripe",
                                   "amount_mismatch", "escrow_held_mismatch")} == {
        "matched": 3, "missing_in_ledger": 1, "missing_in_stripe": 1, "amount_mismatch": 1,
        "escrow_held_mismatch": 1,
    }  # fmt: skip
    breaks = await _open(api)
    assert set(breaks) == {
        ("missing_in_ledger", "ch_D"), ("missing_in_stripe", "ch_C"),
        ("amount_mismatch", "ch_B"), ("escrow_held_mismatch", "E"),
    }  # fmt: skip
    mismatch = breaks[("amount_mismatch", "ch_B")]
    assert (mismatch["ledger_amount"], mismatch["other_amount"], mismatch["owner"]) == (
        5_000,
        4_999,
        "finance",
    )
    assert breaks[("escrow_held_mismatch", "E")]["ledger_amount"] == 2_000
    assert breaks[("escrow_held_mismatch", "E")]["other_amount"] == 1_500
    assert all(b["age_days"] == 0 and b["status"] == "open" for b in breaks.values())

    # Staff resolve the one-cent difference; ch_D gets booked; Stripe later settles ch_C.
    r = await api.client.post(
        f"/v1/ledger/reconciliation/breaks/{mismatch['id']}/resolve",
        json={"resolution": "Stripe FX rounding"},
    )
    assert r.json()["status"] == "resolved" and r.json()["resolved_by"] == "apikey:alice"
    await post(ledger, funded(t, "D", 700, 700, stripe_charge_id="ch_D"))
    counts = await _run_csv(api, report(("ch_A", "charge", "100.00"), ("re_A", "refund", "-20.00"),
                                       ("ch_B", "charge", "49.99"), ("ch_C", "charge", "30.00"),
                                       ("ch_D", "charge", "7.00"), ("ch_E", "charge", "20.00"),
                                       tenant=api.tenant))  # fmt: skip
    assert counts["matched"] == 5 and counts["amount_mismatch"] == 1
    assert set(await _open(api)) == {("escrow_held_mismatch", "E")}
    resolved = (
        await api.client.get("/v1/ledger/reconciliation/breaks", params={"status": "resolved"})
    ).json()
    assert [b["object_id"] for b in resolved["data"]] == ["ch_B"]  # stays resolved across runs
    cleared = (
        await api.client.get("/v1/ledger/reconciliation/breaks", params={"status": "cleared"})
    ).json()
    assert {b["object_id"] for b in cleared["data"]} == {"ch_C", "ch_D"}

    # The open breaks in pages of one, oldest first; a break id not the tenant's is no cursor.
    url = "/v1/ledger/reconciliation/breaks"
    first = (await api.client.get(url, params={"status": "cleared", "limit": 1})).json()
    assert first["has_more"] is True and first["url"] == url
    rest = (
        await api.client.get(
            url, params={"status": "cleared", "limit": 1, "starting_after": first["data"][0]["id"]}
        )
    ).json()
    assert rest["has_more"] is False
    assert {first["data"][0]["object_id"], rest["data"][0]["object_id"]} == {"ch_C", "ch_D"}
    for cursor in ("999999999999", "x", str(2**64)):
        r = await api.client.get(url, params={"starting_after": cursor})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


async def test_pulls_balance_transactions_from_stripe(api: Api, ledger: AsyncEngine) -> None:
    # stripe-mock always answers with its one fixture: a 1.00 USD charge
    charge = "ch_1PgafuB7WZ01zgkWXYmPNZs8"
    await post(ledger, funded(api.tenant, "M", 100, 100, stripe_charge_id=charge))
    r = await api.client.put(  # the tenant's own account: stripe-mock's lines are all its own
        "/v1/ledger/reconciliation/stripe-account",
        json={"account_id": f"acct_{uuid.uuid4().hex[:16]}"},
    )
    assert r.status_code == 200, r.text
    await forget_stripe_mock_line(ledger)
    r = await api.client.post("/v1/ledger/reconciliation/runs", params={"source": "stripe"})
    assert r.status_code == 201, r.text
    assert (r.json()["stripe_rows"], r.json()["matched"], r.json()["missing_in_ledger"]) == (
        1,
        1,
        0,
    )


async def test_a_malformed_report_is_refused(api: Api) -> None:
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=b"a,b\n1,2\n"
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_report"


async def test_cli_reconciles_a_report_file(
    ledger: AsyncEngine, tenant: str, tmp_path: Path
) -> None:
    await post(ledger, funded(tenant, "A", 10_000, 10_000, stripe_charge_id="ch_A"))
    path = tmp_path / "report.csv"
    path.write_text(report(("ch_A", "charge", "100.00"), ("ch_Z", "charge", "1.00"), tenant=tenant))
    url = ledger.url.render_as_string(hide_password=False)
    args = ["reconcile", "--tenant", tenant, "--csv", str(path), "--database-url", url]
    env = {"TRADEFLOW_ENVIRONMENT": "test"}  # the CLI builds its own Settings
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert result.exit_code == 1, result.output  # one open break
    assert "missing_in_ledger ch_Z USD" in result.output


async def test_a_balance_transaction_listed_twice_counts_once(
    api: Api, ledger: AsyncEngine
) -> None:
    """Overlapping report exports (or a report pasted twice) repeat balance transactions;
    summing the copies would turn a matched charge into a false amount mismatch."""
    await post(ledger, funded(api.tenant, "A", 10_000, 10_000, stripe_charge_id="ch_A"))
    once = report(("ch_A", "charge", "100.00"), tenant=api.tenant)
    twice = once + once.split("\n", 1)[1]
    counts = await _run_csv(api, twice)
    assert (counts["stripe_rows"], counts["matched"], counts["amount_mismatch"]) == (1, 1, 0)


async def test_unreadable_reports_are_refused_with_nothing_recorded(api: Api) -> None:
    for body in (
        b"\xff\xfe not UTF-8",
        (HEADER + "txn_1,2026-06-01 10:00:00,ch_1,charge,usd,abc,0,0\n").encode(),
        (HEADER + "txn_1,2026-06-01 10:00:00,ch_1,charge,usd,Infinity,0,0\n").encode(),
    ):
        r = await api.client.post(
            "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=body
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_report", r.text
    assert await _open(api) == {}
