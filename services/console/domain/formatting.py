"""How the console writes amounts and moments: pure functions, no I/O.

Amounts are integer minor units; a currency's exponent (shared/money.py) says where the
decimal point goes, so USD 1234567 is "12,345.67", JPY 1234567 is "1,234,567" and KWD
1234567 is "1,234.567". Never a float on the way: ``Decimal.scaleb`` is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from shared.money import exponent

MINUS = "\u2212"  # a real minus sign: it lines up with the digits, and reads as one


def amount(minor: int, currency: str, *, grouping: bool = True) -> str:
    """``minor`` units of ``currency`` as a figure with its exponent's decimals.

    With ``grouping`` (for people) thousands are separated by commas and a negative figure
    takes a minus sign; without it (for a spreadsheet) the figure is a plain decimal
    number with an ASCII hyphen-minus, which every spreadsheet reads as a number."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"amounts are integer minor units, not {type(minor).__name__}")
    exp = exponent(currency)
    figure = Decimal(abs(minor)).scaleb(-exp)
    text = f"{figure:,.{exp}f}" if grouping else f"{figure:.{exp}f}"
    if minor < 0:
        return (MINUS if grouping else "-") + text
    return text


def money(minor: int, currency: str) -> str:
    """``USD 12,345.67``: the code first, as finance staff read it in a column of mixed currencies."""
    return f"{currency} {amount(minor, currency)}"


def parse_moment(value: str | datetime) -> datetime:
    """An API's ISO 8601 timestamp (``Z`` or an offset) as an aware datetime in UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a moment without a time zone: {value!r}")
    return moment.astimezone(UTC)


def utc_text(value: str | datetime) -> str:
    """``2026-12-03 13:20:21 UTC``: what the console shows on hover, and without JavaScript."""
    return f"{parse_moment(value):%Y-%m-%d %H:%M:%S} UTC"


def iso_utc(value: str | datetime) -> str:
    """The machine-readable form (``<time datetime=...>``, CSV): ISO 8601 in UTC with ``Z``."""
    return parse_moment(value).isoformat().replace("+00:00", "Z")


def percent(rate: str | Decimal, places: int = 2) -> str:
    """A rate as a fraction ("0.188144") shown as a percentage ("18.81%")."""
    return f"{Decimal(str(rate)) * 100:.{places}f}%"


def parse_amount(text: str, currency: str) -> int:
    """What a person typed (``1,234.56``) as integer minor units of ``currency``, exactly:
    more decimals than the currency has, a sign, or no figure at all is a ValueError."""
    cleaned = text.strip().replace(",", "")
    try:
        figure = Decimal(cleaned)
    except ArithmeticError:
        raise ValueError(f"not an amount: {text!r}") from None
    if not figure.is_finite() or cleaned.startswith(("-", "+")):
        raise ValueError(f"not an amount: {text!r}")
    minor = figure.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency} takes {exponent(currency)} decimals: {text!r}")
    return int(minor)
