"""Every financing use case against the in-memory unit of work: what it commits, that a
refused command commits nothing, and that a lost race is decided again on fresh state.
No database, no Kafka, no Stripe: microseconds each."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.financing.domain.advance import Advance, AdvanceRuleViolated
from services.financing.domain.lifecycle import accept as accept_offer
from services.financing.domain.lifecycle import open_advance
from services.financing.domain.policy import PolicyError
from services.financing.domain.sizing import Exposure, Offer, size
from services.financing.service_layer import commands, events, timers
from services.financing.service_layer.decisions import FEE_AMORTIZATION, OFFER_EXPIRY
from services.financing.service_layer.errors import AdvanceNotFound, AdvanceRefusal, OrderNotFound
from shared.clock import ManualClock
from shared.events import Envelope, EventModel
from shared.events import escrow as ev
from shared.metadata import InvalidMetadata
from shared.pagination import InvalidCursor, Page
from shared.unit_of_work import CONFLICT_ATTEMPTS, Conflict
from tests.unit.financing.builders import DAY, T0, disbursed_advance, order_30_40_30, policy
from tests.unit.financing.fakes import FakeFinancingUnitOfWork, FakeTransferGateway

SUPPLIER = "apikey:supplier"
FINANCE = "apikey:finance"


@pytest.fixture
def uow() -> FakeFinancingUnitOfWork:
    fake = FakeFinancingUnitOfWork()
    fake.seed_order(replace(order_30_40_30(), supplier_account_id="acct_s1"))
    return fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def gateway() -> FakeTransferGateway:
    return FakeTransferGateway()


def stored(uow: FakeFinancingUnitOfWork, advance_id: str) -> Advance:
    return uow.advances.rows[advance_id]


def nothing_committed_since(uow: FakeFinancingUnitOfWork, before: Advance, commits: int) -> bool:
    return stored(uow, before.advance_id) == before and uow.commits == commits


async def quoted(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, amount: int = 1_000_000
) -> Advance:
    advance = await commands.quote(uow, clock, "t1", "s1", "o1", amount, SUPPLIER)
    uow.outbox.envelopes.clear()
    return advance


def seeded(uow: FakeFinancingUnitOfWork, state: str = "disbursed") -> Advance:
    """An advance of 56,000.00 on o1, disbursed at T0 (or only accepted)."""
    if state == "accepted":
        offer = size(order_30_40_30(), policy(), Exposure(), T0, requested=5_600_000)
        assert isinstance(offer, Offer)
        offered, _ = open_advance("a1", order_30_40_30(), "s1", offer, policy(), T0)
        return uow.seed(accept_offer(offered, T0, SUPPLIER)[0])
    return uow.seed(disbursed_advance())


# --- quote -----------------------------------------------------------------------------


async def test_a_quote_commits_the_offer_its_event_history_and_expiry_timer(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    seen: list[Advance | AdvanceRefusal] = []
    advance = await commands.quote(
        uow, clock, "t1", "s1", "o1", 1_000_000, SUPPLIER, before_commit=seen.append
    )
    assert advance.state == "offered" and stored(uow, advance.advance_id) == advance
    assert uow.outbox.types() == ["financing.advance_offered"]
    assert [(e.event_type, e.actor) for e in uow.advances.entries] == [
        ("financing.advance_offered", SUPPLIER)
    ]
    assert (OFFER_EXPIRY, advance.advance_id) in uow.timers.pending
    assert seen == [advance] and uow.commits == 1


async def test_an_order_that_cannot_be_financed_commits_nothing(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    with pytest.raises(AdvanceRefusal) as refused:
        await commands.quote(uow, clock, "t1", "s1", "o-unknown", None, SUPPLIER)
    assert refused.value.advance_id is None
    assert [r.code for r in refused.value.reasons] == ["order_unknown"]
    # a key bound to another supplier does not learn the order exists
    with pytest.raises(AdvanceRefusal) as hidden:
        await commands.quote(uow, clock, "t1", "s2", "o1", None, SUPPLIER, others_hidden=True)
    assert [r.code for r in hidden.value.reasons] == ["order_unknown"]
    assert uow.advances.rows == {} and uow.outbox.envelopes == [] and uow.commits == 0


async def test_a_sized_refusal_commits_the_rejected_advance_and_says_so_before_commit(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    seen: list[Advance | AdvanceRefusal] = []
    with pytest.raises(AdvanceRefusal) as refused:
        await commands.quote(
            uow, clock, "t1", "s1", "o1", 9_000_000, SUPPLIER, before_commit=seen.append
        )
    assert refused.value.advance_id is not None
    assert stored(uow, refused.value.advance_id).state == "rejected"
    assert seen == [refused.value] and uow.commits == 1


# --- accept ----------------------------------------------------------------------------


async def test_acceptance_requests_the_lien_under_the_book_lock(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    seen: list[Advance] = []
    accepted = await commands.accept(
        uow, clock, "t1", "s1", offered.advance_id, SUPPLIER, seen.append
    )
    assert accepted.state == "accepted" and stored(uow, offered.advance_id) == accepted
    assert uow.outbox.types() == ["financing.advance_state_changed", "financing.lien_requested"]
    assert uow.advances.books_locked == [("t1", "USD")] and seen == [accepted]


async def test_an_acceptance_over_a_limit_set_meanwhile_commits_nothing(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    await commands.set_policy(uow, "t1", policy(supplier_limit=500_000), FINANCE)
    commits = uow.commits
    with pytest.raises(AdvanceRefusal) as refused:
        await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    assert [r.code for r in refused.value.reasons] == ["supplier_limit"]
    assert nothing_committed_since(uow, offered, commits) and uow.outbox.envelopes == []


async def test_another_suppliers_advance_or_a_forgotten_order_is_not_found(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    with pytest.raises(AdvanceNotFound):
        await commands.accept(uow, clock, "t1", "s2", offered.advance_id, SUPPLIER)
    with pytest.raises(AdvanceNotFound):
        await commands.accept(uow, clock, "t2", "s1", offered.advance_id, SUPPLIER)
    uow.orders.rows.clear()
    with pytest.raises(OrderNotFound):
        await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    assert stored(uow, offered.advance_id) == offered and uow.outbox.envelopes == []


async def test_an_acceptance_that_loses_a_race_is_decided_again(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    uow.race.conflicts = 1
    accepted = await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    assert uow.race.lost == 1 and accepted.state == "accepted"
    assert uow.outbox.types() == ["financing.advance_state_changed", "financing.lien_requested"]


async def test_a_conflict_that_persists_propagates_with_nothing_committed(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    commits = uow.commits
    uow.race.conflicts = CONFLICT_ATTEMPTS
    with pytest.raises(Conflict):
        await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    assert uow.race.lost == CONFLICT_ATTEMPTS
    assert nothing_committed_since(uow, offered, commits) and uow.outbox.envelopes == []


# --- servicing and credit: happy path, refusal, lost race -------------------------------

ON_DISBURSED: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "repay_early",
        {"supplier_id": "s1", "payment_id": "py_1", "actor": SUPPLIER},
        "repaid",
        ["financing.advance_repaid_early"],
    ),
    (
        "mark_default",
        {"reason": "unpaid", "actor": FINANCE},
        "defaulted",
        ["financing.advance_state_changed"],
    ),
]


def call(name: str, uow: FakeFinancingUnitOfWork, clock: ManualClock, **kw: Any) -> Any:
    return getattr(commands, name)(uow, clock, "t1", advance_id="a1", **kw)


@pytest.mark.parametrize(("name", "kw", "state", "emitted"), ON_DISBURSED)
async def test_servicing_and_default_commit_their_step(
    uow: FakeFinancingUnitOfWork,
    clock: ManualClock,
    name: str,
    kw: dict[str, Any],
    state: str,
    emitted: list[str],
) -> None:
    seeded(uow)
    clock.set(T0 + 10 * DAY)
    seen: list[Advance] = []
    advance = await call(name, uow, clock, **kw, before_commit=seen.append)
    assert advance.state == state and stored(uow, "a1") == advance and seen == [advance]
    assert set(emitted) <= set(uow.outbox.types()) and uow.commits == 1


@pytest.mark.parametrize(("name", "kw", "state", "emitted"), ON_DISBURSED)
async def test_servicing_and_default_refused_by_the_state_commit_nothing(
    uow: FakeFinancingUnitOfWork,
    clock: ManualClock,
    name: str,
    kw: dict[str, Any],
    state: str,
    emitted: list[str],
) -> None:
    before = seeded(uow, "accepted")
    with pytest.raises(AdvanceRuleViolated):
        await call(name, uow, clock, **kw)
    assert nothing_committed_since(uow, before, 0) and uow.outbox.envelopes == []


@pytest.mark.parametrize(("name", "kw", "state", "emitted"), ON_DISBURSED)
async def test_servicing_and_default_that_lose_a_race_are_decided_again(
    uow: FakeFinancingUnitOfWork,
    clock: ManualClock,
    name: str,
    kw: dict[str, Any],
    state: str,
    emitted: list[str],
) -> None:
    seeded(uow)
    uow.race.conflicts = 2
    advance = await call(name, uow, clock, **kw)
    assert advance.state == state and uow.race.lost == 2 and uow.commits == 1


async def test_write_off_then_recoveries_up_to_the_loss(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    seeded(uow)
    with pytest.raises(AdvanceRuleViolated) as not_defaulted:
        await commands.write_off(uow, clock, "t1", "a1", "gone", FINANCE)
    assert not_defaulted.value.code == "not_defaulted" and uow.commits == 0
    await commands.mark_default(uow, clock, "t1", "a1", "unpaid", FINANCE)
    uow.race.conflicts = 1
    lost = await commands.write_off(uow, clock, "t1", "a1", "gone", FINANCE)
    assert lost.state == "written_off" and lost.written_off > 0 and uow.race.lost == 1
    assert "financing.advance_written_off" in uow.outbox.types()
    uow.race.conflicts = 1
    part = await commands.record_recovery(uow, clock, "t1", "a1", 1_000, "py_1", FINANCE)
    assert part.recovered == 1_000 and uow.race.lost == 2
    commits = uow.commits
    with pytest.raises(AdvanceRuleViolated) as exceeds:
        await commands.record_recovery(uow, clock, "t1", "a1", lost.written_off, None, FINANCE)
    assert exceeds.value.code == "recovery_exceeds_loss"
    assert nothing_committed_since(uow, part, commits)


# --- reads and policies ----------------------------------------------------------------


async def test_reads_show_the_tenants_and_the_suppliers_advances_only(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    assert await commands.get_advance(uow, "t1", offered.advance_id, "s1") == offered
    assert await commands.get_advance(uow, "t1", offered.advance_id, None) == offered
    for tenant, supplier in (("t1", "s2"), ("t2", None)):
        with pytest.raises(AdvanceNotFound):
            await commands.get_advance(uow, tenant, offered.advance_id, supplier)
        with pytest.raises(AdvanceNotFound):
            await commands.advance_statement(uow, tenant, offered.advance_id, supplier)
    assert (await commands.list_advances(uow, "t1", "s1", Page())).items == [offered]
    assert (await commands.list_advances(uow, "t1", "s2", Page())).items == []
    assert (await commands.list_advances(uow, "t2", None, Page())).items == []
    for tenant in ("t1", "t2"):  # past the last one; another tenant's is no cursor of t2's
        cursor = Page(starting_after=offered.advance_id)
        if tenant == "t1":
            assert (await commands.list_advances(uow, tenant, None, cursor)).items == []
        else:
            with pytest.raises(InvalidCursor):
                await commands.list_advances(uow, tenant, None, cursor)


async def test_the_platforms_data_on_an_advance_is_set_merged_and_unique(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    events = uow.outbox.types()
    changes = commands.PlatformData(metadata={"a": "1", "b": "2"}, external_reference="ADV-1")
    updated = await commands.update_advance(
        uow, clock, "t1", offered.advance_id, "s1", changes, FINANCE
    )
    assert updated.metadata == {"a": "1", "b": "2"} and updated.external_reference == "ADV-1"
    merged = await commands.update_advance(
        uow,
        clock,
        "t1",
        offered.advance_id,
        None,
        commands.PlatformData(metadata={"a": ""}),
        FINANCE,
    )
    assert merged.metadata == {"b": "2"} and merged.external_reference == "ADV-1"
    assert merged.state == offered.state and uow.outbox.types() == events  # no event
    found = await commands.list_advances(uow, "t1", None, Page(), external_reference="ADV-1")
    assert [a.advance_id for a in found.items] == [offered.advance_id]
    with pytest.raises(InvalidMetadata):
        await commands.update_advance(
            uow,
            clock,
            "t1",
            offered.advance_id,
            None,
            commands.PlatformData(metadata={"k": 1}),
            FINANCE,
        )
    with pytest.raises(AdvanceNotFound):
        await commands.update_advance(uow, clock, "t2", offered.advance_id, None, changes, FINANCE)
    with pytest.raises(AdvanceNotFound):
        await commands.update_advance(uow, clock, "t1", offered.advance_id, "s2", changes, FINANCE)


async def test_a_statement_is_built_from_the_advances_history(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    offered = await quoted(uow, clock)
    await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    await consume(uow, clock, gateway, ev.LienPlaced(
        order_id="o1", advance_id=offered.advance_id, amount=offered.principal, currency="USD"
    ))  # fmt: skip
    statement = await commands.advance_statement(uow, "t1", offered.advance_id, "s1")
    assert [line.kind for line in statement.lines] == ["disbursed"]
    assert statement.balance == offered.principal == statement.totals["principal"]


async def test_a_policy_set_is_the_policy_read_and_the_default_before(
    uow: FakeFinancingUnitOfWork,
) -> None:
    assert (await commands.get_policy(uow, "t1", "USD")).advance_rate_bps == 8_000
    seen: list[Any] = []
    wanted = policy(advance_rate_bps=7_000)
    assert await commands.set_policy(uow, "t1", wanted, FINANCE, seen.append) == wanted
    assert await commands.get_policy(uow, "t1", "USD") == wanted
    assert seen == [wanted] and uow.policies.rows[("t1", "USD")][1] == FINANCE
    with pytest.raises(PolicyError):  # no policy for a currency that is none
        await commands.get_policy(uow, "t1", "usd")


# --- escrow's events -------------------------------------------------------------------


def escrow_event(payload: EventModel, order_id: str = "o1") -> Envelope:
    return Envelope.wrap(payload, source="escrow", tenant_id="t1", subject=order_id)


async def consume(
    uow: FakeFinancingUnitOfWork,
    clock: ManualClock,
    gateway: FakeTransferGateway,
    *payloads: EventModel,
) -> dict[Any, Exception]:
    """One batch, as the consumer runs it: a unit of work the batch commits."""
    async with uow:
        failed = await events.apply_escrow_events(
            uow, clock, gateway, [escrow_event(p, getattr(p, "order_id", "o1")) for p in payloads]
        )
        await uow.commit()
    return dict(failed)


def lien_placed(advance: Advance) -> ev.LienPlaced:
    return ev.LienPlaced(
        order_id=advance.order_id, advance_id=advance.advance_id,
        amount=advance.principal, currency="USD",
    )  # fmt: skip


async def test_a_placed_lien_disburses_by_transfer_keyed_by_the_event(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    accepted = seeded(uow, "accepted")
    assert await consume(uow, clock, gateway, lien_placed(accepted)) == {}
    (call_,) = gateway.calls
    assert call_["destination"] == "acct_s1" and call_["amount"] == accepted.net
    assert call_["idempotency_key"].startswith("financing-disburse-")
    # the ledger reconciles a tenant's Stripe objects by the tenant their metadata names
    assert call_["metadata"] == {
        "advance_id": "a1", "order_id": accepted.order_id, "tenant_id": accepted.tenant_id,
    }  # fmt: skip
    assert stored(uow, "a1").state == "disbursed" and stored(uow, "a1").stripe_transfer_id == "tr_1"
    assert "financing.advance_disbursed" in uow.outbox.types()
    assert any(kind == FEE_AMORTIZATION for kind, _ in uow.timers.pending)
    # the same answer again (a new id) meets a disbursed advance: nothing more happens
    await consume(uow, clock, gateway, lien_placed(accepted))
    assert len(gateway.calls) == 1


async def test_a_refused_transfer_or_lien_cancels_the_advance(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    accepted = seeded(uow, "accepted")
    gateway.refuse.add("acct_s1")
    await consume(uow, clock, gateway, lien_placed(accepted))
    assert stored(uow, "a1").state == "cancelled"
    assert "financing.lien_release_requested" in uow.outbox.types()
    other = FakeFinancingUnitOfWork()
    other.seed_order(order_30_40_30())
    seeded(other, "accepted")
    refused = ev.LienRefused(order_id="o1", advance_id="a1", reasons=["insufficient_held"])
    await consume(other, clock, gateway, refused)
    assert stored(other, "a1").state == "cancelled"
    assert other.outbox.types() == ["financing.advance_state_changed"]  # no lien to give back
    assert other.outbox.envelopes[0].data["reason"] == "lien_refused:insufficient_held"


async def test_releases_repay_and_disputes_freeze_then_unfreeze(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    seeded(uow)
    released = ev.MilestoneReleased(
        order_id="o1", milestone_id="m2", payout_id="p2", currency="USD", gross=4_000_000,
        platform_fee=0, lien_repayment=1_000_000, supplier_net=3_000_000, advance_id="a1",
        stripe_transfer_id="tr_x", held_after=3_000_000,
    )  # fmt: skip
    await consume(uow, clock, gateway, released)
    assert stored(uow, "a1").state == "partially_repaid"
    opened = ev.DisputeOpened(
        order_id="o1", dispute_id="d1", milestone_id="m3", amount=3_000_000,
        currency="USD", reason="late",
    )  # fmt: skip
    await consume(uow, clock, gateway, opened)
    assert stored(uow, "a1").state == "frozen"
    assert uow.orders.rows[("t1", "o1")][0].disputed_total == 3_000_000
    resolved = ev.DisputeResolved(
        order_id="o1", dispute_id="d1", milestone_id="m3", outcome="release",
        release_amount=3_000_000, refund_amount=0, currency="USD",
    )  # fmt: skip
    await consume(uow, clock, gateway, resolved)
    assert stored(uow, "a1").state == "partially_repaid"


async def test_an_order_cancelled_before_the_payout_cancels_the_accepted_advance(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    seeded(uow, "accepted")
    cancelled = ev.Cancelled(order_id="o1", reason="buyer", refund_amount=0, currency="USD")
    await consume(uow, clock, gateway, cancelled)
    assert stored(uow, "a1").state == "cancelled"
    assert uow.orders.rows[("t1", "o1")][0].status == "cancelled"


async def test_an_event_for_an_unknown_order_fails_alone_and_changes_nothing(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    created = ev.OrderCreated(
        order_id="o2", buyer_id="b1", supplier_id="s1", supplier_account_id="acct_s1",
        currency="USD", total=1_000,
        milestones=[ev.MilestoneTerms(milestone_id="m1", name="all", amount=1_000,
                                      kind="contract", inspection_window_seconds=0)],
        platform_fee_bps=0, platform_fee_fixed=0,
    )  # fmt: skip
    stray = ev.Cancelled(order_id="o9", reason="?", refund_amount=0, currency="USD")
    failed = await consume(uow, clock, gateway, stray, created)
    assert len(failed) == 1 and "never saw created" in str(next(iter(failed.values())))
    assert ("t1", "o2") in uow.orders.rows and ("t1", "o9") not in uow.orders.rows


async def test_a_lost_race_in_a_batch_fails_the_event_with_nothing_of_it_kept(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    before = seeded(uow, "accepted")
    order_before = uow.orders.rows[("t1", "o1")]
    uow.race.conflicts = 1
    failed = await consume(uow, clock, gateway, lien_placed(before))
    assert [type(e) for e in failed.values()] == [Conflict]  # the consumer retries it
    assert stored(uow, "a1") == before and uow.outbox.envelopes == []
    assert uow.orders.rows[("t1", "o1")] == order_before
    assert await consume(uow, clock, gateway, lien_placed(before)) == {}  # the retry
    assert stored(uow, "a1").state == "disbursed"


# --- timers ----------------------------------------------------------------------------


async def test_an_open_offer_expires_when_its_timer_fires_and_not_before(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    offered = await quoted(uow, clock)
    async with uow:
        await timers.offer_expired(uow, offered.advance_id, offered.expires_at - DAY / 24)
        await uow.commit()
    assert stored(uow, offered.advance_id) == offered and uow.outbox.envelopes == []
    async with uow:
        await timers.offer_expired(uow, offered.advance_id, offered.expires_at)
        await uow.commit()
    assert stored(uow, offered.advance_id).state == "expired"


async def test_the_daily_tick_earns_the_fee_and_schedules_tomorrow(
    uow: FakeFinancingUnitOfWork,
) -> None:
    advance = seeded(uow)
    now = T0 + 3 * DAY
    async with uow:
        await timers.fee_amortization_due(uow, "a1", now)
        await uow.commit()
    assert stored(uow, "a1").fee_amortized > 0
    assert uow.outbox.types() == ["financing.fee_amortized"]
    assert (FEE_AMORTIZATION, "a1:4") in uow.timers.pending
    assert advance.fee_amortized == 0


async def test_a_timer_that_loses_a_race_raises_and_its_worker_rolls_back(
    uow: FakeFinancingUnitOfWork,
) -> None:
    before = seeded(uow)
    uow.race.conflicts = 1
    with pytest.raises(Conflict):
        async with uow:
            await timers.fee_amortization_due(uow, "a1", T0 + 3 * DAY)
            await uow.commit()
    assert stored(uow, "a1") == before and uow.outbox.envelopes == []
    assert not uow.timers.pending


async def test_a_disbursement_retried_after_a_lost_race_pays_under_the_same_key(
    uow: FakeFinancingUnitOfWork, clock: ManualClock, gateway: FakeTransferGateway
) -> None:
    """The transfer runs before the advance is saved: a lost race rolls the save back but not
    the payout. The consumer retries the same envelope, so the retry must reach Stripe under
    the same idempotency key (Stripe answers with the first transfer); a key derived from
    anything but the event would pay the supplier twice."""
    accepted = seeded(uow, "accepted")
    env = escrow_event(lien_placed(accepted))
    uow.race.conflicts = 1
    async with uow:
        failed = await events.apply_escrow_events(uow, clock, gateway, [env])
        await uow.commit()
    assert [type(e) for e in failed.values()] == [Conflict] and stored(uow, "a1") == accepted
    async with uow:  # the consumer's retry: the same event, redelivered
        assert await events.apply_escrow_events(uow, clock, gateway, [env]) == {}
        await uow.commit()
    first, retry = gateway.calls
    assert first["idempotency_key"] == retry["idempotency_key"] == f"financing-disburse-{env.id}"
    assert first == retry and stored(uow, "a1").state == "disbursed"


async def test_the_advances_events_carry_the_platforms_data(
    uow: FakeFinancingUnitOfWork, clock: ManualClock
) -> None:
    """A platform reading financing's webhooks matches them to its records without a read:
    the offer and every later lifecycle event carry the advance's metadata and reference,
    as they are when the event is published."""
    data = commands.PlatformData(metadata={"po": "PO-9"}, external_reference="ADV-9")
    offered = await commands.quote(
        uow, clock, "t1", "s1", "o1", 1_000_000, SUPPLIER, platform_data=data
    )
    [offer] = [e.payload() for e in uow.outbox.envelopes if e.type == "financing.advance_offered"]
    assert offer.metadata == {"po": "PO-9"} and offer.external_reference == "ADV-9"  # type: ignore[attr-defined]
    await commands.accept(uow, clock, "t1", "s1", offered.advance_id, SUPPLIER)
    changed = [
        e.payload() for e in uow.outbox.envelopes if e.type == "financing.advance_state_changed"
    ]
    assert changed and all(c.metadata == {"po": "PO-9"} for c in changed)  # type: ignore[attr-defined]


def test_a_v1_financing_event_is_upcast_with_no_platform_data() -> None:
    from shared.events.financing import AdvanceStateChanged

    v1 = {"advance_id": "a1", "order_id": "o1", "state_from": "offered", "state": "accepted"}
    v1["actor"] = "x"
    env = Envelope.model_validate(
        {
            "id": "0190b5a0-11aa-7b3c-8d4e-5f6a7b8c9d0e",
            "type": "financing.advance_state_changed",
            "version": 1,
            "source": "financing",
            "subject": "o1",
            "tenant_id": "t1",
            "occurred_at": T0.isoformat(),
            "correlation_id": "0190b5a0-11aa-7b3c-8d4e-5f6a7b8c9d0f",
            "data": v1,
        }
    )
    got = env.payload()
    assert isinstance(got, AdvanceStateChanged) and got.metadata == {}
