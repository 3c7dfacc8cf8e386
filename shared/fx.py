"""Currency conversion, exact to the minor unit (issue 14; docs/fx.md, the written rules).

Pure: no I/O, no clock. Every computation is done on ``fractions.Fraction`` built from the
decimal rate and the integer minor units, so nothing is ever rounded except where a rule
below says so, and never through a float.

Terms (FX_CONTRACT.md):
- a rate is a ``Decimal`` carried as a decimal string, meaning units of the ``to`` currency
  per ONE unit of the ``from`` currency, both in MAJOR units; converting minor units
  accounts for both exponents (JPY 0, USD 2, KWD 3);
- the customer rate is ``mid * (1 - markup_bps / 10000)``, rounded DOWN to
  ``RATE_PLACES`` decimal places (the counterparty always gets the worse side);
- funding (the buyer pays ``from`` to credit exactly ``to_amount`` contract minor units):
  ``from_amount = ceil(to_amount / rate)``;
- payout (the supplier receives): ``to_amount = floor(from_amount * rate)``;
- every conversion records ``mid_amount = half_even(from_amount * mid_rate)`` (in the ``to``
  currency) and ``markup_amount = mid_amount - to_amount``: the platform's markup plus the
  rounding difference, so nothing is lost between the two sides;
- a later part of a locked conversion (a refund of a funding, a release under a locked
  payout) is allocated proportionally: part ``P`` of a conversion whose contract side is
  ``C`` and other side ``O`` gets ``floor(O * P / C)``, except the part that brings what is
  left of the contract side to zero, which gets exactly what is left of the other side
  (``allocate_part``). So the parts never sum to more than the whole, and a full refund
  returns exactly what was paid.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from shared.events.types import CurrencyCode, NonNegativeMinorUnits, PositiveMinorUnits
from shared.money import MAX_AMOUNT, exponent

Rounding = Literal["down", "up", "half_even"]

# Decimal places a rate may carry (an imported mid rate, a customer rate after markup).
RATE_PLACES = 12
# A rate beyond this (or below its inverse) is a typo, not a currency pair (VND/KWD is ~8e4).
MAX_RATE = Decimal(10) ** 9
MAX_MARKUP_BPS = 10_000
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


class FxError(ValueError):
    """A conversion that cannot be made; ``code`` is the machine-readable error code."""

    code = "fx_error"


class InvalidRate(FxError):
    code = "invalid_rate"


class InvalidConversion(FxError):
    code = "invalid_conversion"


def parse_rate(text: str) -> Decimal:
    """A rate from its decimal string: positive, finite, at most ``RATE_PLACES`` places."""
    if not isinstance(text, str):
        raise InvalidRate("a rate is a decimal string, never a float")
    if not _DECIMAL.fullmatch(text.strip()):
        raise InvalidRate(f"{text!r} is not a plain decimal string (digits, one point)")
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        raise InvalidRate(f"{text!r} is not a decimal rate") from None
    if not value.is_finite() or value <= 0:
        raise InvalidRate(f"{text!r} is not a positive finite rate")
    places = -value.as_tuple().exponent  # type: ignore[operator]
    if places > RATE_PLACES:
        raise InvalidRate(f"{text!r} has more than {RATE_PLACES} decimal places")
    if value > MAX_RATE or value < 1 / MAX_RATE:
        raise InvalidRate(f"{text!r} is outside the plausible range of a rate")
    return value


def format_rate(rate: Decimal) -> str:
    """The canonical decimal string of a rate (no exponent, no trailing zeros)."""
    text = f"{rate.normalize():f}"
    return text


def check_markup(markup_bps: int) -> int:
    if type(markup_bps) is not int or not 0 <= markup_bps < MAX_MARKUP_BPS:
        raise InvalidConversion(f"markup_bps must be an integer in [0, {MAX_MARKUP_BPS})")
    return markup_bps


def customer_rate(mid_rate: Decimal, markup_bps: int) -> Decimal:
    """``mid * (1 - markup_bps/10000)`` rounded down to ``RATE_PLACES`` places."""
    check_markup(markup_bps)
    exact = Fraction(mid_rate) * Fraction(MAX_MARKUP_BPS - markup_bps, MAX_MARKUP_BPS)
    floored = math.floor(exact * 10**RATE_PLACES)
    rate = Decimal(floored).scaleb(-RATE_PLACES)
    if rate <= 0:
        raise InvalidRate("the customer rate rounds to zero")
    if rate > MAX_RATE or rate < 1 / MAX_RATE:
        raise InvalidRate(f"the customer rate {format_rate(rate)} is outside the plausible range")
    return rate


def invert_rate(rate: Decimal) -> Decimal:
    """``1 / rate`` to ``RATE_PLACES`` places, half-even: informational only (a reversal's
    rates); amounts are always computed from the rate actually locked."""
    inverse = Fraction(1) / Fraction(rate)
    return Decimal(_round(inverse * 10**RATE_PLACES, "half_even")).scaleb(-RATE_PLACES)


def _round(value: Fraction, rounding: Rounding) -> int:
    if rounding == "down":
        return math.floor(value)
    if rounding == "up":
        return math.ceil(value)
    if rounding == "half_even":
        return round(value)  # Fraction.__round__ rounds half to even
    raise InvalidConversion(f"unknown rounding {rounding!r}")


def _scale(from_ccy: str, to_ccy: str) -> Fraction:
    """Minor units of ``to`` per minor unit of ``from`` at a rate of 1."""
    return Fraction(10) ** (exponent(to_ccy) - exponent(from_ccy))


def exact_value(amount_minor: int, from_ccy: str, to_ccy: str, rate: Decimal) -> Fraction:
    """``amount_minor`` of ``from`` at ``rate``, in minor units of ``to``, unrounded."""
    if type(amount_minor) is not int:
        raise InvalidConversion("amounts are integer minor units")
    return Fraction(amount_minor) * Fraction(rate) * _scale(from_ccy, to_ccy)


def convert(
    amount_minor: int, from_ccy: str, to_ccy: str, rate: Decimal, rounding: Rounding
) -> int:
    """``amount_minor`` of ``from_ccy`` in minor units of ``to_ccy`` at ``rate``, rounded."""
    if isinstance(rate, float) or not isinstance(rate, Decimal):
        raise InvalidRate("a rate is a Decimal, never a float")
    return _round(exact_value(amount_minor, from_ccy, to_ccy, rate), rounding)


def source_for(
    to_amount: int, from_ccy: str, to_ccy: str, rate: Decimal, rounding: Rounding = "up"
) -> int:
    """The ``from`` minor units that buy ``to_amount`` of ``to`` at ``rate``: ceil by default."""
    if type(to_amount) is not int:
        raise InvalidConversion("amounts are integer minor units")
    return _round(Fraction(to_amount) / (Fraction(rate) * _scale(from_ccy, to_ccy)), rounding)


class FxConversion(BaseModel):
    """One conversion as it was made: both sides, the rates and what the platform kept.

    ``markup_amount = mid_amount - to_amount`` (in ``to_currency``): the markup plus the
    rounding difference; negative on a reversal (the markup goes back)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quote_id: str | None = None
    from_currency: CurrencyCode
    from_amount: PositiveMinorUnits
    to_currency: CurrencyCode
    to_amount: NonNegativeMinorUnits
    mid_rate: str = Field(description="decimal string: units of to_currency per one from_currency")
    rate: str = Field(description="decimal string: the customer rate actually applied")
    markup_bps: int = Field(ge=0, le=MAX_MARKUP_BPS)
    mid_amount: StrictInt = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)
    markup_amount: StrictInt = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)

    @field_validator("mid_rate", "rate")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        parse_rate(value)
        return value

    def mid(self) -> Decimal:
        return parse_rate(self.mid_rate)

    def applied(self) -> Decimal:
        return parse_rate(self.rate)


def _conversion(
    *,
    quote_id: str | None,
    from_ccy: str,
    from_amount: int,
    to_ccy: str,
    to_amount: int,
    mid_rate: Decimal,
    rate: Decimal,
    markup_bps: int,
    mid_amount: int | None = None,
) -> FxConversion:
    if from_ccy == to_ccy:
        raise InvalidConversion("a conversion is between two different currencies")
    if from_amount <= 0:
        raise InvalidConversion("a conversion converts a positive amount")
    if mid_amount is None:
        mid_amount = convert(from_amount, from_ccy, to_ccy, mid_rate, "half_even")
    if max(from_amount, to_amount, abs(mid_amount)) > MAX_AMOUNT:
        raise InvalidConversion(f"the conversion is beyond the largest amount ({MAX_AMOUNT})")
    return FxConversion(
        quote_id=quote_id,
        from_currency=from_ccy,
        from_amount=from_amount,
        to_currency=to_ccy,
        to_amount=to_amount,
        mid_rate=format_rate(mid_rate),
        rate=format_rate(rate),
        markup_bps=markup_bps,
        mid_amount=mid_amount,
        markup_amount=mid_amount - to_amount,
    )


def funding_conversion(
    to_amount: int,
    *,
    from_currency: str,
    to_currency: str,
    mid_rate: Decimal,
    markup_bps: int,
    quote_id: str | None = None,
) -> FxConversion:
    """The buyer pays ``from_currency`` to credit exactly ``to_amount`` contract minor units:
    ``from_amount = ceil(to_amount / rate)``."""
    if type(to_amount) is not int or to_amount <= 0:
        raise InvalidConversion("funding credits a positive amount")
    rate = customer_rate(mid_rate, markup_bps)
    from_amount = source_for(to_amount, from_currency, to_currency, rate, "up")
    return _conversion(
        quote_id=quote_id,
        from_ccy=from_currency,
        from_amount=from_amount,
        to_ccy=to_currency,
        to_amount=to_amount,
        mid_rate=mid_rate,
        rate=rate,
        markup_bps=markup_bps,
    )


def payout_conversion(
    from_amount: int,
    *,
    from_currency: str,
    to_currency: str,
    mid_rate: Decimal,
    markup_bps: int,
    quote_id: str | None = None,
) -> FxConversion:
    """The supplier receives ``to_amount = floor(from_amount * rate)`` of ``to_currency``."""
    if type(from_amount) is not int or from_amount <= 0:
        raise InvalidConversion("a payout converts a positive amount")
    rate = customer_rate(mid_rate, markup_bps)
    return _conversion(
        quote_id=quote_id,
        from_ccy=from_currency,
        from_amount=from_amount,
        to_ccy=to_currency,
        to_amount=convert(from_amount, from_currency, to_currency, rate, "down"),
        mid_rate=mid_rate,
        rate=rate,
        markup_bps=markup_bps,
    )


def allocate_part(
    part: int, *, contract_total: int, other_total: int, contract_done: int, other_done: int
) -> int:
    """The other side's share of ``part`` contract minor units of a locked conversion.

    ``contract_total`` / ``other_total``: the locked conversion's two sides;
    ``contract_done`` / ``other_done``: what earlier parts took of each. ``floor(O * P / C)``,
    except the part that brings the contract side to exactly zero takes what is left."""
    for name, value in (
        ("part", part),
        ("contract_total", contract_total),
        ("other_total", other_total),
        ("contract_done", contract_done),
        ("other_done", other_done),
    ):
        if type(value) is not int or value < 0:
            raise InvalidConversion(f"{name} must be a non-negative integer")
    if part == 0 or contract_total == 0:
        raise InvalidConversion("nothing to allocate")
    if contract_done + part > contract_total or other_done > other_total:
        raise InvalidConversion("the parts exceed the locked conversion")
    if contract_done + part == contract_total:
        return other_total - other_done
    share = other_total * part // contract_total
    return min(share, other_total - other_done)


def reversal_conversion(
    funding: FxConversion, refund: int, *, refunded_before: int, returned_before: int
) -> FxConversion:
    """``refund`` contract minor units back into the funding currency at ``funding``'s locked
    conversion (``allocate_part`` over its two sides). ``refunded_before`` /
    ``returned_before``: what earlier refunds of the same funding took, in contract and in
    funding currency. The rates recorded are the inverses (informational); ``mid_amount`` is
    ``refund`` valued at the funding's exact mid rate, half-even, in the funding currency, so
    ``markup_amount`` is the (negative) markup given back."""
    back = allocate_part(
        refund,
        contract_total=funding.to_amount,
        other_total=funding.from_amount,
        contract_done=refunded_before,
        other_done=returned_before,
    )
    mid = funding.mid()
    mid_amount = _round(
        Fraction(refund) / (Fraction(mid) * _scale(funding.from_currency, funding.to_currency)),
        "half_even",
    )
    return _conversion(
        quote_id=funding.quote_id,
        from_ccy=funding.to_currency,
        from_amount=refund,
        to_ccy=funding.from_currency,
        to_amount=back,
        mid_rate=invert_rate(mid),
        rate=invert_rate(funding.applied()),
        markup_bps=funding.markup_bps,
        mid_amount=mid_amount,
    )


def funding_share(
    funding: FxConversion, part: int, *, refunded_before: int, returned_before: int
) -> FxConversion:
    """``part`` minor units of ``funding``'s funding currency that Stripe gave back without
    Tradeflow asking (a refund made in Stripe's dashboard, a chargeback), as a conversion in
    ``funding``'s direction: from that part to the contract minor units it stands for, at
    ``funding``'s rates. ``refunded_before`` / ``returned_before``: what earlier refunds of
    the same funding took, in contract and in funding currency.

    The part that takes the last of the funding side takes what is left of the contract
    side; any other takes ``half_even(C * part / O)``, at least one minor unit and at most
    what is left. So the funding-currency side is exactly what Stripe moved, and the
    reversal of the share (``reversal_conversion`` of it, whole) gives it back exactly."""
    for name, value in (
        ("part", part),
        ("refunded_before", refunded_before),
        ("returned_before", returned_before),
    ):
        if type(value) is not int or value < 0:
            raise InvalidConversion(f"{name} must be a non-negative integer")
    contract_left = funding.to_amount - refunded_before
    if part == 0 or returned_before + part > funding.from_amount or contract_left <= 0:
        raise InvalidConversion("the part exceeds what is left of the locked conversion")
    if returned_before + part == funding.from_amount:
        contract = contract_left
    else:
        share = _round(Fraction(funding.to_amount * part, funding.from_amount), "half_even")
        contract = min(max(share, 1), contract_left)
    return _conversion(
        quote_id=funding.quote_id,
        from_ccy=funding.from_currency,
        from_amount=part,
        to_ccy=funding.to_currency,
        to_amount=contract,
        mid_rate=funding.mid(),
        rate=funding.applied(),
        markup_bps=funding.markup_bps,
    )


def allocated_payout(
    lock: FxConversion, part: int, *, converted_before: int, paid_before: int
) -> FxConversion:
    """``part`` contract minor units of a locked payout conversion (``lock``: from contract,
    to payout currency), allocated by ``allocate_part``: the release that converts the last
    of the lock's contract side takes what is left of its payout side."""
    paid = allocate_part(
        part,
        contract_total=lock.from_amount,
        other_total=lock.to_amount,
        contract_done=converted_before,
        other_done=paid_before,
    )
    return _conversion(
        quote_id=lock.quote_id,
        from_ccy=lock.from_currency,
        from_amount=part,
        to_ccy=lock.to_currency,
        to_amount=paid,
        mid_rate=lock.mid(),
        rate=lock.applied(),
        markup_bps=lock.markup_bps,
    )
