"""An advance's statement, replayed from its recorded events.

The running ``balance`` is what the supplier owes, i.e. the ledger's advance receivable for
this advance: + principal at disbursement, - each repayment from a release (all of it, even
beyond what was owed: the excess is due back to the supplier and shows as a negative
balance), - an early payoff and its fee rebate, - a write-off. Fee amortisation and recoveries are shown but do
not move it (they move deferred fee income and credit losses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Line:
    at: datetime
    kind: str
    amount: int
    balance_after: int
    detail: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    advance_id: str
    currency: str
    lines: tuple[Line, ...]
    totals: dict[str, int]

    @property
    def balance(self) -> int:
        return self.lines[-1].balance_after if self.lines else 0


# event type -> (statement line kind, data field with the amount, sign on the balance)
_LINES: dict[str, tuple[str, str, int]] = {
    "financing.advance_disbursed": ("disbursed", "principal", +1),
    "financing.fee_amortized": ("fee_earned", "amount", 0),
    "financing.repayment_applied": ("repayment", "amount", -1),
    "financing.advance_repaid_early": ("early_repayment", "amount", -1),
    "financing.advance_written_off": ("written_off", "amount", -1),
    "financing.recovery_recorded": ("recovery", "amount", 0),
}


def _units(data: Mapping[str, object], key: str) -> int:
    """An amount of an event's data: an integer of minor units, never anything else."""
    value = data[key]
    if not isinstance(value, int):
        raise TypeError(f"{key} is {value!r}, not an integer of minor units")
    return value


def build_statement(
    advance_id: str, currency: str, history: Sequence[tuple[datetime, str, Mapping[str, object]]]
) -> Statement:
    """``history``: (at, event type, event data) in the order the events were recorded."""
    balance = 0
    lines: list[Line] = []
    totals = dict.fromkeys(
        (
            "principal",
            "net_disbursed",
            "fee",
            "fee_earned",
            "fee_rebated",
            "repaid",
            "repaid_early",
            "written_off",
            "recovered",
            "unapplied",
        ),
        0,
    )
    for at, event_type, data in history:
        if event_type not in _LINES:
            continue
        kind, field_name, sign = _LINES[event_type]
        amount = _units(data, field_name)
        balance += sign * amount
        detail: dict[str, int] = {}
        if kind == "disbursed":
            totals["principal"] += amount
            totals["fee"] += _units(data, "fee")
            totals["net_disbursed"] += _units(data, "net_disbursed")
            detail = {"fee": _units(data, "fee"), "net_disbursed": _units(data, "net_disbursed")}
        elif kind == "early_repayment":
            balance -= _units(data, "fee_rebate")
            totals["repaid_early"] += amount
            totals["fee_rebated"] += _units(data, "fee_rebate")
            detail = {"fee_rebate": _units(data, "fee_rebate")}
        elif kind == "repayment":
            # ``amount`` is what the release paid (the ledger's credit); beyond the split
            # it is unapplied, due back to the supplier, and takes the balance below zero.
            applied = _units(data, "to_fee") + _units(data, "to_principal")
            totals["repaid"] += applied
            totals["unapplied"] += amount - applied
            detail = {
                "to_fee": _units(data, "to_fee"),
                "to_principal": _units(data, "to_principal"),
            }
            if amount != applied:
                detail["unapplied"] = amount - applied
        else:
            totals[
                {"fee_earned": "fee_earned", "written_off": "written_off"}.get(kind, "recovered")
            ] += amount
        lines.append(Line(at, kind, amount, balance, detail))
    return Statement(advance_id, currency, tuple(lines), totals)
