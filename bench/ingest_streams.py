"""The escrow events the ledger ingest benchmark pre-loads on Kafka, for tenants of its own.

- ``trades``: orders of fresh tenants, each funded by card and released 30/40/30 with a
  platform fee and the supplier's Stripe transfer (4 journal transactions per order, 4.25
  postings each on average: 2 for the funding, 5 per release). Orders are interleaved as in
  production (many in flight at once), so a fetched batch holds events of thousands of them.
- ``hot_fee_account``: the same volume where every transaction credits one account (the one
  tenant's platform fee revenue): releases only, of one tenant.

Tenants are chosen so that each sits on a partition of its own (``shared.topics``): a
consumer group of two members, assigned by range, then owns half of them each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from shared.events import Envelope
from shared.events.escrow import Funded, MilestoneReleased
from shared.topics import partition_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOTAL = 10_000_000  # USD 100,000.00
SPLIT = (("m1", 3_000_000), ("m2", 4_000_000), ("m3", 3_000_000))
SPREAD = 200  # orders started between two events of one order
TENANTS_PER_RUN = 6  # one on each partition of the bench's topics


def tenants_on_partitions(run: str, partitions: int) -> list[str]:
    """One tenant per partition (0 .. partitions-1), named ``ing-<run>-<n>``."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        name = f"ing-{run}-{n}"
        found.setdefault(partition_for(name, range(partitions)), name)
        n += 1
    return [found[p] for p in range(partitions)]


def _funded(tenant: str, order: str, at: datetime) -> Envelope:
    payload = Funded(
        order_id=order, payment_id=f"pay_{order}", amount=TOTAL, currency="USD", method="stripe",
        stripe_payment_intent_id=f"pi_{order}", stripe_charge_id=f"ch_{order}",
        funded_total=TOTAL, held_after=TOTAL, fully_funded=True,
    )  # fmt: skip
    return Envelope.wrap(payload, source="escrow", tenant_id=tenant, subject=order, occurred_at=at)


def _released(tenant: str, order: str, m: int, held_after: int, at: datetime) -> Envelope:
    milestone, gross = SPLIT[m]
    fee = gross // 100
    payload = MilestoneReleased(
        order_id=order, milestone_id=milestone, payout_id=f"po_{order}_{milestone}",
        currency="USD", gross=gross, platform_fee=fee,
        lien_repayment=0, supplier_net=gross - fee, advance_id=None,
        stripe_transfer_id=f"tr_{order}_{milestone}", held_after=held_after,
    )  # fmt: skip
    return Envelope.wrap(payload, source="escrow", tenant_id=tenant, subject=order, occurred_at=at)


def _interleave(lifecycles: list[list[tuple[str, str, int]]]) -> Iterator[tuple[str, str, int]]:
    """Event j of order i at slot i + j*SPREAD: many orders in flight at once."""
    slots = sorted(
        (i + j * SPREAD, i, j) for i, steps in enumerate(lifecycles) for j in range(len(steps))
    )
    for _, i, j in slots:
        yield lifecycles[i][j]


def trades(n: int, tenants: list[str], run: str) -> list[Envelope]:
    """About ``n`` events (a multiple of 4): each order funded, then its 3 releases."""
    orders = max(1, n // 4)
    lifecycles = [
        [(tenants[i % len(tenants)], f"{run}-o{i}", step) for step in range(4)]
        for i in range(orders)
    ]
    out = []
    for at, (tenant, order, step) in enumerate(_interleave(lifecycles)):
        when = T0 + timedelta(milliseconds=at)
        if step == 0:
            out.append(_funded(tenant, order, when))
        else:
            held = TOTAL - sum(g for _, g in SPLIT[:step])
            out.append(_released(tenant, order, step - 1, held, when))
    return out


def hot_fee_account(n: int, tenant: str, run: str) -> list[Envelope]:
    """``n`` releases of one tenant: every transaction credits its platform fee revenue (the
    orders' fundings are not in the stream, so their escrow-held sub-ledgers go negative: the
    posting engine does not look, the audit would)."""
    lifecycles = [[(tenant, f"{run}-h{i}", step) for step in range(3)] for i in range(n // 3 + 1)]
    out = []
    for at, (_, order, step) in enumerate(_interleave(lifecycles)):
        held = TOTAL - sum(g for _, g in SPLIT[: step + 1])
        out.append(_released(tenant, order, step, held, T0 + timedelta(milliseconds=at)))
    return out[:n]


def postings_of(events: Sequence[Envelope]) -> int:
    return sum(2 if e.type == "escrow.funded" else 5 for e in events)
