"""Stripe's own balance movements as journal drafts, the tenant and window a run sees, the
three-way vote, and the use case booking each balance transaction once (in memory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import stripe

from services.ledger.adapters.stripe_source import created_filter, own_lines
from services.ledger.domain import stripe_books
from services.ledger.domain.recon import (
    BreakKind,
    InvalidWindow,
    LineRefusal,
    RefusedLine,
    ReportNotAttributable,
    RunWindow,
    StripeLine,
    in_scope,
    odd_one_out,
)
from services.ledger.entrypoints.http.schemas import RunPublic
from services.ledger.service_layer import commands
from services.ledger.service_layer.commands import Caller
from services.ledger.service_layer.errors import StripeAccountTaken, StripeAccountUnknown
from tests.unit.ledger.fakes import FakeLedgerUnitOfWork, FakeStripeAccounts

T0 = datetime(2026, 6, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 30, tzinfo=UTC)
FINANCE = Caller(tenant_id="t1", actor="apikey:alice")
STRIPE = FakeStripeAccounts(known={"acct_1", "acct_2"})  # what the platform's key reads


def bt(
    kind: str, amount: int, fee: int = 0, src: str = "x", n: str = "1", **kw: object
) -> StripeLine:
    return StripeLine(f"txn_{n}", src, kind, "USD", amount, fee, T0, **kw)  # type: ignore[arg-type]


def lines_of(line: StripeLine, arrived: bool = False) -> list[tuple[str, int, str | None]]:
    draft = stripe_books.movement("t1", line, arrived)
    assert draft is not None
    return [(ln.code, ln.amount, ln.external_ref) for ln in draft.lines]


def test_each_kind_of_movement_books_its_counterpart() -> None:
    assert lines_of(bt("charge", 10_000, 320, "ch_1")) == [
        ("psp_fee_expense", 320, None), ("stripe_clearing", -320, "ch_1"),
    ]  # fmt: skip
    assert stripe_books.movement("t1", bt("charge", 10_000)) is None  # the event books it all
    assert lines_of(bt("payout", -5_000, src="po_1")) == [
        ("stripe_clearing", -5_000, "po_1"), ("payouts_in_transit", 5_000, None),
    ]  # fmt: skip
    assert lines_of(bt("payout_failure", 5_000, src="po_1")) == [
        ("stripe_clearing", 5_000, "po_1"), ("payouts_in_transit", -5_000, None),
    ]  # fmt: skip
    assert lines_of(bt("payout_failure", 5_000, src="po_1"), arrived=True)[1] == (
        "bank",
        -5_000,
        None,
    )
    assert lines_of(bt("adjustment", -2_000, 1_500, "du_1")) == [
        ("stripe_clearing", -2_000, "du_1"), ("suspense", 2_000, None),
        ("psp_fee_expense", 1_500, None), ("stripe_clearing", -1_500, "du_1"),
    ]  # fmt: skip
    assert lines_of(bt("stripe_fee", -250))[1] == ("psp_fee_expense", 250, None)
    # disputes, transfer reversals and refund failures: booked as fees and payouts are
    assert lines_of(bt("dispute", -2_000, 1_500, "du_1")) == [
        ("stripe_clearing", -2_000, "du_1"), ("disputed_funds", 2_000, None),
        ("psp_fee_expense", 1_500, None), ("stripe_clearing", -1_500, "du_1"),
    ]  # fmt: skip
    assert lines_of(bt("dispute_reversal", 2_000, src="du_1")) == [
        ("stripe_clearing", 2_000, "du_1"), ("disputed_funds", -2_000, None),
    ]  # fmt: skip
    for kind in ("transfer_reversal", "reversal", "transfer_refund"):
        assert lines_of(bt(kind, 600, src="trr_1")) == [
            ("stripe_clearing", 600, "trr_1"), ("supplier_payable", -600, None),
        ]  # fmt: skip
    assert lines_of(bt("refund_failure", 100, src="re_1")) == [
        ("stripe_clearing", 100, "re_1"), ("refunds_payable", -100, None),
    ]  # fmt: skip
    assert lines_of(bt("reserve_transaction", -700))[1] == ("stripe_reserve", 700, None)
    assert lines_of(bt("charge", 100, -30))[0] == ("psp_fee_expense", -30, None)  # fee refunded


def test_a_booking_is_dated_and_keyed_by_its_balance_transaction() -> None:
    payout = bt("payout", -5_000, src="po_1", available_on=T0 + timedelta(days=2))
    draft = stripe_books.movement("t1", payout)
    assert draft is not None and draft.posted_at == T0
    assert draft.source_event_id == stripe_books.source_of("txn_1") == draft.id
    arrival = stripe_books.arrival("t1", payout)
    assert arrival.posted_at == T0 + timedelta(days=2)
    assert arrival.source_event_id == stripe_books.source_of("txn_1", "arrival")
    assert [(ln.code, ln.amount) for ln in arrival.lines] == [
        ("bank", 5_000), ("payouts_in_transit", -5_000),
    ]  # fmt: skip


def test_a_run_sees_its_tenant_and_its_window() -> None:
    window = RunWindow(T0, T0 + timedelta(days=1))
    seen = [
        bt("charge", 1, n="mine", tenant_id="t1"), bt("charge", 1, n="nobody's", tenant_id=""),
        bt("charge", 1, n="theirs", tenant_id="t2"),
        bt("charge", 1, n="late", tenant_id="t1")._replace(created=T0 + timedelta(days=1)),
    ]  # fmt: skip
    refused: list[RefusedLine] = []
    assert [x.balance_txn_id for x in in_scope(seen, "t1", window, False, refused)] == [
        "txn_mine",
    ]  # fmt: skip
    assert refused == [
        ("txn_nobody's", LineRefusal.NO_TENANT), ("txn_theirs", LineRefusal.OTHER_TENANT),
    ]  # fmt: skip
    # a line naming no tenant is the tenant's only when read from its own connected account
    own = bt("charge", 1, n="own account")
    assert [x.tenant_id for x in in_scope([own], "t1", window, own_account=True)] == ["t1"]
    with pytest.raises(ReportNotAttributable):
        list(in_scope([own], "t1", window, own_account=False))
    with pytest.raises(InvalidWindow):
        RunWindow(T0, T0)
    assert RunWindow().whole and not window.whole


def test_the_odd_one_out_of_three() -> None:
    assert odd_one_out(5, 5, 5) is None and odd_one_out(5, 6, None) is None
    assert odd_one_out(5, 5, 4) == BreakKind.STRIPE_DISAGREES
    assert odd_one_out(5, 4, 5) == BreakKind.ESCROW_DISAGREES
    assert odd_one_out(4, 5, 5) == BreakKind.LEDGER_DISAGREES
    assert odd_one_out(4, 5, 6) == BreakKind.THREE_WAY_DISAGREE


async def test_a_run_books_each_balance_transaction_once_and_balances() -> None:
    uow = FakeLedgerUnitOfWork()
    report = [
        bt(
            "payout", -5_000, src="po_1", n="p", available_on=T0 + timedelta(days=2), tenant_id="t1"
        ),
        bt("stripe_fee", -250, n="f", tenant_id="t1"),
    ]
    first = await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    assert first.booked == 3  # the payout, its arrival, the fee
    assert [(b.currency, b.clearing, b.stripe, b.difference) for b in first.balances] == [
        ("USD", -5_250, -5_250, 0),
    ]  # fmt: skip
    again = await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    assert again.booked == 0 and again.balances == first.balances


async def test_a_report_without_tenant_columns_is_refused_to_a_tenant_without_an_account() -> None:
    """The defect: such a report took the lines of every tenant (first to load one won)."""
    uow = FakeLedgerUnitOfWork()
    report = [bt("charge", 1_000, 30, src="ch_1", n="c"), bt("stripe_fee", -250, n="f")]
    with pytest.raises(ReportNotAttributable):
        await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    assert uow.commits == 0 and uow.stripe_books.seen == {} and uow.accounts.postings == []
    # the tenant's own connected account's report names no tenant, and is the tenant's
    await commands.set_stripe_account(uow, FINANCE, "acct_1", STRIPE)
    run = await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    assert (run.stripe_rows, run.booked, run.refused) == (2, 2, ())
    # another tenant sending that same report (with its own account) gets none of it
    t2 = Caller("t2", "apikey:eve")
    await commands.set_stripe_account(uow, t2, "acct_2", STRIPE)
    theirs = await commands.reconcile(uow, t2, source="csv", lines=report, now=NOW)
    assert (theirs.stripe_rows, theirs.booked, theirs.counts["missing_in_ledger"]) == (0, 0, 0)
    assert set(theirs.refused) == {
        ("txn_c", LineRefusal.OTHER_TENANT),
        ("txn_f", LineRefusal.OTHER_TENANT),
    }
    assert {x.tenant_id for x in uow.stripe_books.seen.values()} == {"t1"}
    assert {tx.tenant_id for tx, _ in uow.accounts.postings} == {"t1"}


async def test_two_tenants_sending_the_same_report_reconcile_independently() -> None:
    uow = FakeLedgerUnitOfWork()
    report = [
        bt("charge", 1_000, 30, src="ch_1", n="1", tenant_id="t1"),
        bt("charge", 2_000, 60, src="ch_2", n="2", tenant_id="t2"),
        bt("payout", -900, src="po_9", n="9", tenant_id=""),  # the platform's: nobody's
    ]
    t2 = Caller("t2", "apikey:eve")
    one = await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    two = await commands.reconcile(uow, t2, source="csv", lines=report, now=NOW)
    assert (one.stripe_rows, one.booked, two.stripe_rows, two.booked) == (1, 1, 1, 1)
    assert set(one.refused) == {
        ("txn_2", LineRefusal.OTHER_TENANT),
        ("txn_9", LineRefusal.NO_TENANT),
    }
    assert set(two.refused) == {
        ("txn_1", LineRefusal.OTHER_TENANT),
        ("txn_9", LineRefusal.NO_TENANT),
    }
    assert one.counts["missing_in_ledger"] == two.counts["missing_in_ledger"] == 1
    assert [(b.currency, b.stripe) for b in one.balances] == [("USD", 970)]
    assert [(b.currency, b.stripe) for b in two.balances] == [("USD", 1_940)]
    assert {k: x.tenant_id for k, x in uow.stripe_books.seen.items()} == {
        "txn_1": "t1", "txn_2": "t2",
    }  # fmt: skip


async def test_disputes_reversals_and_refund_failures_are_booked_once_and_reconcile() -> None:
    """The defect: these were matched as if an event booked them (missing_in_ledger breaks,
    and Stripe clearing never equal to the Stripe balance)."""
    uow = FakeLedgerUnitOfWork()
    report = [
        bt("dispute", -2_000, 1_500, src="du_1", n="d", tenant_id="t1"),
        bt("transfer_reversal", 600, src="trr_1", n="t", tenant_id="t1"),
        bt("refund_failure", 100, src="re_1", n="r", tenant_id="t1"),
    ]
    first = await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    assert first.booked == 3 and first.counts["missing_in_ledger"] == 0
    assert [(b.clearing, b.stripe, b.difference) for b in first.balances] == [
        (-2_800, -2_800, 0),
    ]  # fmt: skip
    again = await commands.reconcile(uow, FINANCE, source="csv", lines=report, now=NOW)
    assert again.booked == 0 and again.balances == first.balances


async def test_a_stripe_account_is_one_tenants() -> None:
    uow = FakeLedgerUnitOfWork()
    await commands.set_stripe_account(uow, FINANCE, "acct_1", STRIPE)
    with pytest.raises(StripeAccountTaken):
        await commands.set_stripe_account(uow, Caller("t2", "apikey:eve"), "acct_1", STRIPE)
    assert uow.stripe_books.owners == {"t1": "acct_1"} and uow.commits == 1


def listed(n: int, source: object) -> stripe.BalanceTransaction:
    return stripe.BalanceTransaction.construct_from(
        {"id": f"txn_{n}", "object": "balance_transaction", "type": "charge", "currency": "usd",
         "amount": 1_000, "fee": 59, "created": 1_780_000_000, "available_on": 1_780_200_000,
         "source": source},
        "sk_test_x",
    )  # fmt: skip


def charge(n: int, **metadata: str) -> dict[str, object]:
    return {"id": f"ch_{n}", "object": "charge", "metadata": metadata}


def test_a_platform_accounts_lines_are_seen_by_the_tenant_they_name_only() -> None:
    page = [
        listed(1, charge(1, tenant_id="t1", order_id="o1")),
        listed(2, charge(2, tenant_id="t2", order_id="o2")),
        listed(3, charge(3)),  # a charge made outside Tradeflow
        listed(4, {"id": "po_4", "object": "payout", "metadata": {}}),  # the platform's payout
    ]
    mine = list(own_lines(page, "t1", None))
    assert [(x.balance_txn_id, x.source_id, x.tenant_id, x.order_id) for x in mine] == [
        ("txn_1", "ch_1", "t1", "o1"),
    ]
    assert [x.balance_txn_id for x in own_lines(page, "t2", None)] == ["txn_2"]
    assert mine[0].available_on == datetime.fromtimestamp(1_780_200_000, UTC)
    # a tenant's own connected account: every line is its own, whatever the metadata says
    assert len(list(own_lines([listed(5, "ch_5"), *page], "t1", "acct_1"))) == 5


def test_windows_that_meet_at_a_fraction_of_a_second_list_every_line_once() -> None:
    """Stripe's ``created`` is whole seconds. Windows [9:00, 10:00:00.5) and [10:00:00.5,
    11:00) must between them list a line created at 10:00:00: the first holds it, so its
    pull's ``lt`` has to reach past that second (the run's own window then cuts exactly)."""
    boundary = datetime(2026, 6, 1, 10, 0, 0, 500_000, tzinfo=UTC)
    line = int(datetime(2026, 6, 1, 10, tzinfo=UTC).timestamp())
    first = created_filter(datetime(2026, 6, 1, 9, tzinfo=UTC), boundary)
    second = created_filter(boundary, datetime(2026, 6, 1, 11, tzinfo=UTC))
    assert first["gte"] <= line < first["lt"]  # listed by the first, which holds it
    assert second["gte"] <= line  # listed by the second too, which cuts it off
    assert created_filter(None, datetime(2026, 6, 1, 10, tzinfo=UTC)) == {"lt": line}


@pytest.mark.parametrize(
    "kind",
    [
        "payment_network_reserve_hold", "payment_network_reserve_release",  # API types
        "payout_minimum_balance_hold", "payout_minimum_balance_release",
        "connect_reserved_funds", "payment_network_reserved_funds",  # reporting categories
    ],
)  # fmt: skip
def test_every_reserve_stripe_names_moves_clearing_against_the_reserve(kind: str) -> None:
    """Stripe holds money back under these names too: no event books them, so unbooked
    they leave Stripe clearing above the Stripe balance."""
    assert lines_of(bt(kind, -700, src="x")) == [
        ("stripe_clearing", -700, "x"), ("stripe_reserve", 700, None),
    ]  # fmt: skip


async def test_an_account_stripe_does_not_know_is_never_bound() -> None:
    """The defect: any account id was bound, with no proof it is a platform's account."""
    uow = FakeLedgerUnitOfWork()
    with pytest.raises(StripeAccountUnknown):
        await commands.set_stripe_account(uow, FINANCE, "acct_nobody", STRIPE)
    assert uow.stripe_books.owners == {} and uow.commits == 0 and "acct_nobody" in STRIPE.asked
    await commands.set_stripe_account(uow, FINANCE, "acct_1", STRIPE)
    assert uow.stripe_books.bindings["t1"][:2] == ("acct_1", "apikey:alice")


def test_the_run_summary_describes_booked_and_refused_in_the_openapi() -> None:
    props = RunPublic.model_json_schema()["properties"]
    assert "booked from Stripe" in props["booked"]["description"]
    assert "not attributable to the tenant" in props["refused"]["description"]
