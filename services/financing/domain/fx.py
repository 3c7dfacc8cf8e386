"""An advance paid in the supplier's payout currency against an order in another currency.

The lien, the principal, the fee and every repayment stay in the order's contract currency.
Only the cash the supplier receives (the net) is converted, at the rate escrow locked for the
order's payouts (``escrow.funded``'s ``payout_lock``) less the policy's haircut for rate risk
(``fx_haircut_bps``)::

    advance rate  = locked rate x (10000 - fx_haircut_bps) / 10000, rounded down to 12 places
    payout net    = floor(net x advance rate), in payout minor units

with both currencies' exponents accounted for (JPY 0, USD 2, KWD 3). Rounding down: the
supplier never gets a fraction of a minor unit the lien does not cover. Without a locked
payout rate (the order locks one per milestone at release) there is no rate to size a
cross-currency advance at: ``fx_rate_not_locked``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.fx import FxConversion, convert, customer_rate, format_rate, payout_conversion

BPS = 10_000
MAX_HAIRCUT_BPS = 5_000  # a haircut of half the rate or more is no advance any more


@dataclass(frozen=True)
class PayoutLock:
    """The rate escrow locked for the order's payouts (from contract to payout currency)."""

    to_currency: str
    rate: Decimal  # customer rate applied: payout units per ONE contract unit (major units)
    mid_rate: Decimal
    quote_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "to_currency": self.to_currency,
            "rate": str(self.rate),
            "mid_rate": str(self.mid_rate),
            "quote_id": self.quote_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PayoutLock:
        return cls(
            to_currency=data["to_currency"],
            rate=Decimal(data["rate"]),
            mid_rate=Decimal(data["mid_rate"]),
            quote_id=data.get("quote_id"),
        )

    @classmethod
    def of_conversion(cls, conversion: FxConversion) -> PayoutLock:
        """From escrow's ``FxConversion`` (rates are decimal strings there)."""
        return cls(
            to_currency=conversion.to_currency,
            rate=Decimal(conversion.rate),
            mid_rate=Decimal(conversion.mid_rate),
            quote_id=conversion.quote_id,
        )


@dataclass(frozen=True)
class PayoutTerms:
    """What an offer pays out in the payout currency, and at which rate."""

    currency: str
    net: int  # payout minor units
    locked_rate: Decimal
    rate: Decimal  # the advance rate: locked rate less the haircut
    fx_haircut_bps: int


def convert_down(amount: int, from_ccy: str, to_ccy: str, rate: Decimal) -> int:
    """``amount`` minor units of ``from_ccy`` in minor units of ``to_ccy``, rounded down
    (``shared/fx.py``'s exact conversion, the payout rule)."""
    return convert(amount, from_ccy, to_ccy, rate, "down")


def advance_rate(locked_rate: Decimal, haircut_bps: int) -> Decimal:
    """The locked rate less the haircut, rounded down to ``shared.fx.RATE_PLACES`` places
    (as every customer rate is: ``shared.fx.customer_rate``), without trailing zeros."""
    return plain(customer_rate(locked_rate, haircut_bps))


def plain(rate: Decimal) -> Decimal:
    """``rate`` without trailing zeros and never in exponent notation ("70", not "7E+1")."""
    return Decimal(format_rate(rate))


def payout_conversion_of(
    net: int, contract_ccy: str, payout_ccy: str, locked_rate: Decimal, haircut_bps: int
) -> FxConversion:
    """The advance's payout as a conversion (``shared.fx.FxConversion``, as escrow's payouts
    carry theirs): ``net`` of the contract currency at the locked payout rate as the
    reference (``mid_rate``), less the haircut as the markup; ``to_amount`` the payout net,
    ``markup_amount`` what the haircut (and the rounding down) keeps back."""
    return payout_conversion(
        net,
        from_currency=contract_ccy,
        to_currency=payout_ccy,
        mid_rate=locked_rate,
        markup_bps=haircut_bps,
    )


def payout_terms(net: int, contract_ccy: str, lock: PayoutLock, haircut_bps: int) -> PayoutTerms:
    conversion = payout_conversion_of(net, contract_ccy, lock.to_currency, lock.rate, haircut_bps)
    return PayoutTerms(
        currency=lock.to_currency,
        net=conversion.to_amount,
        locked_rate=plain(lock.rate),
        rate=plain(conversion.applied()),
        fx_haircut_bps=haircut_bps,
    )
