"""FX in the books (docs/fx.md, "Postings in the ledger"): conversions through per-currency
FX clearing, Stripe's settlement with the realised gain or loss, revaluation and reversal."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain import fx
from services.ledger.domain.journal import JournalDraft, Line, totals
from services.ledger.domain.recon import StripeLine
from services.ledger.domain.rules import draft_for
from services.ledger.service_layer.events import plan
from shared.events import Envelope
from shared.events.escrow import Funded, MilestoneReleased, Refunded
from shared.fx import (
    FxConversion,
    funding_conversion,
    payout_conversion,
    reversal_conversion,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
EURUSD = funding_conversion(
    100_000, from_currency="EUR", to_currency="USD", mid_rate=Decimal("1.0842"), markup_bps=50
)
USDCNY = payout_conversion(
    95_000, from_currency="USD", to_currency="CNY", mid_rate=Decimal("7.1234"), markup_bps=50
)


def env(payload: Any) -> Envelope:
    return Envelope.wrap(payload, source="escrow", tenant_id="t", subject="o1", occurred_at=NOW)


def funded(conv: FxConversion | None = EURUSD, amount: int = 100_000, **kw: Any) -> Envelope:
    fields: dict[str, Any] = dict(
        order_id="o1", payment_id="pay_1", amount=amount, currency="USD", method="stripe",
        stripe_payment_intent_id="pi_1", stripe_charge_id="ch_1", funded_total=amount,
        held_after=amount, fully_funded=True, fx=conv,
    )  # fmt: skip
    fields.update(kw)
    return env(Funded(**fields))


def released(conv: FxConversion | None = USDCNY, **kw: Any) -> Envelope:
    fields: dict[str, Any] = dict(
        order_id="o1", milestone_id="m1", payout_id="po_1", gross=100_000, platform_fee=5_000,
        lien_repayment=0, supplier_net=95_000, currency="USD", advance_id=None,
        stripe_transfer_id="tr_1", held_after=0, payout_fx=conv,
    )  # fmt: skip
    fields.update(kw)
    return env(MilestoneReleased(**fields))


def refunded(amount: int, conv: FxConversion | None, held_after: int = 0, **kw: Any) -> Envelope:
    fields: dict[str, Any] = dict(
        order_id="o1", refund_id="rf_1", payment_id="pay_1", amount=amount, currency="USD",
        stripe_refund_id="re_1", reason="cancelled", held_after=held_after, fx=conv,
    )  # fmt: skip
    fields.update(kw)
    return env(Refunded(**fields))


def rows(draft: JournalDraft | None) -> list[tuple[str, str, str, int, str | None]]:
    assert draft is not None
    return [(x.code, x.subledger, x.currency, x.amount, x.external_ref) for x in draft.lines]


def test_a_funding_in_eur_credits_usd_escrow_through_fx_clearing() -> None:
    assert (EURUSD.from_amount, EURUSD.mid_amount, EURUSD.markup_amount) == (92_698, 100_503, 503)
    assert rows(draft_for(funded())) == [
        ("stripe_clearing", "", "EUR", 92_698, "ch_1"),
        ("fx_clearing", "", "EUR", -92_698, "ch_1"),
        ("fx_clearing", "", "USD", 100_503, "ch_1"),
        ("escrow_held", "o1", "USD", -100_000, None),
        ("fx_revenue", "", "USD", -503, None),
    ]


def test_a_payout_leaves_in_cny_and_a_refund_goes_back_in_eur() -> None:
    assert (USDCNY.to_amount, USDCNY.mid_amount, USDCNY.markup_amount) == (673_339, 676_723, 3_384)
    assert rows(draft_for(released())) == [
        ("escrow_held", "o1", "USD", 100_000, None),
        ("platform_fee_revenue", "", "USD", -5_000, None),
        ("supplier_payable", "", "USD", -95_000, None),
        ("supplier_payable", "", "USD", 95_000, None),
        ("fx_clearing", "", "USD", -95_000, "tr_1"),
        ("fx_clearing", "", "CNY", 676_723, "tr_1"),
        ("stripe_clearing", "", "CNY", -673_339, "tr_1"),
        ("fx_revenue", "", "CNY", -3_384, None),
    ]
    back = reversal_conversion(EURUSD, 100_000, refunded_before=0, returned_before=0)
    assert (back.to_amount, back.mid_amount, back.markup_amount) == (92_698, 92_234, -464)
    assert rows(draft_for(refunded(100_000, back))) == [
        ("escrow_held", "o1", "USD", 100_000, None),
        ("fx_clearing", "", "USD", -100_000, "re_1"),
        ("fx_clearing", "", "EUR", 92_234, "re_1"),
        ("stripe_clearing", "", "EUR", -92_698, "re_1"),
        ("fx_revenue", "", "EUR", 464, None),  # the markup given back: a debit
    ]


def test_without_fx_the_lines_are_as_before() -> None:
    assert rows(draft_for(funded(None))) == [
        ("stripe_clearing", "", "USD", 100_000, "ch_1"),
        ("escrow_held", "o1", "USD", -100_000, None),
    ]
    assert rows(draft_for(refunded(100, None))) == [
        ("escrow_held", "o1", "USD", 100, None),
        ("stripe_clearing", "", "USD", -100, "re_1"),
    ]


def test_a_wire_funding_converts_from_the_bank_with_the_payment_as_reference() -> None:
    lines = rows(
        draft_for(funded(method="wire", stripe_charge_id=None, stripe_payment_intent_id=None))
    )
    assert lines[0] == ("bank", "", "EUR", 92_698, None)
    assert lines[1] == ("fx_clearing", "", "EUR", -92_698, "pay_1")


def test_a_conversion_that_does_not_match_the_event_is_refused_whole() -> None:
    failed: dict[Any, Exception] = {}
    wrong_amount = funded(amount=99_999)  # the block credits 100,000
    bad_markup = funded(EURUSD.model_copy(update={"markup_amount": 502}))
    wrong_side = released(USDCNY.model_copy(update={"from_currency": "EUR"}))
    for e in (wrong_amount, bad_markup, wrong_side):  # one order each: none stops another
        drafts, _ = plan([e], failed)
        assert drafts == []
    assert len(failed) == 3
    assert "not the funding credits" in str(failed[wrong_amount.id])
    assert "mid_amount" in str(failed[bad_markup.id])


def line(amount: int, currency: str = "USD", rate: str | None = "1.0850", **kw: Any) -> StripeLine:
    return StripeLine(
        kw.pop("txn", "txn_1"), kw.pop("source", "ch_1"), kw.pop("type", "charge"), currency,
        amount, 0, NOW, exchange_rate=rate, **kw,
    )  # fmt: skip


def balances(*drafts: JournalDraft | None) -> dict[tuple[str, str, str | None], int]:
    out: dict[tuple[str, str, str | None], int] = defaultdict(int)
    for d in drafts:
        assert d is not None
        for x in d.lines:
            out[(x.code, x.currency, x.external_ref if x.code == "fx_clearing" else None)] += (
                x.amount
            )
    return {k: v for k, v in out.items() if v}


def test_stripe_settling_above_mid_is_a_realised_gain_and_clears_fx_clearing() -> None:
    funding = draft_for(funded())
    # Stripe converted the EUR 926.98 at 1.0850: USD 1,005.77, 74 cents more than at mid
    settled = fx.settlement("t", line(100_577), {"EUR": 92_698}, {"EUR": -92_698, "USD": 100_503})
    assert rows(settled) == [
        ("stripe_clearing", "", "EUR", -92_698, "ch_1"),
        ("fx_clearing", "", "EUR", 92_698, "ch_1"),
        ("stripe_clearing", "", "USD", 100_577, "ch_1"),
        ("fx_clearing", "", "USD", -100_577, "ch_1"),
        ("fx_clearing", "", "USD", 74, "ch_1"),
        ("realised_fx_gain", "", "USD", -74, None),
    ]
    after = balances(funding, settled)
    assert not [k for k in after if k[0] == "fx_clearing"]
    assert after[("stripe_clearing", "USD", None)] == 100_577
    assert ("stripe_clearing", "EUR", None) not in after


def test_stripe_settling_below_mid_is_a_realised_loss() -> None:
    settled = fx.settlement("t", line(100_400), {"EUR": 92_698}, {"EUR": -92_698, "USD": 100_503})
    assert rows(settled)[-2:] == [
        ("fx_clearing", "", "USD", -103, "ch_1"),
        ("realised_fx_loss", "", "USD", 103, None),
    ]


def test_settlement_needs_a_rate_and_a_conversion() -> None:
    assert fx.settlement("t", line(100, rate=None), {"EUR": 90}, {}) is None
    assert fx.settlement("t", line(100), {"USD": 100}, {}) is None  # booked as settled
    same = fx.settlement("t", line(100_503), {"EUR": 92_698}, {"EUR": -92_698, "USD": 100_503})
    assert [r[0] for r in rows(same)] == ["stripe_clearing", "fx_clearing"] * 2  # at mid: no P&L


def test_revaluation_into_the_reporting_currency_and_its_reversal() -> None:
    held = [
        fx.OpenHeld("o1", "USD", 100_000), fx.OpenHeld("o2", "EUR", 5_000),
        fx.OpenHeld("o3", "USD", 7_000),  # no historical rate: carried at the closing rate
    ]  # fmt: skip
    reval = fx.revaluation(
        "t", "EUR", NOW, held, closing={"USD": Decimal("0.9300")},
        historical={"o1": Decimal("0.9223")},
    )  # fmt: skip
    # USD 1,000.00 held: EUR 930.00 at the close, EUR 922.30 at its historical rate
    assert rows(reval) == [
        ("unrealised_fx", "", "EUR", 770, None),
        ("escrow_revaluation", "o1", "EUR", -770, None),
    ]
    assert reval is not None
    back = fx.revaluation_reversal(reval, datetime(2026, 7, 1, tzinfo=UTC))
    assert rows(back) == [
        ("unrealised_fx", "", "EUR", -770, None),
        ("escrow_revaluation", "o1", "EUR", 770, None),
    ]
    assert reval.posted_at < NOW and back.posted_at == datetime(2026, 7, 1, tzinfo=UTC)
    with pytest.raises(KeyError):
        fx.revaluation("t", "CHF", NOW, held, closing={"USD": Decimal(1)}, historical={})


def test_closing_rates_are_checked_and_found_direct_or_inverse() -> None:
    r = fx.closing_rate("USD", "EUR", "0.9300", NOW, "ECB")
    assert r.rate == "0.9300"
    for bad in ("0", "-1", "abc", "1.0000000000001", "NaN"):
        with pytest.raises(fx.InvalidClosingRate):
            fx.closing_rate("USD", "EUR", bad, NOW, "ECB")
    with pytest.raises(fx.InvalidClosingRate):
        fx.closing_rate("USD", "USD", "1", NOW, "ECB")
    with pytest.raises(fx.InvalidClosingRate):
        fx.closing_rate("USD", "EUR", "1", datetime(2026, 1, 1), "ECB")
    older = fx.closing_rate("USD", "EUR", "0.9000", datetime(2026, 5, 1, tzinfo=UTC), "ECB")
    cny = fx.closing_rate("EUR", "CNY", "7.7000", NOW, "ECB")
    got = fx.rates_into("EUR", ["USD", "CNY", "EUR"], [older, r, cny])
    assert got["USD"] == Decimal("0.9300") and got["EUR"] == 1
    assert got["CNY"] == Decimal(1) / Decimal("7.7000")
    with pytest.raises(fx.FxRateMissing, match="JPY"):
        fx.rates_into("EUR", ["JPY"], [r])


def test_the_translated_trial_balance_names_its_rounding() -> None:
    lines, diff = fx.translate(
        [("stripe_clearing", "USD", 100_001), ("escrow_held", "USD", -100_001),
         ("bank", "EUR", 500), ("suspense", "EUR", -500)],
        "EUR", {"USD": Decimal("0.5"), "EUR": Decimal(1)},
    )  # fmt: skip
    assert [(x.code, x.balance) for x in lines] == [
        ("bank", 500),
        ("escrow_held", -50_000),
        ("stripe_clearing", 50_000),
        ("suspense", -500),
    ]  # 500.005 and -500.005 both half-even to 500.00 and -500.00
    assert diff == 0


def test_value_in_accounts_for_both_exponents() -> None:
    assert fx.value_in(100_000, "USD", "JPY", Decimal("150.25")) == 150_250
    assert fx.value_in(1_000, "KWD", "USD", Decimal("3.25")) == 325  # KWD 1.000
    assert fx.value_in(5, "USD", "EUR", Decimal("0.5")) == 2  # 2.5 cents: half-even


CURRENCIES = st.sampled_from(["EUR", "USD", "CNY", "JPY", "KWD", "GBP"])


@given(
    pair=st.tuples(CURRENCIES, CURRENCIES).filter(lambda p: p[0] != p[1]),
    contract=st.integers(1, 10**9),
    mid=st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=6),
    markup=st.integers(0, 500),
    parts=st.lists(st.integers(1, 100), min_size=1, max_size=5),
)
def test_any_conversion_and_its_reversal_leave_every_currency_at_zero(
    pair: tuple[str, str], contract: int, mid: Decimal, markup: int, parts: list[int]
) -> None:
    """Funding then refunding all of it in parts, through the posting rules: per currency
    every transaction balances, the money accounts come back to zero, and what is left in
    FX clearing is exactly the FX revenue booked (no minor unit created or lost)."""
    funding_ccy, contract_ccy = pair
    try:
        conv = funding_conversion(
            contract, from_currency=funding_ccy, to_currency=contract_ccy, mid_rate=mid,
            markup_bps=markup,
        )  # fmt: skip
    except ValueError:
        return  # beyond the largest amount, or no rate: refused by shared.fx
    drafts = [draft_for(funded(conv, amount=contract, currency=contract_ccy))]
    weights = sum(parts)
    done = returned = 0
    for i, w in enumerate(parts):
        r = contract - done if i == len(parts) - 1 else contract * w // weights
        if r == 0:
            continue
        back = reversal_conversion(conv, r, refunded_before=done, returned_before=returned)
        done, returned = done + r, returned + back.to_amount
        drafts.append(
            draft_for(refunded(r, back, contract - done, currency=contract_ccy,
                               stripe_refund_id=f"re_{i}", refund_id=f"rf_{i}"))
        )  # fmt: skip
    assert returned == conv.from_amount  # a full refund returns exactly what was paid
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for d in drafts:
        assert d is not None and all(v == 0 for v in totals(d.lines).values())
        for x in d.lines:
            sums[(x.code, x.currency)] += x.amount
    for c in pair:
        assert sums[("stripe_clearing", c)] == 0
        assert sums[("escrow_held", c)] == 0
        assert sums[("fx_clearing", c)] + sums[("fx_revenue", c)] == 0


def test_lines_of_a_conversion_balance_per_currency() -> None:
    lines: list[Line] = fx.conversion_lines(EURUSD, fx.Leg("bank"), fx.Leg("suspense"), "x")
    assert totals(lines) == {"EUR": 0, "USD": 0}
    with pytest.raises(ValueError, match="itself"):
        fx.conversion_lines(
            EURUSD.model_copy(update={"to_currency": "EUR"}), fx.Leg("bank"), fx.Leg("bank"), "x"
        )


@pytest.mark.parametrize("bad", ["1E+30", "1e-3", "1000000001", "0.0000000001", " 1.5e2"])
def test_closing_rates_are_plain_decimals_in_the_plausible_range(bad: str) -> None:
    with pytest.raises(fx.InvalidClosingRate):
        fx.closing_rate("USD", "EUR", bad, NOW, "ECB")
