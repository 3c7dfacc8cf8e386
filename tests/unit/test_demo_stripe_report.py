"""The Stripe report the demo and the books e2e test write: Stripe's fee to the cent, the
lines of what escrow recorded, and a CSV the ledger's report reader takes back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.demo.stripe_report import (
    advance_line,
    balances,
    card_fee,
    order_lines,
    payout_line,
    report_csv,
)
from services.ledger.adapters.stripe_source import parse_report_csv
from services.ledger.domain.recon import StripeLine

AT = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)


def test_the_card_fee_is_2_9_percent_half_up_plus_the_fixed_part() -> None:
    assert card_fee(1_000_000, "USD") == 29_000 + 30
    assert card_fee(50, "USD") == 1 + 30  # 1.45 cents: down
    assert card_fee(52, "usd") == 2 + 30  # 1.508 cents: up
    assert card_fee(200_000, "EUR") == 5_800 + 25


def order(**over: Any) -> dict[str, Any]:
    return {
        "order_id": "o-1",
        "tenant_id": "acme",
        "currency": "USD",
        "payments": [
            {"status": "succeeded", "amount": 100_000, "stripe_charge_id": "ch_1"},
            {"status": "failed", "amount": 100_000, "stripe_charge_id": "ch_2"},
            {"status": "succeeded", "amount": 5_000, "stripe_charge_id": None},  # a wire
        ],
        "payouts": [
            {"supplier_net": 55_000, "stripe_transfer_id": "tr_1"},
            {"supplier_net": 0, "stripe_transfer_id": None},  # all repaid the advance
        ],
        "refunds": [
            {"amount": 40_000, "stripe_refund_id": "re_1", "status": "done"},
            {"amount": 1_000, "stripe_refund_id": None, "status": "done"},  # offline
            {"amount": 2_000, "stripe_refund_id": "re_2", "status": "pending"},
        ],
        **over,
    }


def test_an_orders_lines_are_its_charges_transfers_and_stripe_refunds() -> None:
    lines = order_lines(order(), AT)
    assert [(ln.category, ln.source_id, ln.gross, ln.fee) for ln in lines] == [
        ("charge", "ch_1", 100_000, card_fee(100_000, "USD")),
        ("transfer", "tr_1", -55_000, 0),
        ("refund", "re_1", -40_000, 0),
    ]
    assert {(ln.tenant_id, ln.order_id) for ln in lines} == {("acme", "o-1")}
    advance = {"advance_id": "a-1", "order_id": "o-1", "currency": "USD", "net": 20_000,
               "stripe_transfer_id": "tr_adv"}  # fmt: skip
    line = advance_line(advance, "acme", AT)
    assert line is not None and (line.gross, line.source_id) == (-20_000, "tr_adv")
    assert advance_line({**advance, "stripe_transfer_id": None}, "acme", AT) is None


def test_the_ledger_reads_the_report_back_line_for_line() -> None:
    lines = [
        *order_lines(order(), AT),
        *order_lines(order(order_id="o-2", tenant_id="globex", currency="EUR"), AT),
        payout_line("po_1", "acme", "USD", 4_500, AT),
    ]
    read = list(parse_report_csv(report_csv(lines).splitlines()))
    assert read == [
        StripeLine(
            ln.id,
            ln.source_id,
            ln.category,
            ln.currency,
            ln.gross,
            ln.fee,
            ln.created,
            ln.available_on or ln.created,
            ln.tenant_id,
            ln.order_id,
        )
        for ln in lines
    ]
    # the payout arrives a second after it is made, and is the tenant's
    assert read[-1].available_on == AT + timedelta(seconds=1) and read[-1].tenant_id == "acme"


def test_the_balance_is_the_sum_of_the_nets_per_tenant_and_currency() -> None:
    fee = card_fee(100_000, "USD")
    lines = [
        *order_lines(order(), AT),
        payout_line("po_1", "acme", "USD", 4_500, AT),
        *order_lines(order(tenant_id="globex"), AT),
    ]
    assert balances(lines) == {
        ("acme", "USD"): 100_000 - fee - 55_000 - 40_000 - 4_500,
        ("globex", "USD"): 100_000 - fee - 55_000 - 40_000,
    }
