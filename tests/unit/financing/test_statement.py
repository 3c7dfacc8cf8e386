"""The statement replays an advance's events; its balance is the advance's balance."""

from __future__ import annotations

from services.financing.domain.servicing import amortize, apply_repayment, repay_early
from services.financing.domain.statement import build_statement
from shared.events.financing import AdvanceDisbursed
from shared.events.registry import EventModel
from tests.unit.financing.builders import DAY, T0, disbursed_advance


def test_statement_lines_running_balance_and_totals() -> None:
    a = disbursed_advance()
    history: list[tuple[object, str, dict]] = []

    def record(at: object, events: list[EventModel]) -> None:
        history.extend((at, e.event_type, e.model_dump(mode="json")) for e in events)

    record(T0, [AdvanceDisbursed(advance_id="a1", order_id="o1", supplier_id="s1", currency="USD",
                                 principal=a.principal, fee=a.fee, net_disbursed=a.net)])  # fmt: skip
    a, events = amortize(a, T0 + 10 * DAY)
    record(T0 + 10 * DAY, events)
    a, events = apply_repayment(a, 4_000_000, T0 + 30 * DAY)
    record(T0 + 30 * DAY, events)
    a, events = repay_early(a, T0 + 35 * DAY, "apikey:s1", "pi_1")
    record(T0 + 35 * DAY, events)

    s = build_statement("a1", "USD", history)  # type: ignore[arg-type]
    assert [(line.kind, line.balance_after) for line in s.lines] == [
        ("disbursed", 5_600_000),
        ("fee_earned", 5_600_000),
        ("repayment", 1_600_000),
        ("fee_earned", 1_600_000),
        ("early_repayment", 0),
    ]
    assert s.balance == a.balance == 0
    # 35 of 70 days earned: 980.00; 980.00 rebated off the 16,000.00 still owed
    assert s.totals["fee_earned"] == 98_000 and s.totals["fee_rebated"] == 98_000
    assert s.totals["repaid"] + s.totals["repaid_early"] + s.totals["fee_rebated"] == a.principal
