"""Worked accounting scenarios, checked posting by posting (amounts in cents, debit > 0)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events.financing import (
    AdvanceDisbursed,
    AdvanceRepaidEarly,
    AdvanceWrittenOff,
    FeeAmortized,
    RecoveryRecorded,
)
from tests.integration.ledger.helpers import (
    funded,
    lines,
    natural,
    post,
    refunded,
    released,
    wrap,
)


async def test_funding_by_card_and_by_wire(ledger: AsyncEngine, tenant: str) -> None:
    card = funded(tenant, "o1", 100_000, held_after=100_000)
    wire = funded(tenant, "o2", 50_000, held_after=50_000, method="wire",
                  stripe_payment_intent_id=None, stripe_charge_id=None)  # fmt: skip
    await post(ledger, card, wire)

    assert await lines(ledger, tenant, card.id) == [
        ("stripe_clearing", "", 100_000, "ch_o1"),
        ("escrow_held", "o1", -100_000, None),
    ]
    assert await lines(ledger, tenant, wire.id) == [
        ("bank", "", 50_000, None),
        ("escrow_held", "o2", -50_000, None),
    ]
    assert await natural(ledger, tenant, "escrow_held", "o1") == 100_000


async def test_release_with_fee_lien_repayment_and_payout(ledger: AsyncEngine, tenant: str) -> None:
    fund = funded(tenant, "o1", 100_000, held_after=100_000)
    advance = wrap(
        AdvanceDisbursed(advance_id="a1", order_id="o1", supplier_id="s1", currency="USD",
                         principal=30_000, fee=600, net_disbursed=29_400,
                         stripe_transfer_id="tr_adv"),
        tenant, "o1",
    )  # fmt: skip
    # 40% milestone: 40,000 gross = 1,000 fee + 30,000 lien repayment + 9,000 to the supplier
    release = released(tenant, "o1", 40_000, 1_000, 30_000, held_after=60_000, advance_id="a1")
    await post(ledger, fund, advance, release)

    assert await lines(ledger, tenant, advance.id) == [
        ("advance_receivable", "a1", 30_000, None),
        ("stripe_clearing", "", -29_400, "tr_adv"),
        ("deferred_fee_income", "a1", -600, None),
    ]
    assert await lines(ledger, tenant, release.id) == [
        ("escrow_held", "o1", 40_000, None),
        ("platform_fee_revenue", "", -1_000, None),
        ("advance_receivable", "a1", -30_000, None),
        ("supplier_payable", "", -9_000, None),
        ("supplier_payable", "", 9_000, None),  # the payout, same event
        ("stripe_clearing", "", -9_000, "tr_o1"),
    ]
    assert await natural(ledger, tenant, "escrow_held", "o1") == 60_000
    assert await natural(ledger, tenant, "advance_receivable", "a1") == 0
    assert await natural(ledger, tenant, "supplier_payable") == 0
    assert await natural(ledger, tenant, "platform_fee_revenue") == 1_000
    assert await natural(ledger, tenant, "stripe_clearing") == 100_000 - 29_400 - 9_000


async def test_release_without_transfer_leaves_supplier_payable(
    ledger: AsyncEngine, tenant: str
) -> None:
    release = released(tenant, "o1", 10_000, 500, 0, held_after=0, stripe_transfer_id=None)
    await post(ledger, funded(tenant, "o1", 10_000, 10_000), release)
    assert await lines(ledger, tenant, release.id) == [
        ("escrow_held", "o1", 10_000, None),
        ("platform_fee_revenue", "", -500, None),
        ("supplier_payable", "", -9_500, None),
    ]
    assert await natural(ledger, tenant, "supplier_payable") == 9_500


async def test_refund_by_stripe_and_by_wire(ledger: AsyncEngine, tenant: str) -> None:
    back = refunded(tenant, "o1", 25_000, held_after=75_000)
    wire_back = refunded(tenant, "o2", 5_000, held_after=0, refund_id="rf2", stripe_refund_id=None)
    await post(
        ledger,
        funded(tenant, "o1", 100_000, 100_000),
        funded(tenant, "o2", 5_000, 5_000),
        back,
        wire_back,
    )
    assert await lines(ledger, tenant, back.id) == [
        ("escrow_held", "o1", 25_000, None),
        ("stripe_clearing", "", -25_000, "re_o1"),
    ]
    assert await lines(ledger, tenant, wire_back.id) == [
        ("escrow_held", "o2", 5_000, None),
        ("bank", "", -5_000, None),
    ]
    assert await natural(ledger, tenant, "escrow_held", "o1") == 75_000


async def test_advance_life_amortization_early_repayment(ledger: AsyncEngine, tenant: str) -> None:
    disbursed = wrap(
        AdvanceDisbursed(advance_id="a1", order_id="o1", supplier_id="s1", currency="EUR",
                         principal=80_000, fee=2_000, net_disbursed=78_000),
        tenant, "o1",
    )  # fmt: skip
    earned = wrap(FeeAmortized(advance_id="a1", currency="EUR", amount=500,
                               as_of=disbursed.occurred_at), tenant, "o1")  # fmt: skip
    repaid = wrap(AdvanceRepaidEarly(advance_id="a1", currency="EUR", amount=78_500,
                                     fee_rebate=1_500, stripe_payment_id="py_1"), tenant, "o1")  # fmt: skip
    await post(ledger, disbursed, earned, repaid)

    assert await lines(ledger, tenant, earned.id) == [
        ("deferred_fee_income", "a1", 500, None),
        ("fee_income", "", -500, None),
    ]
    assert await lines(ledger, tenant, repaid.id) == [
        ("stripe_clearing", "", 78_500, "py_1"),
        ("deferred_fee_income", "a1", 1_500, None),
        ("advance_receivable", "a1", -80_000, None),
    ]
    for code in ("advance_receivable", "deferred_fee_income"):
        assert await natural(ledger, tenant, code, "a1", "EUR") == 0
    assert await natural(ledger, tenant, "fee_income", currency="EUR") == 500


async def test_write_off_and_recovery(ledger: AsyncEngine, tenant: str) -> None:
    disbursed = wrap(
        AdvanceDisbursed(advance_id="a9", order_id="o9", supplier_id="s1", currency="USD",
                         principal=10_000, fee=0, net_disbursed=10_000),
        tenant, "o9",
    )  # fmt: skip
    off = wrap(AdvanceWrittenOff(advance_id="a9", currency="USD", amount=10_000), tenant, "o9")
    back = wrap(RecoveryRecorded(advance_id="a9", currency="USD", amount=4_000), tenant, "o9")
    await post(ledger, disbursed, off, back)

    assert await lines(ledger, tenant, disbursed.id) == [
        ("advance_receivable", "a9", 10_000, None),
        ("stripe_clearing", "", -10_000, None),
    ]
    assert await lines(ledger, tenant, off.id) == [
        ("credit_losses", "", 10_000, None),
        ("advance_receivable", "a9", -10_000, None),
    ]
    assert await lines(ledger, tenant, back.id) == [
        ("stripe_clearing", "", 4_000, None),
        ("credit_losses", "", -4_000, None),
    ]
    assert await natural(ledger, tenant, "credit_losses") == 6_000


async def test_the_same_event_posts_once(ledger: AsyncEngine, tenant: str) -> None:
    event = funded(tenant, "o1", 1_000, 1_000)
    await post(ledger, event, event)
    await post(ledger, event)
    assert await natural(ledger, tenant, "escrow_held", "o1") == 1_000
