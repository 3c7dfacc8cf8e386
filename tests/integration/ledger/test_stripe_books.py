"""Stripe's own balance movements booked from reconciliation runs, once; runs per tenant and
per window; Stripe clearing equal to the Stripe balance after a run.

The fixtures under tests/fixtures/stripe are Stripe itemised balance change reports (the
columns Stripe's ``balance_change_from_activity.itemized`` report has): one of a tenant's
own connected account (fees, a refund, a transfer, a dispute with its fee, two payouts of
which one failed, a reserve, a Radar fee), one of the platform account with the tenant on
each payment's and transfer's metadata, for two tenants (and a platform payout, and a
charge of a business that is not on Tradeflow). stripe-mock produces none of these.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.stripe_source import StripeConnectedAccounts
from services.ledger.service_layer.errors import StripeUnreadable
from shared.settings import Settings
from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import (
    STRIPE_MOCK_TXN,
    forget_stripe_mock_line,
    funded,
    natural,
    post,
    refunded,
    released,
)
from tests.support.keys import new_key

FIXTURES = Path(__file__).parents[2] / "fixtures" / "stripe"


def june(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def fixture(name: str, **tenants: str) -> str:
    """A fixture report with its tenants named as the test's, and balance transaction ids
    of its own (an id is booked once per database, and tests share one)."""
    text = (FIXTURES / name).read_text()
    for placeholder, tenant in tenants.items():
        text = text.replace(placeholder.replace("_", "-"), tenant)
    return text.replace("txn_", f"txn_{uuid.uuid4().hex[:10]}")


async def run(api: Api, body: str, **params: str) -> dict[str, Any]:
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv", **params},
        content=body.encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json())


async def own_account(api: Api) -> str:
    """Bind the tenant's own connected account: its report (which names no tenant, as a
    connected account's does not) is then the tenant's."""
    account = f"acct_{uuid.uuid4().hex[:16]}"
    r = await api.client.put(
        "/v1/ledger/reconciliation/stripe-account", json={"account_id": account}
    )
    assert r.status_code == 200, r.text
    return account


async def book_connected_events(ledger: AsyncEngine, t: str) -> None:
    """What escrow's events booked of the connected-account report's money."""
    await post(
        ledger,
        funded(t, "A", 100_000, 100_000, stripe_charge_id="ch_3PaA1CONNA", at=june(2, 9, 15)),
        funded(t, "B", 50_000, 50_000, stripe_charge_id="ch_3PaA1CONNB", at=june(3, 10)),
    )
    await post(
        ledger,
        refunded(t, "B", 10_000, 40_000, stripe_refund_id="re_3PaA1CONNB", at=june(5, 11)),
        released(t, "A", 65_000, 5_000, 0, 35_000, stripe_transfer_id="tr_1PaA1CONNA",
                 at=june(6, 12)),
    )  # fmt: skip


async def test_every_stripe_movement_is_booked_once_and_clearing_equals_the_balance(
    api: Api, ledger: AsyncEngine
) -> None:
    t = api.tenant
    await book_connected_events(ledger, t)
    await own_account(api)
    report = fixture("connected_account_itemized.csv")
    first = await run(api, report)
    # fees of 3 lines, dispute, 2 payouts, the failed payout, reserve, Radar fee; po_1 arrived
    assert (first["stripe_rows"], first["booked"], first["matched"]) == (10, 9, 4)
    assert {k: first[k] for k in ("missing_in_ledger", "missing_in_stripe", "amount_mismatch",
                                  "escrow_held_mismatch")} == dict.fromkeys(
        ("missing_in_ledger", "missing_in_stripe", "amount_mismatch", "escrow_held_mismatch"), 0
    )  # fmt: skip
    assert first["balances"] == [
        {"currency": "USD", "ledger_clearing": 18_840, "stripe_balance": 18_840, "difference": 0}
    ]
    assert await natural(ledger, t, "psp_fee_expense") == 2_930 + 1_480 + 1_500 + 250
    assert await natural(ledger, t, "bank") == 30_000  # po_1 arrived; po_2 failed
    assert await natural(ledger, t, "payouts_in_transit") == 0
    assert await natural(ledger, t, "stripe_reserve") == 5_000
    assert await natural(ledger, t, "disputed_funds") == 20_000  # withdrawn by the dispute
    assert await natural(ledger, t, "suspense") == 0
    assert await natural(ledger, t, "stripe_clearing") == 18_840

    again = await run(api, report)  # the same report, or an overlapping one: nothing twice
    assert (again["booked"], again["matched"], again["balances"]) == (0, 4, first["balances"])
    assert await natural(ledger, t, "psp_fee_expense") == 6_160

    async with ledger.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT booked, balances FROM recon_runs WHERE id = :id"),
                {"id": first["run_id"]},
            )
        ).one()
    assert (stored.booked, stored.balances) == (9, first["balances"])


async def test_disputes_transfer_reversals_and_refund_failures_are_booked_and_reconcile(
    api: Api, ledger: AsyncEngine
) -> None:
    t, n = api.tenant, uuid.uuid4().hex[:10]
    report = (
        "balance_transaction_id,created_utc,currency,gross,fee,reporting_category,source_id,"
        "payment_metadata[tenant_id]\n"
        f"txn_{n}_d,2026-06-02 00:00:00,usd,-200.00,15.00,dispute,du_{n},{t}\n"
        f"txn_{n}_w,2026-06-09 00:00:00,usd,200.00,0.00,dispute_reversal,du_{n},{t}\n"
        f"txn_{n}_t,2026-06-03 00:00:00,usd,60.00,0.00,transfer_reversal,trr_{n},{t}\n"
        f"txn_{n}_r,2026-06-04 00:00:00,usd,10.00,0.00,refund_failure,re_{n},{t}\n"
    )
    first = await run(api, report)
    assert (first["stripe_rows"], first["booked"], first["missing_in_ledger"]) == (4, 4, 0)
    assert first["balances"] == [
        {"currency": "USD", "ledger_clearing": 5_500, "stripe_balance": 5_500, "difference": 0}
    ]
    assert await natural(ledger, t, "disputed_funds") == 0  # withdrawn, then won back
    assert await natural(ledger, t, "psp_fee_expense") == 1_500  # the dispute fee
    assert await natural(ledger, t, "supplier_payable") == 6_000
    assert await natural(ledger, t, "refunds_payable") == 1_000
    again = await run(api, report)
    assert (again["booked"], again["balances"]) == (0, first["balances"])


async def test_bookings_are_in_statements_dated_by_stripe(api: Api, ledger: AsyncEngine) -> None:
    t = api.tenant
    await book_connected_events(ledger, t)
    await own_account(api)
    await run(api, fixture("connected_account_itemized.csv"))
    accounts = (await api.client.get("/v1/ledger/accounts", params={"code": "bank"})).json()
    statement = (await api.client.get(f"/v1/ledger/accounts/{accounts[0]['id']}/statement")).json()
    [arrival] = statement["lines"]
    assert arrival["posted_at"].startswith("2026-06-11")  # available_on: the arrival date
    assert "po_1PaCONN01" in arrival["memo"] and arrival["debit"] == 30_000
    fees = (await api.client.get("/v1/ledger/accounts", params={"code": "psp_fee_expense"})).json()
    lines = (await api.client.get(f"/v1/ledger/accounts/{fees[0]['id']}/statement")).json()
    assert [ln["posted_at"][:10] for ln in lines["lines"]] == [
        "2026-06-02", "2026-06-03", "2026-06-08", "2026-06-15",
    ]  # fmt: skip


async def test_a_balance_transaction_is_recorded_once_by_the_database(
    api: Api, ledger: AsyncEngine
) -> None:
    await own_account(api)
    await run(api, fixture("connected_account_itemized.csv"))
    async with ledger.connect() as conn:
        txn = (
            await conn.execute(
                sa.text("SELECT balance_txn_id FROM stripe_balance_transactions"
                        " WHERE tenant_id = :t LIMIT 1"), {"t": api.tenant},
            )
        ).scalar_one()  # fmt: skip
    with pytest.raises(IntegrityError):
        async with ledger.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO stripe_balance_transactions (balance_txn_id, tenant_id, type,"
                    " source_id, currency, amount, fee, created, run_id)"
                    " VALUES (:id, 'someone-else', 'charge', 'ch_x', 'USD', 1, 0, now(), 1)"
                ),
                {"id": txn},
            )


async def test_runs_of_two_tenants_never_see_each_others_lines(
    api: Api, ledger: AsyncEngine
) -> None:
    acme, globex = api.tenant, f"g-{uuid.uuid4().hex[:12]}"
    report = fixture("platform_itemized.csv", acme_platform=acme, globex_platform=globex)
    await post(ledger, funded(acme, "P1", 25_000, 25_000, stripe_charge_id="ch_3PbP1PLATA",
                              at=june(2, 9)))  # fmt: skip
    acme_run = await run(api, report)
    # its charge (with its fee) and its transfer; not Globex's, the platform payout, Initech's
    assert acme_run["stripe_rows"] == 2 and acme_run["booked"] == 1
    breaks = (await api.client.get("/v1/ledger/reconciliation/breaks")).json()["data"]
    assert {b["object_id"] for b in breaks} == {"tr_1PbP1PLATA"}  # no event booked it yet
    assert await natural(ledger, acme, "psp_fee_expense") == 755

    key = await new_key(api.identity, globex, ["finance"], "bob")
    api.client.headers["Authorization"] = f"Bearer {key}"
    globex_run = await run(api, report)
    assert globex_run["stripe_rows"] == 2 and globex_run["booked"] == 1
    breaks = (await api.client.get("/v1/ledger/reconciliation/breaks")).json()["data"]
    assert {b["object_id"] for b in breaks} == {"ch_3PbP1PLATB", "re_3PbP1PLATB"}
    assert await natural(ledger, globex, "psp_fee_expense") == 1_190
    assert await natural(ledger, acme, "psp_fee_expense") == 755


async def test_a_run_sees_only_its_window(api: Api, ledger: AsyncEngine) -> None:
    t = api.tenant
    await book_connected_events(ledger, t)
    await own_account(api)
    report = fixture("connected_account_itemized.csv")
    first_week = await run(api, report, **{"from": "2026-06-01T00:00:00Z",
                                           "to": "2026-06-07T00:00:00Z"})  # fmt: skip
    assert (first_week["stripe_rows"], first_week["matched"], first_week["booked"]) == (4, 4, 2)
    assert (first_week["window_from"], first_week["window_to"]) == (
        "2026-06-01T00:00:00+00:00", "2026-06-07T00:00:00+00:00",
    )  # fmt: skip
    # as of the window's end: clearing 80,000 - the two fees; Stripe: the four nets
    assert first_week["balances"] == [
        {"currency": "USD", "ledger_clearing": 75_590, "stripe_balance": 75_590, "difference": 0}
    ]
    rest = await run(api, report, **{"from": "2026-06-07T00:00:00Z"})
    assert (rest["stripe_rows"], rest["matched"], rest["booked"]) == (6, 0, 7)
    assert rest["missing_in_stripe"] == 0  # the events of the first week are not its business
    assert rest["balances"][0]["difference"] == 0


async def test_a_window_that_ends_before_it_starts_is_refused(api: Api) -> None:
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs",
        params={"source": "csv", "from": "2026-06-07T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
        content=b"",
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_window", r.text


async def test_stripe_pulls_read_the_tenants_own_account_only(
    api: Api, ledger: AsyncEngine
) -> None:
    # stripe-mock answers every list with its one fixture, a 1.00 USD charge whose source
    # names no tenant: the platform account has nothing of this tenant's ...
    r = await api.client.post("/v1/ledger/reconciliation/runs", params={"source": "stripe"})
    assert r.status_code == 201 and r.json()["stripe_rows"] == 0, r.text
    # ... while its own connected account (Stripe-Account header) is all its own.
    account = await own_account(api)
    got = await api.client.get("/v1/ledger/reconciliation/stripe-account")
    assert got.json()["account_id"] == account
    await forget_stripe_mock_line(ledger)
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs",
        params={"source": "stripe", "from": "2009-01-01T00:00:00Z"},
    )
    assert r.status_code == 201 and r.json()["stripe_rows"] == 1, r.text
    # Another tenant's account listing that same balance transaction id does not take it.
    other = await new_key(api.identity, f"o-{uuid.uuid4().hex[:12]}", ["finance"], "eve")
    api.client.headers["Authorization"] = f"Bearer {other}"
    await own_account(api)
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs",
        params={"source": "stripe", "from": "2009-01-01T00:00:00Z"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["stripe_rows"], r.json()["booked"], r.json()["refused"]) == (
        0, 0, [{"balance_txn_id": STRIPE_MOCK_TXN, "code": "other_tenant"}],
    )  # fmt: skip


async def test_a_report_without_tenant_columns_is_refused_without_an_own_account(
    api: Api, ledger: AsyncEngine
) -> None:
    """The defect: a report naming no tenant, sent by a tenant without a connected account,
    took every line (balance transaction ids are global: the first tenant to load won)."""
    report = fixture("connected_account_itemized.csv")
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=report.encode()
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "report_not_attributable"
    async with ledger.connect() as conn:
        seen = await conn.scalar(
            sa.text("SELECT count(*) FROM stripe_balance_transactions WHERE tenant_id = :t"),
            {"t": api.tenant},
        )
        runs = await conn.scalar(
            sa.text("SELECT count(*) FROM recon_runs WHERE tenant_id = :t"), {"t": api.tenant}
        )
    assert (seen, runs) == (0, 0)
    # bound to its own account, the tenant's report is its own; another tenant (with an
    # account of its own) sending the same file gets none of its lines
    await own_account(api)
    mine = await run(api, report)
    assert (mine["stripe_rows"], mine["booked"], mine["refused"]) == (10, 9, [])
    other = await new_key(api.identity, f"o-{uuid.uuid4().hex[:12]}", ["finance"], "eve")
    api.client.headers["Authorization"] = f"Bearer {other}"
    await own_account(api)
    theirs = await run(api, report)
    assert (theirs["stripe_rows"], theirs["booked"], theirs["missing_in_ledger"]) == (0, 0, 0)
    assert {x["code"] for x in theirs["refused"]} == {"other_tenant"}
    assert len(theirs["refused"]) == 10


async def test_a_stripe_account_is_one_tenants(api: Api) -> None:
    account = f"acct_{uuid.uuid4().hex[:16]}"
    r = await api.client.put(
        "/v1/ledger/reconciliation/stripe-account", json={"account_id": account}
    )
    assert r.status_code == 200
    other = await new_key(api.identity, f"o-{uuid.uuid4().hex[:12]}", ["finance"], "eve")
    r = await api.client.put(
        "/v1/ledger/reconciliation/stripe-account", json={"account_id": account},
        headers={"Authorization": f"Bearer {other}"},
    )  # fmt: skip
    assert r.status_code == 409 and r.json()["error"]["code"] == "stripe_account_taken", r.text


async def test_a_binding_is_asked_of_stripe_and_records_who_and_when(
    api: Api, settings: Settings
) -> None:
    account = await own_account(api)  # stripe-mock answers GET /v1/accounts/{id} for any id
    got = (await api.client.get("/v1/ledger/reconciliation/stripe-account")).json()
    assert got["account_id"] == account and got["set_by"].startswith("apikey:")
    assert got["set_at"] is not None
    # the real adapter: stripe-mock reads the account; a Stripe that cannot be asked binds
    # nothing (the route answers 502 payment_provider_error)
    await StripeConnectedAccounts("sk_test_tradeflow123", settings.stripe_api_base).verify(account)
    with pytest.raises(StripeUnreadable):
        await StripeConnectedAccounts("sk_test_tradeflow123", "http://127.0.0.1:9").verify(account)


@pytest.mark.parametrize("path", ["runs", "dry-runs"])
async def test_a_report_the_csv_reader_refuses_is_a_422(api: Api, path: str) -> None:
    """A field above the csv module's limit (128 KiB, well inside the 1 MiB body limit)
    raises csv.Error, which is no ValueError: it must still be an invalid report."""
    body = (
        b'balance_transaction_id,currency,amount,type\ntxn_big,USD,1.00,"' + b"x" * 200_000 + b'"\n'
    )
    r = await api.client.post(
        f"/v1/ledger/reconciliation/{path}", params={"source": "csv"}, content=body
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_report", r.text
