"""The matching rules form as typed (amounts in major units, parsed exactly), and the dry
run's period of days. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.console.domain.formatting import parse_amount
from shared.money import EXPONENTS


class RulesInvalid(ValueError):
    """What is wrong with the form (shown beside it; nothing is sent)."""


def rules_of(form: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """``(currency, body)`` of ``PUT .../rules/{currency}``: the tolerance and threshold
    typed in the currency's major units (no more decimals than it has), the date window in
    whole days, or empty for "any dates"."""
    currency = form.get("currency", "").strip().upper()
    if currency not in EXPONENTS:
        raise RulesInvalid(f"{currency or 'That'} is not an ISO 4217 currency the platform knows.")
    body: dict[str, Any] = {}
    for name, label in (("amount_tolerance", "The amount tolerance"),
                        ("approval_threshold", "The approval threshold")):  # fmt: skip
        typed = form.get(name, "").strip() or "0"
        try:
            body[name] = parse_amount(typed, currency)
        except ValueError as exc:
            raise RulesInvalid(f"{label}: {exc}") from None
    window = form.get("date_window_days", "").strip()
    if window and not (window.isascii() and window.isdigit() and int(window) <= 3_650):
        raise RulesInvalid("The date window is a whole number of days, 0 to 3650, or empty.")
    body["date_window_days"] = int(window) if window else None
    return currency, body


def window_of(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """Whole days, both included, as ``[from 00:00, day after to 00:00)`` UTC; an empty
    field is no bound. A malformed date is ``RulesInvalid``."""
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise RulesInvalid("Dates are YYYY-MM-DD.") from None
    return (
        datetime.combine(first, time(0), UTC) if first else None,
        datetime.combine(last + timedelta(days=1), time(0), UTC) if last else None,
    )
