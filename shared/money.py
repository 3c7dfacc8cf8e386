"""Money as an integer count of minor units plus an ISO 4217 currency code.

Rules (docs/escrow.md, "Money"; docs/ledger.md, "Amounts and signs"), written down once here:
- amounts are ``int`` minor units; floats, Decimals and bools are refused at construction;
- currencies come from the exponent table below; an unknown code is an error;
- arithmetic and comparison across currencies raise ``CurrencyMismatch``;
- splitting uses largest-remainder allocation so the parts always sum to the whole;
  ties in the remainder go to the earliest part, so the result is deterministic;
- rates are basis points (int) or ``Decimal``; ``apply_rate`` rounds half-up on the
  minor unit (the usual commercial rounding for fees);
- every amount or limit that comes in from outside (API bodies and parameters, event
  fields, report CSVs) is at most ``MAX_AMOUNT`` = 10**15 minor units in magnitude (ten
  trillion dollars, far above any payment). Every JSON client holds it exactly (it is below
  2**53, where IEEE-754 doubles, JavaScript's Number, start skipping integers), and
  PostgreSQL's bigint (2**63 - 1) holds more than 9,000 of them added up, so nothing the
  services compute from bounded inputs overflows a column: an order's milestones (at most
  50) sum to its bounded total, a fee (capped at its gross) plus what is left of a release
  are parts of it, and the ledger's balances are sums PostgreSQL takes as ``numeric``.
  Sums themselves (``Money`` arithmetic, balances) are not capped, only inputs are; the
  ledger refuses a posting beyond the bound too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# ISO 4217 minor-unit exponents. Currencies missing here are rejected, not guessed.
EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "AED",
            "ARS",
            "AUD",
            "BDT",
            "BGN",
            "BRL",
            "CAD",
            "CHF",
            "CNY",
            "COP",
            "CZK",
            "DKK",
            "EGP",
            "EUR",
            "GBP",
            "GHS",
            "HKD",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "KES",
            "LKR",
            "MAD",
            "MXN",
            "MYR",
            "NGN",
            "NOK",
            "NZD",
            "PEN",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "SAR",
            "SEK",
            "SGD",
            "THB",
            "TRY",
            "TWD",
            "UAH",
            "USD",
            "ZAR",
        ],
        2,
    ),
    **dict.fromkeys(["CLP", "ISK", "JPY", "KRW", "PYG", "UGX", "VND", "XAF", "XOF"], 0),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


# The largest amount (or limit) in minor units that any input may carry; see the rules above.
MAX_AMOUNT = 10**15
# Decimal exponents Money.parse looks at before scaling (larger ones cannot be amounts).
MAX_DIGITS = 18


class MoneyError(ValueError):
    """Base class for invalid money operations."""


class UnknownCurrency(MoneyError):
    pass


class CurrencyMismatch(MoneyError):
    pass


def check_currency(code: str) -> str:
    if not isinstance(code, str) or code not in EXPONENTS:
        raise UnknownCurrency(f"unknown or unsupported ISO 4217 currency: {code!r}")
    return code


def exponent(currency: str) -> int:
    return EXPONENTS[check_currency(currency)]


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True dollars is never meant.
        if type(self.amount) is not int:
            raise MoneyError(
                f"amount must be an integer count of minor units, got {type(self.amount).__name__}"
            )
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, major: str, currency: str) -> Money:
        """Parse a decimal string in major units ("1234.50") exactly; refuse extra precision."""
        if not isinstance(major, str):
            raise MoneyError("parse takes a decimal string, never a float")
        try:
            value = Decimal(major.strip())
        except ArithmeticError:
            raise MoneyError(f"{major!r} is not a decimal amount") from None
        if not value.is_finite() or abs(value.adjusted()) > MAX_DIGITS:
            raise MoneyError(f"{major!r} is not a usable amount")
        scaled = value.scaleb(exponent(currency))
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{major} has more precision than {currency} allows")
        if abs(scaled) > MAX_AMOUNT:
            raise MoneyError(f"{major} {currency} is beyond the largest amount ({MAX_AMOUNT})")
        return cls(int(scaled), currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_positive(self) -> bool:
        return self.amount > 0

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        return [Money(a, self.currency) for a in allocate(self.amount, weights)]

    def apply_rate(self, rate: Decimal | int, *, bps: bool = False) -> Money:
        """This amount times a rate (a Decimal fraction, or integer basis points), half-up."""
        return Money(apply_rate(self.amount, rate, bps=bps), self.currency)

    def format(self) -> str:
        exp = exponent(self.currency)
        return f"{Decimal(self.amount).scaleb(-exp):.{exp}f} {self.currency}"

    def __str__(self) -> str:
        return self.format()

    def to_json(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to integer ``weights`` by largest remainder.

    The parts sum exactly to ``total``. Each part is floor(total*w/W) and the units left
    over go one each to the parts with the largest remainders; equal remainders favour the
    earlier part. Negative totals are split as the mirror of the positive split.
    """
    if type(total) is not int:
        raise MoneyError("allocate takes an integer total")
    if not weights or any(type(w) is not int or w < 0 for w in weights):
        raise MoneyError("weights must be a non-empty list of non-negative integers")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise MoneyError("weights must not all be zero")
    if total < 0:
        return [-p for p in allocate(-total, weights)]
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    leftover = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        parts[i] += 1
    return parts


def apply_rate(amount: int, rate: Decimal | int, *, bps: bool = False) -> int:
    if isinstance(rate, (float, bool)):
        raise MoneyError("rates are Decimal or integer basis points, never float")
    factor = Decimal(rate) / Decimal(10_000) if bps else Decimal(rate)
    return int((Decimal(amount) * factor).to_integral_value(rounding=ROUND_HALF_UP))
