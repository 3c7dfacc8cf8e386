"""FX in the books on the real database (docs/fx.md, "Postings in the ledger"): a trade
funded in EUR, priced in USD and paid out in CNY posted through the consumer's batch path;
Stripe's settlement of the charge and the transfer from a reconciliation run (realised FX);
closing rates, the reporting currency, the revaluation and its reversal, the reporting
trial balance; the audit's FX checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.audit import audit
from shared.fx import funding_conversion, payout_conversion, reversal_conversion
from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import funded, lines, natural, post, refunded, released

EURUSD = funding_conversion(
    100_000, from_currency="EUR", to_currency="USD", mid_rate=Decimal("1.0842"), markup_bps=50
)
USDCNY = payout_conversion(
    57_000, from_currency="USD", to_currency="CNY", mid_rate=Decimal("7.1234"), markup_bps=50
)
BACK = reversal_conversion(EURUSD, 10_000, refunded_before=0, returned_before=0)


def june(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


async def trade(ledger: AsyncEngine, t: str, tag: str) -> dict[str, Any]:
    """Fund USD 1,000.00 in EUR, release USD 600.00 (fee 30.00) paid out in CNY, refund USD
    100.00 in EUR: USD 300.00 stays held."""
    ch, tr, re = f"ch_{tag}", f"tr_{tag}", f"re_{tag}"
    f = funded(t, "o1", 100_000, 100_000, stripe_charge_id=ch, fx=EURUSD, at=june(2, 9))
    r = released(t, "o1", 60_000, 3_000, 0, 40_000, stripe_transfer_id=tr, payout_fx=USDCNY,
                 at=june(10, 9))  # fmt: skip
    b = refunded(t, "o1", 10_000, 30_000, stripe_refund_id=re, fx=BACK, at=june(12, 9))
    await post(ledger, f, r, b)
    return {"funded": f, "released": r, "refunded": b, "ch": ch, "tr": tr, "re": re}


async def test_a_three_currency_trade_posts_through_fx_clearing_per_currency(
    api: Api, ledger: AsyncEngine
) -> None:
    t = api.tenant
    e = await trade(ledger, t, uuid.uuid4().hex[:10])
    assert await lines(ledger, t, e["funded"].id) == [
        ("stripe_clearing", "", 92_698, e["ch"]),
        ("fx_clearing", "", -92_698, e["ch"]),
        ("fx_clearing", "", 100_503, e["ch"]),
        ("escrow_held", "o1", -100_000, None),
        ("fx_revenue", "", -503, None),
    ]
    assert await natural(ledger, t, "escrow_held", "o1") == 30_000
    assert await natural(ledger, t, "stripe_clearing", currency="EUR") == 92_698 - BACK.to_amount
    assert await natural(ledger, t, "stripe_clearing", currency="CNY") == -USDCNY.to_amount
    assert await natural(ledger, t, "fx_revenue", currency="USD") == 503
    assert await natural(ledger, t, "fx_revenue", currency="CNY") == USDCNY.markup_amount
    assert await natural(ledger, t, "fx_revenue", currency="EUR") == BACK.markup_amount  # < 0
    tb = (await api.client.get("/v1/ledger/trial-balance")).json()
    assert {c["currency"]: c["difference"] for c in tb["currencies"]} == {
        "CNY": 0, "EUR": 0, "USD": 0
    }  # fmt: skip


def report(tenant: str, *rows: tuple[str, str, str, str, str, str, str, str]) -> str:
    """A platform report: its lines name the tenant (a report without tenant metadata
    columns is attributable only to a tenant with its own connected Stripe account)."""
    head = (
        "balance_transaction_id,created_utc,currency,gross,fee,reporting_category,source_id,"
        "exchange_rate,payment_metadata[tenant_id]"
    )
    return "\n".join([head, *(",".join((*r, tenant)) for r in rows)]) + "\n"


async def test_stripe_settlement_books_realised_fx_and_clears_fx_clearing(
    api: Api, ledger: AsyncEngine
) -> None:
    t, tag = api.tenant, uuid.uuid4().hex[:10]
    e = await trade(ledger, t, tag)
    # Stripe converted the EUR 926.98 charge at 1.0850 (USD 1,005.77: 74 cents above mid),
    # and sent the CNY 4,040.03 transfer for USD 568.76 (about 7.1034 CNY per USD)
    csv = report(
        t,
        (f"txn_{tag}1", "2026-06-02 09:00:00", "usd", "1005.77", "29.47", "charge", e["ch"],
         "1.085"),
        (f"txn_{tag}2", "2026-06-10 09:00:00", "usd", "-568.76", "0.00", "transfer", e["tr"],
         "7.1034"),
    )  # fmt: skip
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=csv.encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    run = r.json()
    # the refund: booked, Stripe has not reported it yet
    assert (run["matched"], run["missing_in_ledger"], run["missing_in_stripe"]) == (2, 0, 1)
    assert run["amount_mismatch"] == 0
    assert await natural(ledger, t, "realised_fx_gain", currency="USD") == 74 + (57_000 - 56_876)
    # the CNY markup, booked in CNY, was realised in USD by the transfer: a CNY loss of it
    assert await natural(ledger, t, "realised_fx_loss", currency="CNY") == USDCNY.markup_amount
    assert await natural(ledger, t, "stripe_clearing", currency="CNY") == 0
    assert await natural(ledger, t, "stripe_clearing", currency="USD") == 100_577 - 2_947 - 56_876
    usd = next(b for b in run["balances"] if b["currency"] == "USD")
    assert usd["difference"] == 0
    async with ledger.connect() as conn:
        open_fx = (
            await conn.execute(
                sa.text(
                    "SELECT p.external_ref, p.currency, sum(p.amount) FROM postings p"
                    " JOIN accounts a ON a.id = p.account_id WHERE a.tenant_id = :t"
                    " AND a.code = 'fx_clearing' GROUP BY 1, 2 HAVING sum(p.amount) <> 0"
                ),
                {"t": t},
            )
        ).all()
        checks = {c.name: c for c in await audit(conn)}
    # only the refund's conversion is open (Stripe has not settled it yet)
    assert {(ref, c) for ref, c, _ in open_fx} == {(e["re"], "USD"), (e["re"], "EUR")}
    for name in ("every FX clearing posting names its conversion",
                 "FX clearing of every settled conversion is zero per currency"):  # fmt: skip
        assert checks[name].ok, checks[name].details
    again = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=csv.encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert again.json()["booked"] == 0  # settled once


async def test_closing_rates_revaluation_reversal_and_the_reporting_trial_balance(
    api: Api, ledger: AsyncEngine
) -> None:
    t = api.tenant
    await trade(ledger, t, uuid.uuid4().hex[:10])
    c = api.client
    r = await c.post("/v1/ledger/fx/revaluations", json={"period_end": "2026-07-01T00:00:00Z"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "reporting_currency_unset")
    assert (await c.put("/v1/ledger/fx/reporting-currency", json={"currency": "EUR"})).json() == {
        "currency": "EUR"
    }
    for base, rate, as_of in (("USD", "0.9300", "2026-06-01T00:00:00Z"),
                              ("USD", "0.9400", "2026-06-30T00:00:00Z"),
                              ("CNY", "0.1300", "2026-06-30T00:00:00Z")):  # fmt: skip
        body = {"base": base, "quote": "EUR", "rate": rate, "as_of": as_of, "source": "ECB"}
        assert (await c.post("/v1/ledger/fx/rates", json=body)).status_code == 201
    dup = await c.post("/v1/ledger/fx/rates", json=body)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "fx_rate_exists")
    floaty = await c.post("/v1/ledger/fx/rates", json={**body, "rate": 0.13})
    assert floaty.status_code == 422
    bad = await c.post(
        "/v1/ledger/fx/rates", json={**body, "rate": "-1", "as_of": "2026-06-29T00:00:00Z"}
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_rate")
    for huge in ("1E+30", "1000000001", "1e-3"):  # plain digits, 1e-9..1e9 (shared.fx)
        bad = await c.post(
            "/v1/ledger/fx/rates", json={**body, "rate": huge, "as_of": "2026-06-29T00:00:00Z"}
        )
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_rate"), bad.text
    assert len((await c.get("/v1/ledger/fx/rates")).json()) == 3

    done = await c.post("/v1/ledger/fx/revaluations", json={"period_end": "2026-07-01T00:00:00Z"})
    assert done.status_code == 201, done.text
    reval = done.json()
    assert reval["rates"]["USD"] == "0.9400"
    # USD 300.00 held: EUR 282.00 at the close, EUR 279.00 at the rate when it was funded
    july = datetime(2026, 7, 1, tzinfo=UTC)
    june_end = datetime(2026, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    assert await natural(ledger, t, "escrow_revaluation", "o1", "EUR", as_of=june_end) == 300
    assert await natural(ledger, t, "unrealised_fx", currency="EUR", as_of=june_end) == -300
    assert await natural(ledger, t, "escrow_revaluation", "o1", "EUR", as_of=july) == 0
    assert await natural(ledger, t, "unrealised_fx", currency="EUR", as_of=july) == 0
    again = await c.post("/v1/ledger/fx/revaluations", json={"period_end": "2026-07-01T00:00:00Z"})
    assert again.json()["revaluation_transaction_id"] == reval["revaluation_transaction_id"]

    tb = await c.get("/v1/ledger/fx/trial-balance", params={"as_of": "2026-06-30T23:59:59.999999Z"})
    assert tb.status_code == 200, tb.text
    body = tb.json()
    assert body["currency"] == "EUR" and body["rates"]["CNY"] == "0.1300"
    by = {x["account"]: x for x in body["lines"]}
    assert by["escrow_held"]["credit"] == 28_200  # USD 300.00 at 0.94
    assert by["escrow_revaluation"]["credit"] == 300
    assert abs(body["translation_difference"]) <= len(body["lines"])  # rounding only
    period = {"from": "2026-06-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}
    sheet = await c.get("/v1/ledger/reports/balance-sheet",
                        params={**period, "currency": "EUR", "translated": "true"})  # fmt: skip
    assert sheet.status_code == 200, sheet.text
    b = sheet.json()
    held = next(x for x in b["liabilities"] if x["code"] == "escrow_held")
    assert held["closing"] == 28_200  # USD 300.00 at the closing rate 0.94
    assert abs(b["closing_difference"]) <= 20  # the translation's rounding, a cent a figure
    plain = await c.get("/v1/ledger/reports/balance-sheet", params={**period, "currency": "EUR"})
    assert plain.json()["closing_difference"] == 0  # the EUR books alone, as before
    usd = await c.get("/v1/ledger/reports/income-statement",
                      params={**period, "currency": "USD", "translated": "true"})  # fmt: skip
    assert (usd.status_code, usd.json()["error"]["code"]) == (422, "not_reporting_currency")
    no_rate = await c.get("/v1/ledger/fx/trial-balance", params={"as_of": "2026-06-15T00:00:00Z"})
    assert (no_rate.status_code, no_rate.json()["error"]["code"]) == (422, "fx_rate_missing")


async def test_a_conversion_whose_event_comes_after_stripes_line_is_settled_by_a_later_run(
    api: Api, ledger: AsyncEngine
) -> None:
    t, tag = api.tenant, uuid.uuid4().hex[:10]
    ch = f"ch_{tag}"
    csv = report(
        t, (f"txn_{tag}1", "2026-06-02 09:00:00", "usd", "1004.00", "0.00", "charge", ch, "1.0831")
    )

    async def run() -> dict[str, Any]:
        r = await api.client.post(
            "/v1/ledger/reconciliation/runs", params={"source": "csv"}, content=csv.encode(),
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    first = await run()  # the funding's event has not reached the ledger yet
    assert (first["booked"], first["missing_in_ledger"]) == (0, 1)
    await post(ledger, funded(t, "o1", 100_000, 100_000, stripe_charge_id=ch, fx=EURUSD,
                              at=june(2, 9)))  # fmt: skip
    second = await run()
    assert (second["booked"], second["matched"], second["missing_in_ledger"]) == (1, 1, 0)
    assert second["missing_in_stripe"] == 0
    # USD 1,004.00 settled against USD 1,005.03 at mid: a USD 1.03 loss
    assert await natural(ledger, t, "realised_fx_loss", currency="USD") == 103
    assert await natural(ledger, t, "fx_clearing", currency="USD") == 0
    assert await natural(ledger, t, "fx_clearing", currency="EUR") == 0
    assert (await run())["booked"] == 0
