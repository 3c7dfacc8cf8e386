"""The ingest benchmark's streams and profile summary: what it measures is what it says."""

from __future__ import annotations

from bench import ingest_streams as streams
from bench.profile_summary import summarize
from services.ledger.domain.rules import draft_for
from shared.topics import partition_for


def test_each_tenant_sits_on_a_partition_of_its_own() -> None:
    tenants = streams.tenants_on_partitions("r1", 6)
    assert [partition_for(t, range(6)) for t in tenants] == list(range(6))


def test_trades_fund_each_order_then_release_it_in_order_with_orders_interleaved() -> None:
    events = streams.trades(4_000, streams.tenants_on_partitions("r1", 6), "r1")
    assert len(events) == 4_000
    per_order: dict[str, list[str]] = {}
    for e in events:
        per_order.setdefault(e.subject, []).append(e.type)
    assert set(map(tuple, per_order.values())) == {
        ("escrow.funded", *["escrow.milestone_released"] * 3)
    }
    assert len({e.subject for e in events[:400]}) > 150  # many orders in flight at once
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    drafts = [draft_for(e) for e in events]
    assert sum(len(d.lines) for d in drafts if d) == streams.postings_of(events)


def test_every_hot_transaction_credits_the_one_fee_account() -> None:
    events = streams.hot_fee_account(300, "hot", "r1")
    assert len(events) == 300 and {e.tenant_id for e in events} == {"hot"}
    for e in events:
        draft = draft_for(e)
        assert draft is not None
        assert any(ln.code == "platform_fee_revenue" and ln.amount < 0 for ln in draft.lines)


def test_the_profile_summary_counts_inclusive_self_and_idle_samples() -> None:
    raw = (
        "process 1:main (a.py:1);_run_once (base_events.py:9);select (selectors.py:468) 6\n"
        "process 1:main (a.py:1);post_batch (posting.py:12);link_bytes (chain.py:120) 3\n"
        "process 1:main (a.py:1);post_batch (posting.py:14) 1\n"
    )
    text = summarize(raw)
    assert text.startswith("10 samples; idle in the event loop's select: 60.0%")
    assert "  40.0%  post_batch (posting.py)" in text  # inclusive, lines folded
    assert "  30.0%  link_bytes (chain.py)" in text
