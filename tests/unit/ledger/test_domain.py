"""The ledger's pure domain: lines, drafts, posting rules, the hash chain."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ledger.domain.chain import (
    GENESIS,
    ChainedPosting,
    ChainedTransaction,
    canonical,
    check_link,
    link,
)
from services.ledger.domain.chart import CHART, natural_balance
from services.ledger.domain.journal import (
    MAX_AMOUNT,
    JournalDraft,
    Line,
    UnbalancedTransaction,
    cr,
    dr,
    totals,
)
from services.ledger.domain.rules import draft_for
from services.ledger.domain.staff import InvalidAdjustment, adjustment, reversal
from shared.events import Envelope
from shared.events.escrow import MilestoneReleased, OrderCreated, Refunded
from shared.events.financing import AdvanceRepaidEarly

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_lines_refuse_zero_float_and_wrong_subledger() -> None:
    with pytest.raises(UnbalancedTransaction):
        Line("bank", "USD", 0)
    with pytest.raises(UnbalancedTransaction):
        Line("bank", "USD", 1.5)  # type: ignore[arg-type]
    with pytest.raises(UnbalancedTransaction, match="above"):  # would overflow bigint sums
        dr("bank", "USD", MAX_AMOUNT + 1)
    assert cr("bank", "USD", MAX_AMOUNT).amount == -MAX_AMOUNT
    with pytest.raises(UnbalancedTransaction, match="needs"):
        Line("escrow_held", "USD", 1)
    with pytest.raises(UnbalancedTransaction, match="takes no"):
        Line("bank", "USD", 1, "o1")


def test_draft_must_balance_per_currency() -> None:
    def draft(*lines: Line) -> JournalDraft:
        return JournalDraft(uuid4(), "t", NOW, uuid4(), "x", "", tuple(lines))

    draft(dr("bank", "USD", 5), cr("suspense", "USD", 5))
    with pytest.raises(UnbalancedTransaction, match="differ by 1 in USD"):
        draft(dr("bank", "USD", 6), cr("suspense", "USD", 5))
    with pytest.raises(UnbalancedTransaction):  # balanced in total, not per currency
        draft(dr("bank", "USD", 5), cr("suspense", "EUR", 5))
    with pytest.raises(UnbalancedTransaction, match="at least two"):
        draft(dr("bank", "USD", 5))


def test_natural_balance_follows_the_normal_side() -> None:
    assert natural_balance("stripe_clearing", 100) == 100
    assert natural_balance("escrow_held", -100) == 100
    assert {a.type for a in CHART.values()} == {"asset", "liability", "income", "expense"}


def test_events_without_money_are_not_posted() -> None:
    env = Envelope.wrap(
        OrderCreated(order_id="o", buyer_id="b", supplier_id="s", supplier_account_id="acct",
                     currency="USD", total=100, milestones=[], platform_fee_bps=100,
                     platform_fee_fixed=0),
        source="escrow", tenant_id="t", subject="o",
    )  # fmt: skip
    assert draft_for(env) is None


def test_a_release_that_does_not_add_up_is_refused() -> None:
    env = Envelope.wrap(
        MilestoneReleased(order_id="o", milestone_id="m", payout_id="p", currency="USD", gross=100,
                          platform_fee=1, lien_repayment=0, supplier_net=98, advance_id=None,
                          stripe_transfer_id=None, held_after=0),
        source="escrow", tenant_id="t", subject="o",
    )  # fmt: skip
    with pytest.raises(ValueError, match="gross"):
        draft_for(env)


def test_an_early_repayment_of_nothing_posts_nothing() -> None:
    env = Envelope.wrap(
        AdvanceRepaidEarly(advance_id="a", currency="USD", amount=0, fee_rebate=0),
        source="financing",
        tenant_id="t",
        subject="o",
    )
    assert draft_for(env) is None


def test_staff_postings_need_a_reason_and_reversals_mirror() -> None:
    lines = [dr("bank", "USD", 5), cr("suspense", "USD", 5)]
    with pytest.raises(InvalidAdjustment):
        adjustment(tenant_id="t", actor="a", reason=" ", memo="", posted_at=NOW, lines=lines)
    original = uuid4()
    rev = reversal(tenant_id="t", original_id=original, original_lines=lines, actor="a",
                   reason="typo", posted_at=NOW)  # fmt: skip
    assert [ln.amount for ln in rev.lines] == [-5, 5] and rev.reverses == original


def _tx(seq: int, amount: int = 10) -> ChainedTransaction:
    postings = [ChainedPosting("bank", "", "USD", amount, None),
                ChainedPosting("suspense", "", "USD", -amount, None)]  # fmt: skip
    return ChainedTransaction(uuid4(), seq, "t", NOW, None, uuid4(), "x", "event", None, None,
                              "memo", None, postings)  # fmt: skip


def test_chain_detects_altered_content_and_gaps() -> None:
    first = _tx(1)
    h1 = link(GENESIS, first)
    assert check_link(1, GENESIS, first, GENESIS, h1) is None
    altered = replace(first, postings=[replace(p, amount=p.amount * 2) for p in first.postings])
    assert "altered" in check_link(1, GENESIS, altered, GENESIS, h1).reason  # type: ignore[union-attr]
    second = _tx(3)
    assert "jumps" in check_link(2, h1, second, h1, link(h1, second)).reason  # type: ignore[union-attr]
    assert "previous" in check_link(3, h1, second, "f" * 64, link(h1, second)).reason  # type: ignore[union-attr]
    # In a book the position is book_seq: the global seq may jump (other books took numbers).
    in_book = replace(_tx(907), book_seq=2)
    assert check_link(2, h1, in_book, h1, link(h1, in_book)) is None
    assert "jumps" in check_link(3, h1, in_book, h1, link(h1, in_book)).reason  # type: ignore[union-attr]
    moved = replace(in_book, book_seq=3)  # renumbered within the book: the hash tells
    assert "altered" in check_link(3, h1, moved, h1, link(h1, in_book)).reason  # type: ignore[union-attr]


@given(
    st.lists(
        st.tuples(st.sampled_from(["USD", "EUR", "JPY"]), st.integers(1, 10**12)),
        min_size=1,
        max_size=8,
    )
)
def test_any_set_of_mirrored_lines_balances(pairs: list[tuple[str, int]]) -> None:
    lines = [ln for cur, amt in pairs for ln in (dr("bank", cur, amt), cr("suspense", cur, amt))]
    draft = JournalDraft(uuid4(), "t", NOW, uuid4(), "x", "", tuple(lines))
    assert set(totals(draft.lines).values()) == {0}


def _reference_canonical(tx: ChainedTransaction) -> bytes:
    """The chain's definition, as first written: key-sorted compact JSON of the body."""

    def ts(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")

    body = {
        "id": str(tx.id), "seq": tx.seq, "tenant": tx.tenant_id, "posted_at": ts(tx.posted_at),
        "original_date": ts(tx.original_date), "source_event_id": str(tx.source_event_id),
        "source_type": tx.source_type, "kind": tx.kind, "actor": tx.actor, "reason": tx.reason,
        "memo": tx.memo, "reverses": str(tx.reverses) if tx.reverses else None,
        "postings": [[p.code, p.subledger, p.currency, p.amount, p.external_ref]
                     for p in tx.postings],
    }  # fmt: skip
    if tx.book_seq is not None:  # a book's link names its place in the book
        body["book_seq"] = tx.book_seq
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


text = st.text(max_size=12)  # any unicode: quotes, backslashes, control characters, emoji
moments = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]))


@given(
    tenant=text, memo=text, source_type=text, actor=st.none() | text, reason=st.none() | text,
    posted_at=moments, original_date=st.none() | moments, seq=st.integers(1, 2**62),
    reverses=st.none() | st.uuids(), kind=st.sampled_from(["event", "adjustment", "reversal"]),
    book_seq=st.none() | st.integers(1, 2**62),
    postings=st.lists(
        st.builds(ChainedPosting, text, text, text, st.integers(-(10**15), 10**15),
                  st.none() | text),
        max_size=5,
    ),
)  # fmt: skip
def test_canonical_bytes_are_exactly_the_key_sorted_json(
    tenant: str, memo: str, source_type: str, actor: str | None, reason: str | None,
    posted_at: datetime, original_date: datetime | None, seq: int, reverses: UUID | None,
    kind: str, postings: list[ChainedPosting], book_seq: int | None,
) -> None:  # fmt: skip
    tx = ChainedTransaction(uuid4(), seq, tenant, posted_at, original_date, uuid4(), source_type,
                            kind, actor, reason, memo, reverses, postings, book_seq)  # fmt: skip
    assert canonical(tx) == _reference_canonical(tx)


def _refund_lines(reason: str, stripe_refund_id: str | None) -> dict[str, int]:
    env = Envelope.wrap(
        Refunded(order_id="o", refund_id="r", payment_id="p", amount=400, currency="USD",
                 stripe_refund_id=stripe_refund_id, reason=reason, held_after=0),
        source="escrow", tenant_id="t", subject="o",
    )  # fmt: skip
    draft = draft_for(env)
    assert draft is not None
    return {line.code: line.amount for line in draft.lines}


def test_a_chargeback_the_bank_kept_is_not_posted_as_money_out_of_the_bank() -> None:
    """Escrow books a lost chargeback as a refund without a Stripe refund id (nothing was
    refunded through Stripe), but the money left the Stripe balance, where the ledger books
    Stripe's dispute debit as Dr disputed_funds / Cr stripe_clearing: the refund clears
    that; crediting the bank would show a bank outflow that never happened."""
    assert _refund_lines("chargeback", None) == {"escrow_held": 400, "disputed_funds": -400}
    assert _refund_lines("cancelled: wire", None) == {"escrow_held": 400, "bank": -400}
    assert _refund_lines("chargeback", "re_1") == {"escrow_held": 400, "stripe_clearing": -400}
