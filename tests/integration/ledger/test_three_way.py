"""The three-way check with escrow asked: per order, the money taken in through Stripe as the
ledger, escrow and Stripe know it; each break names the one of the three that disagrees."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.stripe_source import parse_report_csv
from services.ledger.domain.recon import EscrowHeld
from services.ledger.service_layer import commands, queries
from services.ledger.service_layer.unit_of_work import NO_EVENTS, LedgerUnitOfWork
from shared.pagination import Page
from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import funded, post

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
AT = datetime(2026, 6, 2, tzinfo=UTC)
REPORT = (
    "balance_transaction_id,created_utc,currency,gross,fee,reporting_category,source_id,"
    "payment_metadata[order_id],payment_metadata[tenant_id]\n"
    "txn_{t}_A,2026-06-02 00:00:00,usd,1000.00,0.00,charge,ch_A,A,{t}\n"
    "txn_{t}_B,2026-06-02 00:00:00,usd,500.00,0.00,charge,ch_B,B,{t}\n"
    "txn_{t}_Br,2026-06-03 00:00:00,usd,-100.00,0.00,refund,re_B,B,{t}\n"
    "txn_{t}_C,2026-06-02 00:00:00,usd,300.00,0.00,charge,ch_C,C,{t}\n"
    "txn_{t}_D,2026-06-02 00:00:00,usd,200.00,0.00,charge,ch_D,D,{t}\n"
    "txn_{t}_E,2026-06-02 00:00:00,usd,70.00,0.00,charge,ch_E,E,{t}\n"
)


async def test_each_break_names_which_of_the_three_disagrees(api: Api, ledger: AsyncEngine) -> None:
    t = api.tenant
    await post(
        ledger,
        *(funded(t, o, n, n, stripe_charge_id=f"ch_{o}", at=AT)
          for o, n in (("A", 100_000), ("B", 50_000), ("C", 30_000), ("D", 10_000),
                       ("E", 5_000))),
        funded(t, "F", 8_000, 8_000, method="wire", stripe_payment_intent_id=None,
               stripe_charge_id=None, at=AT),
    )  # fmt: skip
    escrow = [
        EscrowHeld("A", "USD", 100_000, 100_000),  # all three agree
        EscrowHeld("B", "USD", 50_000, 50_000),  # Stripe refunded 100.00 nobody booked
        EscrowHeld("C", "USD", 20_000, 20_000),  # escrow lost 100.00 of a charge
        EscrowHeld("D", "USD", 20_000, 20_000),  # the ledger booked 100.00 of 200.00
        EscrowHeld("E", "USD", 6_000, 6_000),  # three figures, all different
        EscrowHeld("F", "USD", 8_000, 0),  # a wire: nothing through Stripe, no figure there
    ]
    caller = commands.Caller(t, "apikey:alice")
    result = await commands.reconcile(
        LedgerUnitOfWork(ledger, NO_EVENTS), caller, source="csv", now=NOW, escrow=escrow,
        lines=list(parse_report_csv(REPORT.format(t=t).splitlines())),
    )  # fmt: skip
    breaks = await queries.breaks(
        LedgerUnitOfWork(ledger, NO_EVENTS), caller, "open", None, Page(limit=100)
    )
    found = {
        (b.kind, b.object_id): (b.ledger_amount, b.other_amount, b.owner) for b in breaks.items
    }
    assert found == {
        ("stripe_disagrees", "B"): (50_000, 40_000, "payments-ops"),
        ("missing_in_ledger", "re_B"): (None, -10_000, "ledger-ops"),
        ("escrow_disagrees", "C"): (30_000, 20_000, "escrow-ops"),
        ("escrow_held_mismatch", "C"): (30_000, 20_000, "escrow-ops"),
        ("ledger_disagrees", "D"): (10_000, 20_000, "ledger-ops"),
        ("escrow_held_mismatch", "D"): (10_000, 20_000, "escrow-ops"),
        ("amount_mismatch", "ch_D"): (10_000, 20_000, "finance"),
        ("three_way_disagree", "E"): (5_000, 6_000, "finance"),
        ("escrow_held_mismatch", "E"): (5_000, 6_000, "escrow-ops"),
        ("amount_mismatch", "ch_E"): (5_000, 7_000, "finance"),
    }
    assert {k: v for k, v in result.counts.items() if k.endswith(("agrees", "agree"))} == {
        "ledger_disagrees": 1, "escrow_disagrees": 1, "stripe_disagrees": 1,
        "three_way_disagree": 1,
    }  # fmt: skip

    # escrow catches up with C; a run that asks again clears the breaks it no longer finds
    escrow[2] = EscrowHeld("C", "USD", 30_000, 30_000)
    await commands.reconcile(
        LedgerUnitOfWork(ledger, NO_EVENTS), caller, source="csv", now=NOW, escrow=escrow,
        lines=list(parse_report_csv(REPORT.format(t=t).splitlines())),
    )  # fmt: skip
    still = (
        await queries.breaks(
            LedgerUnitOfWork(ledger, NO_EVENTS), caller, "open", None, Page(limit=100)
        )
    ).items
    assert not {(b.kind, b.object_id) for b in still} & {
        ("escrow_disagrees", "C"), ("escrow_held_mismatch", "C"),
    }  # fmt: skip


async def test_an_escrow_that_cannot_be_asked_is_a_502_and_records_nothing(api: Api) -> None:
    # nothing listens on the escrow port in the test (the API is in-process)
    r = await api.client.post(
        "/v1/ledger/reconciliation/runs", params={"source": "csv", "escrow": "ask"},
        content=b"balance_transaction_id,currency,gross\n",
    )  # fmt: skip
    assert r.status_code == 502 and r.json()["error"]["code"] == "escrow_unavailable", r.text
    assert (await api.client.get("/v1/ledger/reconciliation/breaks")).json()["data"] == []


async def test_an_order_only_stripe_names_is_a_three_way_break(
    api: Api, ledger: AsyncEngine
) -> None:
    """Stripe took money for an order that neither the ledger nor escrow knows: ledger and
    escrow agree on 0, so Stripe is the odd one out (the check must not start from the
    orders the ledger or escrow know only)."""
    t = api.tenant
    await post(ledger, funded(t, "A", 100_000, 100_000, stripe_charge_id="ch_A", at=AT))
    report = (
        "balance_transaction_id,created_utc,currency,gross,fee,reporting_category,source_id,"
        "payment_metadata[order_id],payment_metadata[tenant_id]\n"
        "txn_{t}_A,2026-06-02 00:00:00,usd,1000.00,0.00,charge,ch_A,A,{t}\n"
        "txn_{t}_G,2026-06-02 00:00:00,usd,40.00,0.00,charge,ch_G,G,{t}\n"
    )
    caller = commands.Caller(t, "apikey:alice")
    result = await commands.reconcile(
        LedgerUnitOfWork(ledger, NO_EVENTS), caller, source="csv", now=NOW,
        escrow=[EscrowHeld("A", "USD", 100_000, 100_000)],
        lines=list(parse_report_csv(report.format(t=t).splitlines())),
    )  # fmt: skip
    breaks = await queries.breaks(
        LedgerUnitOfWork(ledger, NO_EVENTS), caller, "open", None, Page(limit=100)
    )
    found = {(b.kind, b.object_id): (b.ledger_amount, b.other_amount) for b in breaks.items}
    assert found == {
        ("missing_in_ledger", "ch_G"): (None, 4_000),
        ("stripe_disagrees", "G"): (0, 4_000),
    }
    assert result.counts["stripe_disagrees"] == 1
