"""Advances in the supplier's payout currency (docs/financing.md, "Advances in the payout
currency"): the worked example, the conversion's exponents and rounding, the refusal without
a locked payout rate, and the use cases: offer, lien, transfer and repayment."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.financing.domain.fx import (
    PayoutLock,
    advance_rate,
    convert_down,
    payout_conversion_of,
    payout_terms,
    plain,
)
from services.financing.domain.orders import OrderView, fold, order_created
from services.financing.domain.policy import PolicyError
from services.financing.domain.sizing import Exposure, Offer, Refusal, fx_reasons, size
from services.financing.entrypoints.http.errors import api_error
from services.financing.entrypoints.http.schemas import AdvancePublic, PolicyUpdate
from services.financing.service_layer import commands
from services.financing.service_layer.errors import FxRateNotLocked
from shared.clock import ManualClock
from shared.events import escrow as ev
from shared.events.financing import AdvanceDisbursed, AdvanceOffered, LienRequested
from shared.events.registry import REGISTRY
from shared.fx import funding_conversion, payout_conversion
from shared.money import MAX_AMOUNT
from tests.unit.financing.builders import DAY, T0, order_30_40_30, policy
from tests.unit.financing.fakes import FakeFinancingUnitOfWork, FakeTransferGateway
from tests.unit.financing.test_use_cases import SUPPLIER, consume, lien_placed, stored

CNY_LOCK = PayoutLock(to_currency="CNY", rate=Decimal("7.1"), mid_rate=Decimal("7.12"))


def cny_order(lock: PayoutLock | None = CNY_LOCK) -> OrderView:
    """The worked example's USD 100,000.00 order (1 % platform fee), paid out in CNY."""
    return replace(
        order_30_40_30(),
        platform_fee_bps=100,
        payout_currency="CNY",
        payout_lock=lock,
        supplier_account_id="acct_s1",
    )


# --- the rule ----------------------------------------------------------------------------


def test_the_worked_example_pays_the_net_at_the_locked_rate_less_the_haircut() -> None:
    """Day 10, 80 %: principal 55,440.00, fee 1,663.20, net 53,776.80 USD (the one-currency
    worked example); at 7.1 CNY per USD less 200 bps = 6.958, the supplier receives
    floor(53,776.80 x 6.958) = CNY 374,178.97; lien, principal and fee stay in USD."""
    outcome = size(cny_order(), policy(fx_haircut_bps=200), Exposure(), T0 + 10 * DAY)
    assert isinstance(outcome, Offer)
    assert (outcome.price.principal, outcome.price.fee, outcome.price.net) == (
        5_544_000,
        166_320,
        5_377_680,
    )
    assert outcome.payout is not None
    assert outcome.payout.currency == "CNY"
    assert outcome.payout.rate == Decimal("6.958") and outcome.payout.locked_rate == Decimal("7.1")
    assert outcome.payout.net == 37_417_897  # 374,178.9744 rounded down
    assert outcome.payout.fx_haircut_bps == 200


def test_one_currency_has_no_payout_terms_and_needs_no_lock() -> None:
    outcome = size(order_30_40_30(), policy(fx_haircut_bps=200), Exposure(), T0)
    assert isinstance(outcome, Offer) and outcome.payout is None
    assert fx_reasons(order_30_40_30()) == []


@pytest.mark.parametrize(
    ("amount", "from_ccy", "to_ccy", "rate", "expected"),
    [
        (100, "USD", "JPY", "150.5", 150),  # USD 1.00 -> JPY 150.5 -> 150 (no minor units)
        (12_345, "USD", "KWD", "0.3071", 37_911),  # USD 123.45 -> KWD 37.911495 -> 37.911
        (1_000, "JPY", "USD", "0.0066", 660),  # JPY 1,000 -> USD 6.60
        (1, "USD", "CNY", "7.1", 7),  # one cent -> 0.071 CNY -> 7 fen (7.1 rounded down)
    ],
)
def test_conversion_accounts_for_both_exponents_and_rounds_down(
    amount: int, from_ccy: str, to_ccy: str, rate: str, expected: int
) -> None:
    assert convert_down(amount, from_ccy, to_ccy, Decimal(rate)) == expected


@given(
    net=st.integers(1, 10**15),
    rate=st.decimals("0.000001", "100000", places=6),
    haircut=st.integers(0, 5_000),
)
def test_the_payout_never_exceeds_the_net_at_the_locked_rate(
    net: int, rate: Decimal, haircut: int
) -> None:
    """The haircut only takes away, rounding down never adds a minor unit, and the payout's
    conversion accounts for every unit: to_amount + markup_amount = the net at the locked
    rate (half-even)."""
    assume(Decimal(net) * rate <= MAX_AMOUNT)  # beyond: refused, below
    lock = PayoutLock("CNY", rate, rate)
    terms = payout_terms(net, "USD", lock, haircut)
    exact = Decimal(net) * rate  # USD and CNY have the same exponent
    assert terms.net <= exact * (10_000 - haircut) / 10_000
    assert terms.net == convert_down(net, "USD", "CNY", terms.rate)
    assert terms.rate <= rate * (10_000 - haircut) / 10_000
    fx = payout_conversion_of(net, "USD", "CNY", rate, haircut)
    assert fx.to_amount == terms.net and fx.from_amount == net
    assert fx.to_amount + fx.markup_amount == fx.mid_amount
    assert abs(Decimal(fx.mid_amount) - exact) <= Decimal("0.5")


def test_the_advance_rate_is_a_plain_decimal() -> None:
    assert advance_rate(Decimal("7.1234"), 200) == Decimal("6.980932")
    assert str(plain(Decimal("70.00"))) == "70"  # never "7E+1" in an event or the API
    assert str(advance_rate(Decimal("100"), 0)) == "100"


def test_a_net_beyond_the_largest_amount_at_the_locked_rate_is_refused_not_raised() -> None:
    """Hypothesis found it: USD 100,000.00 at 10^9 CNY per USD is beyond any amount; sizing
    raised the conversion's error (a 500 on a quote) instead of refusing the advance."""
    huge = PayoutLock(to_currency="CNY", rate=Decimal(10) ** 9, mid_rate=Decimal(10) ** 9)
    outcome = size(cny_order(huge), policy(), Exposure(), T0 + 10 * DAY)
    assert isinstance(outcome, Refusal)
    assert [r.code for r in outcome.reasons] == ["fx_amount_out_of_range"]


def test_a_cross_currency_order_without_a_locked_rate_is_not_sized() -> None:
    order = cny_order(lock=None)
    assert [r.code for r in fx_reasons(order)] == ["fx_rate_not_locked"]
    outcome = size(order, policy(), Exposure(), T0 + 10 * DAY)
    assert isinstance(outcome, Refusal)
    assert [r.code for r in outcome.reasons] == ["fx_rate_not_locked"]
    # a lock into another currency than the order pays out in is no lock for it
    elsewhere = cny_order(lock=replace(CNY_LOCK, to_currency="EUR"))
    assert [r.code for r in fx_reasons(elsewhere)] == ["fx_rate_not_locked"]


@pytest.mark.parametrize("haircut", [-1, 5_001, True])
def test_the_haircut_is_bounded(haircut: object) -> None:
    with pytest.raises(PolicyError):
        policy(fx_haircut_bps=haircut)
    if type(haircut) is int:
        with pytest.raises(ValueError):
            PolicyUpdate(fx_haircut_bps=haircut)


def test_the_policy_api_carries_the_haircut() -> None:
    assert PolicyUpdate(fx_haircut_bps=150).policy("USD").fx_haircut_bps == 150
    assert PolicyUpdate().policy("USD").fx_haircut_bps == 0


# --- events ------------------------------------------------------------------------------


def test_version_1_advance_events_upcast_to_one_currency() -> None:
    disbursed = REGISTRY.load(
        "financing.advance_disbursed",
        1,
        {
            "advance_id": "a1",
            "order_id": "o1",
            "supplier_id": "s1",
            "currency": "USD",
            "principal": 100,
            "fee": 1,
            "net_disbursed": 99,
            "stripe_transfer_id": "tr_1",
        },
    )
    assert isinstance(disbursed, AdvanceDisbursed)
    assert disbursed.payout_currency is None and disbursed.payout_amount is None
    assert disbursed.payout_rate is None and disbursed.fx_haircut_bps == 0
    assert disbursed.payout_fx is None
    offered = REGISTRY.load(
        "financing.advance_offered",
        1,
        {
            "advance_id": "a1",
            "order_id": "o1",
            "supplier_id": "s1",
            "buyer_id": "b1",
            "currency": "USD",
            "principal": 100,
            "fee": 1,
            "term_days": 30,
            "daily_fee_rate": "0.0005",
            "apr": "0.18",
            "expires_at": T0.isoformat(),
        },
    )
    assert isinstance(offered, AdvanceOffered) and offered.payout_net is None
    assert AdvanceOffered.event_version == 2 and AdvanceDisbursed.event_version == 2


# --- the use cases -----------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + 10 * DAY)


async def test_without_a_locked_payout_rate_a_cross_currency_quote_is_refused_committing_nothing(
    clock: ManualClock,
) -> None:
    uow = FakeFinancingUnitOfWork()
    uow.seed_order(cny_order(lock=None))
    with pytest.raises(FxRateNotLocked) as refused:
        await commands.quote(uow, clock, "t1", "s1", "o1", None, SUPPLIER)
    assert uow.advances.rows == {} and uow.outbox.envelopes == [] and uow.commits == 0
    error = api_error(refused.value)
    assert error is not None and error.status == 422 and error.code == "fx_rate_not_locked"
    assert error.details == {"order_id": "o1", "currency": "USD", "payout_currency": "CNY"}


async def test_a_cross_currency_advance_offers_lends_and_is_repaid_in_the_contract_currency(
    clock: ManualClock,
) -> None:
    uow = FakeFinancingUnitOfWork()
    uow.seed_order(cny_order())
    await commands.set_policy(uow, "t1", policy(fx_haircut_bps=200), "apikey:finance")
    offered = await commands.quote(uow, clock, "t1", "s1", "o1", None, SUPPLIER)
    assert (offered.currency, offered.principal, offered.net) == ("USD", 5_544_000, 5_377_680)
    assert (offered.payout_currency, offered.payout_net) == ("CNY", 37_417_897)
    assert (offered.payout_rate, offered.locked_rate) == (Decimal("6.958"), Decimal("7.1"))
    (env,) = uow.outbox.envelopes
    assert env.type == "financing.advance_offered" and env.version == 2
    assert {k: env.data[k] for k in ("payout_currency", "payout_net", "payout_rate")} == {
        "payout_currency": "CNY",
        "payout_net": 37_417_897,
        "payout_rate": "6.958",
    }
    assert env.data["locked_rate"] == "7.1" and env.data["fx_haircut_bps"] == 200
    shown = AdvancePublic.of(offered, clock.now())  # the offer shows both currencies
    assert shown.currency == "USD" and shown.net == 5_377_680
    assert shown.payout is not None and shown.payout.model_dump() == {
        "currency": "CNY",
        "net": 37_417_897,
        "rate": "6.958",
        "locked_rate": "7.1",
        "fx_haircut_bps": 200,
    }

    accepted = await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    (lien,) = [e.payload() for e in uow.outbox.envelopes if e.type == LienRequested.event_type]
    assert isinstance(lien, LienRequested)
    assert (lien.amount, lien.currency) == (5_544_000, "USD")  # the lien: contract currency

    gateway = FakeTransferGateway()
    uow.orders.rows[("t1", "o1")] = (
        replace(cny_order(), funding_charge_id="ch_1", funding_charge_amount=10_000_000),
        {},
    )
    assert await consume(uow, clock, gateway, lien_placed(accepted)) == {}
    (call,) = gateway.calls
    assert (call["amount"], call["currency"]) == (37_417_897, "CNY")
    # the funding charge settled in another currency: the transfer is from the balance
    assert call["source_transaction"] is None
    (paid,) = [e.payload() for e in uow.outbox.envelopes if e.type == AdvanceDisbursed.event_type]
    assert isinstance(paid, AdvanceDisbursed)
    assert (paid.currency, paid.principal, paid.fee, paid.net_disbursed) == (
        "USD",
        5_544_000,
        166_320,
        5_377_680,
    )
    assert (paid.payout_currency, paid.payout_amount, paid.payout_rate) == (
        "CNY",
        37_417_897,
        "6.958",
    )
    # the payout as a conversion: 53,776.80 USD at the locked 7.1 (381,815.28 CNY), less
    # the 2 % haircut: 374,178.97 CNY sent, 7,636.31 CNY kept back
    assert paid.payout_fx is not None
    assert (paid.payout_fx.from_currency, paid.payout_fx.from_amount) == ("USD", 5_377_680)
    assert (paid.payout_fx.to_currency, paid.payout_fx.to_amount) == ("CNY", 37_417_897)
    assert (paid.payout_fx.mid_rate, paid.payout_fx.rate) == ("7.1", "6.958")
    assert (paid.payout_fx.mid_amount, paid.payout_fx.markup_amount) == (38_181_528, 763_631)

    released = ev.MilestoneReleased(
        order_id="o1", milestone_id="m2", payout_id="p2", currency="USD", gross=4_000_000,
        platform_fee=0, lien_repayment=4_000_000, supplier_net=0,
        advance_id=offered.advance_id, stripe_transfer_id=None, held_after=3_000_000,
    )  # fmt: skip
    await consume(uow, clock, gateway, released)
    after = stored(uow, offered.advance_id)
    assert after.state == "partially_repaid" and after.balance == 5_544_000 - 4_000_000
    (repaid,) = [e for e in uow.outbox.envelopes if e.type == "financing.repayment_applied"]
    assert repaid.data["currency"] == "USD" and repaid.data["amount"] == 4_000_000


async def test_a_one_currency_transfer_still_draws_on_the_funding_charge(
    clock: ManualClock,
) -> None:
    uow = FakeFinancingUnitOfWork()
    order = replace(
        order_30_40_30(),
        supplier_account_id="acct_s1",
        funding_charge_id="ch_1",
        funding_charge_amount=10_000_000,
    )
    uow.seed_order(order)
    offered = await commands.quote(uow, clock, "t1", "s1", "o1", None, SUPPLIER)
    assert offered.payout_currency is None and AdvancePublic.of(offered, clock.now()).payout is None
    accepted = await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    gateway = FakeTransferGateway()
    await consume(uow, clock, gateway, lien_placed(accepted))
    (call,) = gateway.calls
    assert (call["amount"], call["currency"], call["source_transaction"]) == (
        offered.net,
        "USD",
        "ch_1",
    )


# --- the read model ----------------------------------------------------------------------


def _created(**currencies: str) -> ev.OrderCreated:
    return ev.OrderCreated.model_validate(
        {
            "order_id": "o1",
            "buyer_id": "b1",
            "supplier_id": "s1",
            "supplier_account_id": "acct_s1",
            "currency": "USD",
            "total": 10_000_000,
            "milestones": [
                {
                    "milestone_id": "m1",
                    "name": "all",
                    "amount": 10_000_000,
                    "kind": "contract",
                    "inspection_window_seconds": 0,
                }
            ],
            "platform_fee_bps": 0,
            "platform_fee_fixed": 0,
            **currencies,
        }
    )


def _funded(**fx: object) -> ev.Funded:
    return ev.Funded(
        order_id="o1", payment_id="p1", amount=10_000_000, currency="USD", method="stripe",
        stripe_payment_intent_id="pi_1", stripe_charge_id="ch_1", funded_total=10_000_000,
        held_after=10_000_000, fully_funded=True, **fx,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_read_model_keeps_the_payout_currency_and_the_first_locked_rate() -> None:
    lock = payout_conversion(
        10_000_000, from_currency="USD", to_currency="CNY", mid_rate=Decimal("7.15"),
        markup_bps=100, quote_id="fxq_1",
    )  # fmt: skip
    order = order_created("t1", _created(funding_currency="EUR", payout_currency="CNY"), T0)
    assert order.payout_currency == "CNY" and order.cross_currency and order.payout_lock is None
    fx = funding_conversion(
        10_000_000, from_currency="EUR", to_currency="USD", mid_rate=Decimal("1.0842"),
        markup_bps=50,
    )  # fmt: skip
    order, _ = fold(order, {}, _funded(fx=fx, payout_lock=lock))
    assert order.payout_lock == PayoutLock("CNY", Decimal("7.07850"), Decimal("7.15"), "fxq_1")
    assert order.locked_payout is order.payout_lock
    # the EUR charge cannot be the source of a USD (or CNY) transfer
    assert order.funding_charge_id is None and order.funding_source(1) is None
    # a later funding does not move the rate locked first
    later = payout_conversion(
        10_000_000, from_currency="USD", to_currency="CNY", mid_rate=Decimal("6"), markup_bps=0
    )
    assert fold(order, {}, _funded(payout_lock=later))[0].payout_lock == order.payout_lock


def test_an_order_in_one_currency_reads_as_before() -> None:
    order = order_created("t1", _created(), T0)
    assert order.payout_currency == "USD" and not order.cross_currency
    order, _ = fold(order, {}, _funded())
    assert order.payout_lock is None and order.funding_charge_id == "ch_1"
