"""Sizing: the advance rate on the financeable amount, every limit, the term and refusals."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from services.financing.domain.orders import OrderView
from services.financing.domain.policy import Policy, PolicyError
from services.financing.domain.sizing import (
    Exposure,
    Offer,
    Refusal,
    concentration_headroom,
    order_reasons,
    size,
    term_days,
)
from tests.unit.financing.builders import DAY, T0, order_30_40_30, policy


def codes(outcome: Offer | Refusal) -> list[str]:
    assert isinstance(outcome, Refusal), outcome
    return [r.code for r in outcome.reasons]


def test_financeable_is_funded_unreleased_undisputed_due_to_the_supplier() -> None:
    order = order_30_40_30()
    assert order.financeable() == 7_000_000  # deposit 30,000.00 already released
    with_fee = replace(order, platform_fee_bps=100, platform_fee_fixed=50)
    # 1 % + 0.50 on each of the two open releases: 40,000.50 + 30,000.50 -> 700.00 + 1.00
    assert with_fee.financeable() == 7_000_000 - 70_000 - 100
    disputed = replace(order.with_milestone("m2", disputed=True), disputed_total=4_000_000)
    assert disputed.financeable() == 3_000_000
    half_funded = order_30_40_30(funded=6_000_000)  # 60,000 in, 30,000 released
    assert half_funded.financeable() == 3_000_000


def test_default_rate_offers_80_percent_of_the_financeable_amount() -> None:
    outcome = size(order_30_40_30(), policy(), Exposure(), T0 + 10 * DAY)
    assert isinstance(outcome, Offer)
    assert outcome.price.principal == 5_600_000 and outcome.max_available == 5_600_000
    # 56,000 needs the shipment (40,000) and the inspection release: created + 65 + 5 days
    assert outcome.expected_release_at == T0 + 70 * DAY
    assert outcome.price.term_days == 60
    assert outcome.price.fee == 168_000


def test_a_70_percent_request_is_priced_on_its_own_term() -> None:
    outcome = size(order_30_40_30(), policy(), Exposure(), T0 + 10 * DAY, requested=3_500_000)
    assert isinstance(outcome, Offer)
    # 35,000 is covered by the shipment release alone: created + 30 days -> 20 days from now
    assert outcome.price.term_days == 20
    assert outcome.price.fee == 35_000  # 35,000.00 x 0.0005 x 20


def test_term_is_at_least_one_day_and_rounds_part_days_up() -> None:
    order = order_30_40_30()
    assert term_days(order, policy(), 1_000, T0 + 29 * DAY + DAY / 2) == 1
    assert term_days(order, policy(), 1_000, T0 + 40 * DAY) == 1


def test_asking_above_the_advance_rate_is_refused_with_the_amount_available() -> None:
    outcome = size(order_30_40_30(), policy(), Exposure(), T0, requested=5_600_001)
    assert isinstance(outcome, Refusal)
    assert [(r.code, r.available) for r in outcome.reasons] == [("advance_rate", 5_600_000)]


@pytest.mark.parametrize(
    ("limits", "exposure", "code", "available"),
    [
        ({"supplier_limit": 10_000_000}, Exposure(supplier=9_000_000), "supplier_limit", 1_000_000),
        ({"buyer_limit": 5_000_000}, Exposure(buyer=1_000_000), "buyer_limit", 4_000_000),
        ({"pair_limit": 2_000_000}, Exposure(pair=2_500_000), "pair_limit", 0),
    ],
)
def test_each_limit_caps_the_offer_and_refuses_beyond_it(
    limits: dict[str, int], exposure: Exposure, code: str, available: int
) -> None:
    pol = policy(**limits)
    if available > 0:
        capped = size(order_30_40_30(), pol, exposure, T0)
        assert isinstance(capped, Offer) and capped.price.principal == available
    refused = size(order_30_40_30(), pol, exposure, T0, requested=available + 1)
    assert codes(refused) == [code]
    assert isinstance(refused, Refusal) and refused.reasons[0].available == available


def test_concentration_cap_keeps_one_buyer_under_its_share_of_the_book() -> None:
    # book 900,000.00 of which this buyer 200,000.00; cap 25 %:
    # (200,000 + x) <= 0.25 (900,000 + x)  ->  x <= 25,000 / 0.75 = 33,333.33
    pol = policy(concentration_cap_bps=2_500)
    exposure = Exposure(buyer=20_000_000, book=90_000_000)
    assert concentration_headroom(pol, exposure) == 3_333_333
    assert 4 * (20_000_000 + 3_333_333) <= 90_000_000 + 3_333_333
    assert 4 * (20_000_000 + 3_333_334) > 90_000_000 + 3_333_334
    offer = size(order_30_40_30(), pol, exposure, T0)
    assert isinstance(offer, Offer) and offer.price.principal == 3_333_333
    assert codes(size(order_30_40_30(), pol, exposure, T0, requested=3_333_334)) == [
        "concentration_cap"
    ]


def test_concentration_cap_waits_for_the_book_to_reach_its_minimum() -> None:
    pol = policy(concentration_cap_bps=2_500, concentration_min_book=50_000_000)
    assert concentration_headroom(pol, Exposure()) == 50_000_000
    assert concentration_headroom(policy(concentration_cap_bps=10_000), Exposure()) is None


def test_a_refusal_lists_every_binding_reason() -> None:
    pol = policy(supplier_limit=0, buyer_limit=0)
    outcome = size(order_30_40_30(), pol, Exposure(), T0)
    assert codes(outcome) == ["supplier_limit", "buyer_limit", "below_minimum"]


def test_nothing_financeable_is_refused() -> None:
    order = order_30_40_30()
    done = replace(order, released_total=order.funded_total).with_milestone("m2", released=True)
    done = done.with_milestone("m3", released=True)
    assert codes(size(done, policy(), Exposure(), T0)) == ["advance_rate", "below_minimum"]


def test_order_level_reasons() -> None:
    order = order_30_40_30()
    assert [r.code for r in order_reasons(None, "s1", False)] == ["order_unknown"]
    unfunded: OrderView = replace(order, funded_total=0, status="cancelled")
    assert [r.code for r in order_reasons(unfunded, "s2", True)] == [
        "not_the_supplier",
        "order_closed",
        "order_not_funded",
        "advance_exists",
    ]
    assert order_reasons(order, "s1", False) == []


def test_policy_refuses_floats_and_nonsense() -> None:
    with pytest.raises(PolicyError):
        Policy(currency="USD", daily_fee_rate=0.0005)  # type: ignore[arg-type]
    with pytest.raises(PolicyError):
        Policy(currency="USD", advance_rate_bps=12_000)
    with pytest.raises(PolicyError):
        Policy(currency="USD", supplier_limit=-1)
    with pytest.raises(PolicyError):
        Policy(currency="USD", concentration_cap_bps=0)
    assert Policy(currency="USD").daily_fee_rate == Decimal("0.0005")


def test_a_partly_funded_escrow_is_not_yet_financeable() -> None:
    # escrow refuses a lien until the escrow is fully funded: an offer would only be
    # accepted to be cancelled by the refused lien
    partly = order_30_40_30(funded=6_000_000)
    assert [r.code for r in order_reasons(partly, "s1", False)] == ["order_not_funded"]


def test_a_fee_that_would_eat_the_whole_advance_is_a_refusal_not_a_crash() -> None:
    # 0.99 % a day over the ~200 days to the inspection release: the fee is twice the principal
    days = {"contract": 0, "shipment": 30, "inspection": 200}
    costly = policy(daily_fee_rate=Decimal("0.0099"), days_by_kind=days)
    assert codes(size(order_30_40_30(), costly, Exposure(), T0 + 10 * DAY)) == [
        "fee_exceeds_advance"
    ]


def test_headroom_is_the_smallest_cap_an_offer_would_take() -> None:
    from services.financing.domain.sizing import Reason, headroom

    order, exposure = order_30_40_30(), Exposure(supplier=1_000_000, buyer=0, pair=0, book=0)
    free = headroom(order, policy(), exposure)
    assert free.available == 5_600_000 and free.binding == "advance_rate"  # 80 % of 70,000
    offer = size(order, policy(), exposure, T0 + 10 * DAY)
    assert isinstance(offer, Offer) and offer.max_available == free.available
    capped = headroom(order, policy(supplier_limit=3_000_000), exposure)
    assert (capped.available, capped.binding) == (2_000_000, "supplier_limit")
    assert dict(capped.caps) == {"advance_rate": 5_600_000, "supplier_limit": 2_000_000}
    small = headroom(order, policy(supplier_limit=1_500_000, min_advance=600_000), exposure)
    assert small.available == 0 and [r.code for r in small.reasons] == ["below_minimum"]
    live = headroom(order, policy(), exposure, [Reason("advance_exists", "live")])
    assert live.available == 0 and live.binding is None and live.caps == free.caps
