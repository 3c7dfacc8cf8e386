"""What the demo's three-currency trade prints (services/demo/fx_trade.py): its quotes with
their rates, the advance in both currencies, and the FX lines of the books, from the shapes
the escrow, financing and ledger APIs answer with."""

from __future__ import annotations

from decimal import Decimal

from services.demo.fx_trade import (
    FX_ACCOUNTS,
    FX_TOTAL,
    fx_lines,
    offer_text,
    quote_text,
    reporting_lines,
)
from services.ledger.domain.chart import CHART
from shared.fx import funding_conversion


def test_a_quote_shows_both_amounts_the_rates_and_the_markup() -> None:
    c = funding_conversion(
        FX_TOTAL, from_currency="EUR", to_currency="USD", mid_rate=Decimal("1.0842"),
        markup_bps=50,
    )  # fmt: skip
    q = {
        "id": "fxq_1", "side": "funding", "from_currency": c.from_currency,
        "to_currency": c.to_currency, "from_amount": c.from_amount, "to_amount": c.to_amount,
        "rate": c.rate, "mid_rate": c.mid_rate, "markup_bps": c.markup_bps,
        "expires_at": "2026-12-03T18:15:00Z",
    }  # fmt: skip
    # 80,000.00 USD / (1.0842 x 0.995 = 1.078779) = 74,157.9137... EUR, rounded up
    assert c.rate == "1.078779" and c.from_amount == 7_415_792
    assert quote_text(q) == (
        "funding quote fxq_1: 74157.92 EUR -> 80000.00 USD at 1.078779 USD/EUR "
        "(mid 1.0842, markup 50 bp), expires 2026-12-03T18:15:00Z"
    )


def test_an_offer_shows_the_contract_and_the_payout_currency() -> None:
    advance = {
        "principal": 5_544_000, "fee": 166_320, "net": 5_377_680, "currency": "USD",
        "payout": {"currency": "CNY", "net": 37_417_897, "rate": "6.958", "locked_rate": "7.1",
                   "fx_haircut_bps": 200},
    }  # fmt: skip
    assert offer_text(advance) == (
        "advance 55440.00 USD (fee 1663.20 USD, net 53776.80 USD), paid as 374178.97 CNY at "
        "6.958 (locked 7.1 less 200 bp haircut)"
    )
    one_currency = {**advance, "payout": None}
    assert offer_text(one_currency) == "advance 55440.00 USD (fee 1663.20 USD, net 53776.80 USD)"


def test_the_fx_lines_are_the_ledgers_fx_accounts_per_currency() -> None:
    assert set(FX_ACCOUNTS) <= set(CHART)  # the chart's codes, not guesses
    tb = {
        "currencies": [
            {"currency": "USD", "difference": 0, "lines": [
                {"account": "escrow_held", "number": "2100", "name": "Escrow held",
                 "debit": 0, "credit": 0},
                {"account": "fx_revenue", "number": "4200", "name": "FX markup revenue",
                 "debit": 0, "credit": 4_000},
                {"account": "fx_clearing", "number": "1050", "name": "FX clearing",
                 "debit": 8_000_000, "credit": 7_996_000},
            ]},
            {"currency": "EUR", "difference": 0, "lines": [
                {"account": "stripe_clearing", "number": "1010", "name": "Stripe clearing",
                 "debit": 7_415_865, "credit": 0},
                {"account": "fx_clearing", "number": "1050", "name": "FX clearing",
                 "debit": 0, "credit": 7_415_865},
            ]},
        ]
    }  # fmt: skip
    assert fx_lines(tb) == [
        ("EUR", "1050", "FX clearing", 0, 7_415_865),
        ("USD", "1050", "FX clearing", 8_000_000, 7_996_000),
        ("USD", "4200", "FX markup revenue", 0, 4_000),
    ]
    assert fx_lines({"currencies": []}) == []


def test_the_reporting_trial_balance_lines() -> None:
    rtb = {"lines": [{"account": "fx_revenue", "number": "4200", "name": "FX markup revenue",
                      "debit": 0, "credit": 4_000, "by_currency": {"USD": -4_000}}]}  # fmt: skip
    assert reporting_lines(rtb) == [("4200", "FX markup revenue", 0, 4_000)]
