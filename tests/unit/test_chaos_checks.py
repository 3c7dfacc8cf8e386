"""The chaos run's own logic that needs no servers: when the system counts as quiet, what a
kill counts as. A check that cannot fail proves nothing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.chaos.client import Observations
from tests.chaos.delivery import in_cause_order, published_in_order
from tests.chaos.faults import FaultLog, Outage
from tests.chaos.quiet import Look, settle
from tests.chaos.run import fault_figures
from tests.chaos.trades import Tenant, Trade
from tests.chaos.verify import (
    Findings,
    check_advance,
    check_order,
    check_timeline,
    expected_payouts,
    expected_principal,
)
from tests.chaos.webhooks import Received, check_received


async def test_quiet_needs_two_clean_looks_with_nothing_progressing_between_them() -> None:
    """A look is not atomic: it reads the outboxes, then the timers, then each group's lag.
    An event a consumer applies between the outbox read and its lag read leaves unsent rows
    in the outbox already read and no lag: a clean look while the system moves. Two such
    looks in a row are rare, not impossible; the counters of rows produced and consumed
    then differ, and that is not quiet."""
    looks = iter(
        [
            Look([], (10, 10, 3)),
            Look([], (12, 11, 3)),  # clean, but two events were produced and one consumed
            Look([], (12, 12, 3)),
            Look([], (12, 12, 3)),
        ]
    )
    taken = 0

    async def take() -> Look:
        nonlocal taken
        taken += 1
        return next(looks)

    _seconds, busy = await settle(take, within=30, pause=0)
    assert (busy, taken) == ([], 4)


async def test_never_quiet_says_what_still_moves() -> None:
    async def take() -> Look:
        return Look(["escrow: 2 outbox rows unsent"], (1,))

    _seconds, busy = await settle(take, within=0.05, pause=0.01)
    assert busy == ["escrow: 2 outbox rows unsent"]


# --- what the checks catch ----------------------------------------------------------------
TENANT = Tenant("t1", {}, {}, {"s1": {}})


def trade(kind: str = "full", **fields: Any) -> Trade:
    t = Trade(1, kind, TENANT, "USD", 1_000_000, [300_000, 400_000, 300_000], "s1")
    t.order_id, t.milestone_ids = "o1", ["m0", "m1", "m2"]
    for name, value in fields.items():
        setattr(t, name, value)
    return t


def order_of(t: Trade, **changes: Any) -> dict[str, Any]:
    """The order escrow should show at the end of ``t``, then ``changes`` to it."""
    payouts = [
        {
            "payout_id": f"p{i}",
            "gross": g,
            "platform_fee": fee_,
            "lien_repayment": lien,
            "supplier_net": net,
            "advance_id": t.advance_id if lien else None,
            "status": "done",
            "stripe_transfer_id": f"tr_{i}",
        }
        for i, (g, fee_, lien, net) in enumerate(expected_payouts(t))
    ]
    released = sum(p["gross"] for p in payouts)
    order = {
        "status": "completed",
        "funded": t.total,
        "released": released,
        "refunded": t.total - released,
        "held": 0,
        "payouts": payouts,
        "refunds": [],
    }
    return {**order, **changes}


def test_a_release_booked_without_its_transfer_is_caught() -> None:
    """Escrow 'done', splits right, escrow held 0 in both books: only the missing transfer
    says the supplier was never paid."""
    t = trade()
    assert check_order(t, order_of(t)) == []
    unpaid = order_of(t)
    unpaid["payouts"][1] = {**unpaid["payouts"][1], "stripe_transfer_id": None}
    assert check_order(t, unpaid) == ["payouts booked without a Stripe transfer: ['p1']"]


def test_releases_are_attributed_to_whoever_caused_them() -> None:
    t = trade(lapsed=["m0"])
    by = {
        "m0": "system:inspection_window",
        "m1": "apikey:t1-platform",
        "m2": "apikey:t1-platform",
    }
    events = [{"type": "escrow.milestone_released", "actor": by[m]} for m in t.milestone_ids]
    assert check_timeline(t, events) == []
    events[0]["actor"] = "system:settlement"  # completed by the settlement timer
    assert check_timeline(t, events)


def advance_trade() -> Trade:
    t = trade("advance", advance_id="adv1")
    t.principal = expected_principal(t)
    return t


def statement(balance: int, fee: int, earned: int) -> dict[str, Any]:
    return {"balance": balance, "totals": {"fee": fee, "fee_earned": earned, "fee_rebated": 0}}


def test_an_advance_the_ledger_does_not_know_is_no_agreement() -> None:
    """A repaid advance has a statement balance of 0; a ledger without its receivable
    (posted to another sub-ledger, or not at all) used to read as 0 too."""
    t = advance_trade()
    done = {"state": "repaid"}
    assert check_advance(t, done, statement(0, 900, 900), 0, 0) == []
    assert check_advance(t, done, statement(0, 900, 900), None, None) == [
        "no advance receivable for it in the ledger"
    ]
    assert check_advance(t, done, statement(0, 900, 900), 0, 900) == [
        "statement leaves 0 of the fee unearned, the ledger 900"
    ]


def test_an_advance_sized_on_another_rate_is_caught() -> None:
    """The expected lien repayments used to follow whatever principal financing offered."""
    t = advance_trade()
    t.principal = (t.principal or 0) + 1
    problems = check_advance(t, {"state": "repaid"}, statement(0, 0, 0), 0, 0)
    assert problems == [f"principal {t.principal}, the policy gives {t.principal - 1}"]


def test_an_outbox_row_marked_sent_but_absent_from_kafka_is_caught() -> None:
    rows = [{"event_id": UUID(int=i), "seq": i} for i in (1, 2, 3)]
    kafka = [(0, "k", str(UUID(int=1))), (0, "k", str(UUID(int=2)))]
    problems, _ = published_in_order(rows, kafka)
    assert problems == [f"1 rows marked sent are not in Kafka, e.g. {UUID(int=3)}"]


def test_a_subject_published_out_of_commit_order_is_caught_and_a_republished_copy_is_not() -> None:
    rows = [{"event_id": UUID(int=i), "seq": i} for i in (1, 2, 3)]
    e1, e2, e3 = (str(UUID(int=i)) for i in (1, 2, 3))
    assert published_in_order(rows, [(0, "k", e1), (0, "k", e2), (0, "k", e1), (0, "k", e3)]) == (
        [],
        1,
    )
    problems, _ = published_in_order(rows, [(0, "k", e2), (0, "k", e1), (0, "k", e3)])
    assert problems == [f"{e1} of k published after the later {e2}"]


def test_events_applied_out_of_order_in_one_transaction_are_caught() -> None:
    """inbox.processed_at is the transaction's start: events applied in one batch share it,
    so it cannot see them reversed. The order of what applying them did can."""
    e1, e2, other = UUID(int=1), UUID(int=2), UUID(int=3)
    rank = {e1: ("escrow", "k", 1), e2: ("escrow", "k", 2), other: ("escrow", "j", 3)}
    label = {e: str(e) for e in rank}
    assert in_cause_order([e1, other, e2, e2], rank, label) == []
    # e1 caused two effects, both after e2's: one problem, not two
    assert in_cause_order([e2, other, e1, e1], rank, label) == [
        f"{e1} of k applied after the later {e2}"
    ]


def test_a_5xx_outside_a_database_outage_is_a_discrepancy_even_when_a_retry_succeeded() -> None:
    """The client retries 502/503/504 as an integrator would, and the retry hides them. Only
    the database restart may answer 503 (nothing here fails Stripe, nothing proxies): a 503
    at another time (an exhausted pool answers 503 too) or any 502/504 is a problem."""
    log = FaultLog(outages=[Outage("postgres", 1_000.0, 1_005.0)])
    obs = Observations()
    obs.server_errors += [
        (1_002.0, "escrow", "POST /v1/orders", 503, "db down"),  # during the restart: fine
        (1_500.0, "escrow", "POST /v1/orders", 503, "pool exhausted"),
        (1_600.0, "escrow", "POST /v1/orders/o/fund", 502, "payment_provider_error"),
    ]
    _figures, problems = fault_figures(obs, log)
    assert problems == [
        "escrow POST /v1/orders answered 503 outside any database outage: pool exhausted",
        "escrow POST /v1/orders/o/fund answered 502 outside any database outage: "
        "payment_provider_error",
    ]


def test_recoveries_are_reported_beside_the_clean_writes_of_the_same_run() -> None:
    """A recovery time means little alone on a saturated machine: the figures carry the
    writes no fault touched as the same run's baseline, and the slowest recoveries with
    every failed attempt, so a missed target can be read."""
    from tests.chaos.client import Recovery

    obs = Observations()
    obs.clean_writes += [0.1, 0.2, 0.3]
    slow = Recovery("POST", "/v1/orders", "interrupted", 10.0, 7.5, ["interrupted@0.00"])
    fast = Recovery("POST", "/v1/orders/o/fund", "refused", 20.0, 0.4, ["refused@0.00"])
    obs.recoveries += [fast, slow, Recovery("POST", "/x", "refused", 30.0)]
    figures, _ = fault_figures(obs, FaultLog())
    assert figures["clean_writes"]["count"] == 3 and figures["clean_writes"]["max"] == 0.3
    assert [r["call"] for r in figures["slowest_recoveries"]] == [
        "POST /v1/orders", "POST /v1/orders/o/fund",
    ]  # fmt: skip
    assert figures["slowest_recoveries"][0]["attempts"] == ["interrupted@0.00"]
    assert figures["unrecovered_writes"] == 1


# --- webhooks -----------------------------------------------------------------------------
def webhook_rows() -> dict[str, list[dict[str, Any]]]:
    """Two escrow events of t1, one financing event of t2, one of a tenant not in the run."""
    return {
        "escrow": [
            {"event_id": UUID(int=1), "tenant_id": "t1"},
            {"event_id": UUID(int=2), "tenant_id": "t1"},
        ],
        "financing": [
            {"event_id": UUID(int=3), "tenant_id": "t2"},
            {"event_id": UUID(int=4), "tenant_id": "elsewhere"},
        ],
    }


def got(tenant: str, n: int, status: int = 200, **fields: Any) -> Received:
    values: dict[str, Any] = {"payload_tenant": tenant, "valid": True, **fields}
    return Received(tenant, str(UUID(int=n)), values["payload_tenant"], values["valid"], status)


def test_every_event_delivered_once_and_signed_holds_and_a_duplicate_is_only_counted() -> None:
    f = Findings()
    received = [got("t1", 1, 500), got("t1", 1), got("t1", 2), got("t1", 2), got("t2", 3)]
    figures = check_received(webhook_rows(), ["t1", "t2"], received, f)  # type: ignore[arg-type]
    assert f.problems == []
    assert figures["events_expected"] == figures["events_delivered"] == 3
    assert (figures["duplicates"], figures["answered_500"]) == (1, 1)


def test_an_event_only_ever_answered_500_or_never_sent_is_caught() -> None:
    f = Findings()
    received = [got("t1", 1, 500), got("t2", 3)]
    check_received(webhook_rows(), ["t1", "t2"], received, f)  # type: ignore[arg-type]
    assert f.problems == ["webhooks: events never delivered to their tenant's endpoint: {'t1': 2}"]


def test_a_delivery_to_another_tenant_or_badly_signed_is_caught() -> None:
    f = Findings()
    received = [
        got("t1", 1),
        got("t1", 2),
        got("t2", 3),
        got("t2", 1),  # t1's event at t2's endpoint
        got("t1", 2, payload_tenant="t2"),  # a body naming another tenant
        got("t1", 2, valid=False),  # not signed with t1's secret
        got("t1", 99),  # no outbox holds it
    ]
    figures = check_received(webhook_rows(), ["t1", "t2"], received, f)  # type: ignore[arg-type]
    assert f.problems == [
        "webhooks: 1 deliveries whose signature did not verify",
        "webhooks: 2 deliveries of another tenant's event",
        "webhooks: 1 deliveries of an event no escrow or financing outbox holds",
    ]
    assert figures["cross_tenant"] == 2
