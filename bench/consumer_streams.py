"""The event streams the consumer benchmark pre-loads: realistic traffic for each consumer.

- financing (``financing.escrow-events``) reads escrow's events: orders of a few tenants,
  each created, funded, released milestone by milestone (evidence and, now and then, a
  dispute in between) and completed;
- escrow (``escrow.liens``) reads financing's events: per order an offer, a lien request, a
  state change, the disbursement and the lien's release; only the lien commands act;
- the ledger (``ledger-postings``) reads both: escrow's money events and financing's
  disbursements and fee amortisation.

A subject's events are spread over the stream as they are in production (many orders in
flight at once), so a fetched batch holds events of hundreds of orders.

With ``dead_share`` (e.g. 0.1) that share of the events belongs to subjects the consumer must
dead-letter: its first event fails for good (financing: an order it never saw created;
escrow: a lien request its model refuses; ledger: an unbalanced disbursement) and every later
event of the subject is parked behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.events import Envelope, EventModel
from shared.events import escrow as ev
from shared.events import financing as fin

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TENANTS = ("acme", "globex", "initech")
TOTAL = 10_000_000  # USD 100,000.00, paid 30/40/30
SPLIT = (
    ("m1", "contract", 3_000_000),
    ("m2", "shipment", 4_000_000),
    ("m3", "inspection", 3_000_000),
)
LIEN = 5_000_000
SPREAD = 50  # orders started between two events of one order


@dataclass
class Stream:
    """Events per topic role ("escrow", "financing"), and how many must be dead-lettered."""

    events: dict[str, list[Envelope]] = field(default_factory=dict)
    dead: int = 0
    orders: list[tuple[str, str]] = field(default_factory=list)  # (tenant, order id), healthy

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.events.values())


def order_created(order_id: str) -> ev.OrderCreated:
    return ev.OrderCreated(
        order_id=order_id, buyer_id="buyer-1", supplier_id="supplier-1",
        supplier_account_id="acct_supplier1", currency="USD", total=TOTAL,
        milestones=[ev.MilestoneTerms(milestone_id=m, name=kind, amount=amount, kind=kind,  # type: ignore[arg-type]
                                      inspection_window_seconds=0) for m, kind, amount in SPLIT],
        platform_fee_bps=100, platform_fee_fixed=0,
    )  # fmt: skip


def released(order_id: str, milestone: str, gross: int, held_after: int) -> ev.MilestoneReleased:
    fee = gross // 100
    return ev.MilestoneReleased(
        order_id=order_id, milestone_id=milestone, payout_id=f"po_{order_id}_{milestone}",
        currency="USD", gross=gross,
        platform_fee=fee, lien_repayment=0, supplier_net=gross - fee, advance_id=None,
        stripe_transfer_id=f"tr_{order_id}_{milestone}", held_after=held_after,
    )  # fmt: skip


def escrow_lifecycle(order_id: str, disputed: bool) -> list[EventModel]:
    """What escrow publishes for one order, in order."""
    out: list[EventModel] = [
        order_created(order_id),
        ev.Funded(order_id=order_id, payment_id=f"wire:{order_id}", amount=TOTAL, currency="USD",
                  method="wire", stripe_payment_intent_id=None, stripe_charge_id=None,
                  funded_total=TOTAL, held_after=TOTAL, fully_funded=True),
        released(order_id, "m1", 3_000_000, 7_000_000),
        ev.EvidenceSubmitted(order_id=order_id, milestone_id="m2", evidence_id=f"ev_{order_id}",
                             kind="shipment", details={"carrier": "maersk"}, evidence_complete=True),
        released(order_id, "m2", 4_000_000, 3_000_000),
    ]  # fmt: skip
    if disputed:
        out += [
            ev.DisputeOpened(order_id=order_id, dispute_id=f"d_{order_id}", milestone_id="m3",
                             amount=3_000_000, currency="USD", reason="damaged"),
            ev.DisputeResolved(order_id=order_id, dispute_id=f"d_{order_id}", milestone_id="m3",
                               outcome="release", release_amount=3_000_000, refund_amount=0,
                               currency="USD"),
        ]  # fmt: skip
    out += [
        released(order_id, "m3", 3_000_000, 0),
        ev.Completed(order_id=order_id, currency="USD", released_total=TOTAL, refunded_total=0,
                     held_after=0),
    ]  # fmt: skip
    return out


def advance_lifecycle(order_id: str) -> list[EventModel]:
    """What financing publishes for one advance on the order, in order."""
    a = f"adv_{order_id}"
    return [
        fin.AdvanceOffered(advance_id=a, order_id=order_id, supplier_id="supplier-1",
                           buyer_id="buyer-1", currency="USD", principal=LIEN, fee=100_000,
                           term_days=60, daily_fee_rate="0.0005", apr="0.1241",  # type: ignore[arg-type]
                           expires_at=T0 + timedelta(days=1)),
        fin.LienRequested(order_id=order_id, advance_id=a, amount=LIEN, currency="USD",
                          supplier_id="supplier-1"),
        fin.AdvanceStateChanged(advance_id=a, order_id=order_id, state_from="offered",
                                state="accepted", actor="apikey:portal"),
        fin.AdvanceDisbursed(advance_id=a, order_id=order_id, supplier_id="supplier-1",
                             currency="USD", principal=LIEN, fee=100_000, net_disbursed=4_900_000,
                             stripe_transfer_id=f"tr_adv_{order_id}"),
        fin.LienReleaseRequested(order_id=order_id, advance_id=a, reason="repaid"),
    ]  # fmt: skip


def ledger_financing(order_id: str) -> list[EventModel]:
    a = f"adv_{order_id}"
    return [
        fin.AdvanceDisbursed(advance_id=a, order_id=order_id, supplier_id="supplier-1",
                             currency="USD", principal=LIEN, fee=100_000, net_disbursed=4_900_000,
                             stripe_transfer_id=f"tr_adv_{order_id}"),
        *[fin.FeeAmortized(advance_id=a, currency="USD", amount=25_000,
                           as_of=T0 + timedelta(days=d)) for d in (1, 2, 3, 4)],
    ]  # fmt: skip


def _wrap(source: str, tenant: str, subject: str, payloads: list[EventModel]) -> list[Envelope]:
    return [Envelope.wrap(p, source=source, tenant_id=tenant, subject=subject) for p in payloads]


def _broken(env: Envelope, **data: object) -> Envelope:
    """``env`` with fields its consumer cannot accept (a producer's bug)."""
    return env.model_copy(update={"data": {**env.data, **data}})


Lifecycle = tuple[str, list[Envelope]]  # (topic role, the subject's events in order)


def _interleave(lifecycles: list[Lifecycle]) -> dict[str, list[Envelope]]:
    """Spread each subject's events over the stream: event j of subject i sits at i + j*SPREAD."""
    slots: list[tuple[int, int, int, str, Envelope]] = []
    for i, (role, envs) in enumerate(lifecycles):
        slots += [(i + j * SPREAD, i, j, role, env) for j, env in enumerate(envs)]
    slots.sort(key=lambda s: s[:3])
    out: dict[str, list[Envelope]] = {}
    for at, _, _, role, env in slots:
        at_time = T0 + timedelta(seconds=at)
        out.setdefault(role, []).append(env.model_copy(update={"occurred_at": at_time}))
    return out


def _build(
    n: int,
    run: str,
    dead_share: float,
    healthy: Callable[[str, str], list[Lifecycle]],
    ghost: Callable[[str, str], Lifecycle],
) -> Stream:
    stream, lifecycles, total, dead, i = Stream(), [], 0, 0, 0
    while total < n:
        tenant, order_id = TENANTS[i % len(TENANTS)], f"{run}-o{i:06d}"
        i += 1
        if dead < dead_share * (total + 1):
            role, envs = ghost(tenant, order_id)
            lifecycles.append((role, envs))
            dead += len(envs)
            total += len(envs)
            continue
        stream.orders.append((tenant, order_id))
        for role, envs in healthy(tenant, order_id):
            lifecycles.append((role, envs))
            total += len(envs)
    stream.events, stream.dead = _interleave(lifecycles), dead
    return stream


def for_financing(n: int, run: str, dead_share: float = 0.0) -> Stream:
    def healthy(tenant: str, oid: str) -> list[Lifecycle]:
        disputed = int(oid.rsplit("o", 1)[1]) % 10 == 3
        return [("escrow", _wrap("escrow", tenant, oid, escrow_lifecycle(oid, disputed)))]

    def ghost(tenant: str, oid: str) -> Lifecycle:  # created before financing listened
        return "escrow", _wrap("escrow", tenant, oid, escrow_lifecycle(oid, False)[1:])

    return _build(n, run, dead_share, healthy, ghost)


def for_escrow(n: int, run: str, dead_share: float = 0.0) -> Stream:
    def healthy(tenant: str, oid: str) -> list[Lifecycle]:
        return [("financing", _wrap("financing", tenant, oid, advance_lifecycle(oid)))]

    def ghost(tenant: str, oid: str) -> Lifecycle:
        envs = _wrap("financing", tenant, oid, advance_lifecycle(oid)[1:])
        return "financing", [_broken(envs[0], amount=float(LIEN)), *envs[1:]]

    return _build(n, run, dead_share, healthy, ghost)


def for_ledger(n: int, run: str, dead_share: float = 0.0) -> Stream:
    def healthy(tenant: str, oid: str) -> list[Lifecycle]:
        out = [("escrow", _wrap("escrow", tenant, oid, escrow_lifecycle(oid, False)))]
        if int(oid.rsplit("o", 1)[1]) % 3 == 0:  # every third order takes an advance
            out.append(("financing", _wrap("financing", tenant, oid, ledger_financing(oid))))
        return out

    def ghost(tenant: str, oid: str) -> Lifecycle:
        envs = _wrap("financing", tenant, oid, ledger_financing(oid))
        return "financing", [_broken(envs[0], net_disbursed=4_800_000), *envs[1:]]

    return _build(n, run, dead_share, healthy, ghost)
