"""The break queue's age filter as typed (the ledger applies every filter), the count
of breaks by age, and what a break's forms carry: an adjusting transaction typed as one
debit and one credit of an amount, and the breaks ticked for a bulk resolution. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.console.domain.formatting import parse_amount
from shared.money import exponent

# Age buckets, in whole days since the break was first seen: (label, lowest, highest).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("today", 0, 0),
    ("1 to 7 days", 1, 7),
    ("8 to 30 days", 8, 30),
    ("over 30 days", 31, None),
)


@dataclass(frozen=True)
class AgeCount:
    label: str
    count: int
    total: int


MAX_AGE_DAYS = 36_500  # what the ledger's list takes
AGE_DAYS = re.compile(
    r"[0-9]{1,5}"
)  # ASCII digits: str.isdigit() also takes superscripts and fullwidth digits


def age_of(typed: str | None) -> int | None:
    """A number of days typed in an age field, or None (empty, not a whole number, or more
    than the ledger takes): the filter is then left off, never guessed."""
    text = (typed or "").strip()
    if not AGE_DAYS.fullmatch(text) or int(text) > MAX_AGE_DAYS:
        return None
    return int(text)


def by_age(breaks: Sequence[dict[str, Any]]) -> list[AgeCount]:
    total = len(breaks)
    counts = []
    for label, low, high in AGE_BUCKETS:
        n = sum(
            1
            for b in breaks
            if int(b["age_days"]) >= low and (high is None or int(b["age_days"]) <= high)
        )
        counts.append(AgeCount(label, n, total))
    return counts


def owners(breaks: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({str(b["owner"]) for b in breaks if b.get("owner")})


class AdjustmentInvalid(ValueError):
    """The adjustment fields of a resolution form do not make a transaction."""


def adjustment_of(form: dict[str, str], currency: str) -> dict[str, Any] | None:
    """The adjusting transaction a resolution form asks for, in the shape of the ledger's
    ``adjustment`` (``{memo, lines}``), or None when its fields are all left empty.

    The form takes the common case, one debit and one credit of the same amount in the
    break's currency: the ledger checks accounts and balance again, and refuses (422)
    what it does not take."""
    debit, credit = form.get("debit_account", "").strip(), form.get("credit_account", "").strip()
    typed = form.get("amount", "").strip()
    if not (debit or credit or typed):
        return None
    if not (debit and credit and typed):
        raise AdjustmentInvalid(
            "An adjustment needs a debit account, a credit account and an amount."
        )
    if debit == credit:
        raise AdjustmentInvalid("The debit and the credit account must differ.")
    try:
        minor = parse_amount(typed, currency)
    except (ValueError, KeyError):
        raise AdjustmentInvalid(
            f"The amount is a positive figure in {currency} with at most "
            f"{exponent(currency)} decimals."
        ) from None
    if minor <= 0:
        raise AdjustmentInvalid("The amount must be more than zero.")
    ref = form.get("external_ref", "").strip() or None
    return {
        "memo": form.get("memo", "").strip(),
        "lines": [
            {"account": debit, "currency": currency, "debit": minor, "external_ref": ref},
            {"account": credit, "currency": currency, "credit": minor, "external_ref": ref},
        ],
    }


def ticked(form: dict[str, str]) -> list[int]:
    """The breaks ticked in the queue's bulk form (checkboxes named ``break_<id>``), in
    the queue's order."""
    found = []
    for name in form:
        number = name.removeprefix("break_")
        if name.startswith("break_") and number.isdigit():
            found.append(int(number))
    return found


def refusals(details: Any) -> list[dict[str, Any]]:
    """The per-break reasons of a refused bulk resolution (``[{break_id, code, message}]``),
    whatever else the API's ``details`` held."""
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and "break_id" in d]
