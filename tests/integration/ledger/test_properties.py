"""Property tests over random event streams, posted in random batches to the real database:
the trial balance is zero per currency, every balance equals the sum of its postings, and
escrow held per order equals what the escrow service said (held_after)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from itertools import pairwise

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters import queries
from shared.events import Envelope
from shared.events.financing import AdvanceDisbursed, FeeAmortized
from tests.integration.ledger.helpers import FAR_FUTURE, funded, post, refunded, released, wrap

ORDERS = ("o1", "o2", "o3")
CURRENCY = {"o1": "USD", "o2": "EUR", "o3": "JPY"}
Op = tuple[str, int, int, int]

ops = st.lists(
    st.tuples(
        st.sampled_from(["fund", "release", "refund", "advance"]),
        st.integers(0, len(ORDERS) - 1),
        st.integers(1, 1_000_000),
        st.integers(0, 2_000),  # fee in basis points
    ),
    min_size=1,
    max_size=25,
)


def stream(tenant: str, plan: list[Op]) -> tuple[list[Envelope], dict[str, int]]:
    """Events that a correct escrow/financing could emit, and what each order holds."""
    held: dict[str, int] = defaultdict(int)
    out: list[Envelope] = []
    for n, (kind, idx, amount, bps) in enumerate(plan):
        order, cur = ORDERS[idx], CURRENCY[ORDERS[idx]]
        if kind == "fund":
            held[order] += amount
            out.append(funded(tenant, order, amount, held[order], currency=cur,
                              payment_id=f"p{n}", stripe_charge_id=f"ch_{n}"))  # fmt: skip
        elif kind in ("release", "refund") and held[order] > 0:
            part = min(amount, held[order])
            held[order] -= part
            if kind == "refund":
                out.append(
                    refunded(tenant, order, part, held[order], currency=cur, refund_id=f"r{n}")
                )
            else:
                fee = part * bps // 10_000
                out.append(released(tenant, order, part, fee, 0, held[order], currency=cur,
                                    milestone_id=f"m{n}", stripe_transfer_id=f"tr_{n}"))  # fmt: skip
        elif kind == "advance":
            fee = amount * bps // 10_000
            adv = f"a{n}"
            out.append(wrap(AdvanceDisbursed(advance_id=adv, order_id=order, supplier_id="s",
                                             currency=cur, principal=amount + fee, fee=fee,
                                             net_disbursed=amount), tenant, order))  # fmt: skip
            if fee:
                out.append(wrap(FeeAmortized(advance_id=adv, currency=cur, amount=fee,
                                             as_of=FAR_FUTURE), tenant, order))  # fmt: skip
    return out, dict(held)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=ops, cuts=st.lists(st.integers(0, 40), max_size=4))
async def test_random_streams_keep_the_books_balanced(
    ledger: AsyncEngine, plan: list[Op], cuts: list[int]
) -> None:
    tenant = f"p-{uuid.uuid4().hex[:12]}"
    events, held = stream(tenant, plan)
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    for lo, hi in pairwise(bounds):
        await post(ledger, *events[lo:hi])
    await post(ledger, *events)  # a full redelivery changes nothing

    async with ledger.connect() as conn:
        trial = await queries.trial_balance(conn, tenant, FAR_FUTURE)
        sums = dict(
            (
                await conn.execute(
                    sa.text(
                        "SELECT account_id, sum(amount) FROM postings WHERE tenant_id = :t GROUP BY 1"
                    ),
                    {"t": tenant},
                )
            ).all()
        )
        accounts = await queries.list_accounts(conn, tenant)
        balances = {a.id: await queries.balance(conn, a.id, FAR_FUTURE) for a in accounts}
    per_currency: dict[str, int] = defaultdict(int)
    for line in trial:
        per_currency[line.currency] += line.balance
    assert set(per_currency.values()) <= {0}
    assert balances == {k: int(v) for k, v in sums.items()}
    for a in accounts:
        if a.code == "escrow_held":
            assert -balances[a.id] == held.get(a.subledger, 0) >= 0
