"""A tenant's financing policy: how much may be advanced, at what price, within which limits.

Rates are never floats: the advance rate and the concentration cap are integer basis points,
the daily fee rate a ``Decimal`` fraction (0.0005 = 0.05 % a day). Limits are integer minor
units of the policy's currency; ``None`` means "no limit".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from services.financing.domain.fx import MAX_HAIRCUT_BPS
from shared.money import EXPONENTS

DEFAULT_ADVANCE_RATE_BPS = 8_000  # 80 %
DEFAULT_DAILY_FEE_RATE = Decimal("0.0005")  # 0.05 % a day, 18.25 % a year nominal
DEFAULT_OFFER_TTL = timedelta(hours=24)
# Bounds the service can store and date with (numeric(12, 8), integer seconds, datetimes).
RATE_PLACES = 8
MAX_DAYS = 3_650
MAX_OFFER_TTL = timedelta(days=365)

# Escrow's schedule names what a milestone is paid on, not when. The expected release of a
# milestone is the order's creation time plus these typical days for its kind, plus the
# milestone's inspection window. Tenants may override them.
DEFAULT_DAYS_BY_KIND: dict[str, int] = {
    "contract": 0,
    "shipment": 30,
    "customs_clearance": 45,
    "delivery": 60,
    "inspection": 65,
    "buyer_acceptance": 70,
}


def days_by_kind_with(overrides: dict[str, int] | None) -> dict[str, int]:
    """The typical days by kind, with the tenant's ``overrides``: an override names the kinds
    it changes, the others keep their typical days (a kind missing from the map would
    otherwise date its release at the latest day given)."""
    return {**DEFAULT_DAYS_BY_KIND, **(overrides or {})}


class PolicyError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    currency: str
    advance_rate_bps: int = DEFAULT_ADVANCE_RATE_BPS
    daily_fee_rate: Decimal = DEFAULT_DAILY_FEE_RATE
    supplier_limit: int | None = None
    buyer_limit: int | None = None
    pair_limit: int | None = None
    # One buyer's share of the tenant's outstanding book (after the new advance) may not
    # exceed this cap once the book is larger than ``concentration_min_book``.
    concentration_cap_bps: int | None = None
    concentration_min_book: int = 0
    min_advance: int = 1
    offer_ttl: timedelta = DEFAULT_OFFER_TTL
    days_by_kind: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DAYS_BY_KIND))
    # An advance paid out in another currency than the order's is converted at the locked
    # payout rate less this haircut, for the rate risk until the releases repay it.
    fx_haircut_bps: int = 0

    def __post_init__(self) -> None:
        if self.currency not in EXPONENTS:
            raise PolicyError(f"unknown currency {self.currency!r}: an ISO 4217 code, upper case")
        if type(self.advance_rate_bps) is not int or not 0 < self.advance_rate_bps <= 10_000:
            raise PolicyError("advance_rate_bps must be an integer in 1..10000")
        if not isinstance(self.daily_fee_rate, Decimal) or not (
            Decimal(0) <= self.daily_fee_rate < Decimal("0.01")
        ):
            raise PolicyError("daily_fee_rate must be a Decimal in [0, 0.01)")
        exponent = self.daily_fee_rate.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -RATE_PLACES:
            raise PolicyError(f"daily_fee_rate has at most {RATE_PLACES} decimal places")
        for name in ("supplier_limit", "buyer_limit", "pair_limit"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise PolicyError(f"{name} must be a non-negative integer of minor units")
        cap = self.concentration_cap_bps
        if cap is not None and (type(cap) is not int or not 0 < cap <= 10_000):
            raise PolicyError("concentration_cap_bps must be an integer in 1..10000")
        if type(self.min_advance) is not int or self.min_advance < 1:
            raise PolicyError("min_advance must be a positive integer of minor units")
        if any(type(d) is not int or not 0 <= d <= MAX_DAYS for d in self.days_by_kind.values()):
            raise PolicyError(f"days_by_kind must map kinds to integers in 0..{MAX_DAYS}")
        if type(self.fx_haircut_bps) is not int or not (
            0 <= self.fx_haircut_bps <= MAX_HAIRCUT_BPS
        ):
            raise PolicyError(f"fx_haircut_bps must be an integer in 0..{MAX_HAIRCUT_BPS}")
        if not timedelta(0) < self.offer_ttl <= MAX_OFFER_TTL:
            raise PolicyError(
                f"offer_ttl_seconds must be in 1..{int(MAX_OFFER_TTL.total_seconds())}"
            )
