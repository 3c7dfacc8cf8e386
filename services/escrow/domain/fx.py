"""FX in escrow: imported rates, the rate provider port, quotes and their use (docs/fx.md).

Pure. The arithmetic is ``shared/fx.py``'s (exact, never a float); this module adds what a
tenant's rates and quotes are, and the rules of a quote's single use:
- a quote converts a fixed amount for a pair on a side: ``funding`` (the amount is what the
  contract currency must be credited; the buyer pays ``from_amount = ceil(amount / rate)``
  of ``from``) or ``payout`` (the amount is contract minor units converted out;
  ``to_amount = floor(amount * rate)``);
- it is used once (``used_by`` names what used it), before ``expires_at``, for exactly its
  pair, side and amount; otherwise ``fx_quote_used``/``fx_quote_expired``/``fx_quote_mismatch``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from services.escrow.domain.errors import (
    FxQuoteExpired,
    FxQuoteMismatch,
    FxQuoteUsed,
    FxRateUnavailable,
    InvalidFx,
)
from shared.fx import (
    FxConversion,
    FxError,
    check_markup,
    funding_conversion,
    parse_rate,
    payout_conversion,
)
from shared.money import MAX_AMOUNT, MoneyError, check_currency

QuoteSide = Literal["funding", "payout"]
FxPolicy = Literal["order", "milestone"]
DEFAULT_MARKUP_BPS = 0
DEFAULT_QUOTE_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class FxSettings:
    """A tenant's FX terms: the platform's markup on the mid rate and the lock policy."""

    markup_bps: int = DEFAULT_MARKUP_BPS
    policy: FxPolicy = "order"
    quote_ttl_seconds: int = int(DEFAULT_QUOTE_TTL.total_seconds())


@dataclass(frozen=True)
class FxRate:
    """A mid rate finance staff imported: ``to`` per one ``from``, in force from ``effective_at``."""

    from_currency: str
    to_currency: str
    mid_rate: Decimal
    effective_at: datetime
    source: str


class RateProvider(Protocol):
    """Where mid rates come from. Default: the rates the tenant's finance staff imported
    (``adapters``' imported-rates provider). A Stripe FX quote adapter would implement this
    too; stripe-mock has no FX quotes endpoint, so none is built (docs/fx.md)."""

    async def mid_rate(
        self, tenant_id: str, from_currency: str, to_currency: str, at: datetime
    ) -> FxRate: ...


def check_pair(from_currency: str, to_currency: str) -> None:
    try:
        check_currency(from_currency)
        check_currency(to_currency)
    except MoneyError as exc:
        raise InvalidFx(str(exc)) from exc
    if from_currency == to_currency:
        raise InvalidFx("a pair is two different currencies")


def new_rate(
    from_currency: str, to_currency: str, mid_rate: str, effective_at: datetime, source: str
) -> FxRate:
    check_pair(from_currency, to_currency)
    try:
        rate = parse_rate(mid_rate)
    except FxError as exc:
        raise InvalidFx(f"{exc} ({exc.code})") from exc
    if effective_at.tzinfo is None:
        raise InvalidFx("effective_at needs a time zone")
    if not source.strip():
        raise InvalidFx("a rate names its source")
    return FxRate(from_currency, to_currency, rate, effective_at, source.strip())


def rate_in_force(
    rates: Sequence[FxRate], from_currency: str, to_currency: str, at: datetime
) -> FxRate:
    """The latest rate of the pair effective at ``at``; else ``FxRateUnavailable``."""
    candidates = [
        r
        for r in rates
        if (r.from_currency, r.to_currency) == (from_currency, to_currency) and r.effective_at <= at
    ]
    if not candidates:
        raise FxRateUnavailable(
            f"no {from_currency}/{to_currency} rate in force at {at.isoformat()}"
        )
    return max(candidates, key=lambda r: r.effective_at)


@dataclass(frozen=True)
class Quote:
    quote_id: str
    tenant_id: str
    side: QuoteSide
    amount: int  # contract minor units (credited on funding, converted out on payout)
    conversion: FxConversion
    source: str
    created_at: datetime
    expires_at: datetime
    used_by: str | None = None  # "payment:<id>" / "payout:<order>:<milestone>"
    used_at: datetime | None = None

    @property
    def from_currency(self) -> str:
        return self.conversion.from_currency

    @property
    def to_currency(self) -> str:
        return self.conversion.to_currency


def quote(
    quote_id: str,
    tenant_id: str,
    side: QuoteSide,
    amount: int,
    rate: FxRate,
    settings: FxSettings,
    now: datetime,
) -> Quote:
    """A quote for ``amount`` on ``side`` at ``rate`` with the tenant's markup."""
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise InvalidFx(f"amount must be an integer of minor units in 1..{MAX_AMOUNT}")
    check_markup(settings.markup_bps)
    build = funding_conversion if side == "funding" else payout_conversion
    try:
        conversion = build(
            amount,
            from_currency=rate.from_currency,
            to_currency=rate.to_currency,
            mid_rate=rate.mid_rate,
            markup_bps=settings.markup_bps,
            quote_id=quote_id,
        )
    except FxError as exc:
        raise InvalidFx(str(exc)) from exc
    return Quote(
        quote_id=quote_id,
        tenant_id=tenant_id,
        side=side,
        amount=amount,
        conversion=conversion,
        source=rate.source,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.quote_ttl_seconds),
    )


def use_quote(
    q: Quote,
    *,
    side: QuoteSide,
    from_currency: str,
    to_currency: str,
    amount: int,
    used_by: str,
    now: datetime,
) -> Quote:
    """The quote, used by ``used_by``; refused if used, expired or for something else.

    Using it again for the very same purpose (``used_by``) is a retry, not a reuse."""
    if q.used_by is not None:
        if q.used_by == used_by:
            return q
        raise FxQuoteUsed(f"quote {q.quote_id} was used already")
    if now >= q.expires_at:
        raise FxQuoteExpired(f"quote {q.quote_id} expired at {q.expires_at.isoformat()}")
    wanted = (side, from_currency, to_currency, amount)
    have = (q.side, q.from_currency, q.to_currency, q.amount)
    if wanted != have:
        raise FxQuoteMismatch(
            f"quote {q.quote_id} is for {q.side} {q.amount} {q.from_currency}->{q.to_currency}, "
            f"not {side} {amount} {from_currency}->{to_currency}"
        )
    return replace(q, used_by=used_by, used_at=now)


def current_conversion(
    side: QuoteSide, amount: int, rate: FxRate, settings: FxSettings
) -> FxConversion:
    """A conversion at the rate in force with the tenant's markup, without a quote (the
    payout lock of the "order" policy)."""
    build = funding_conversion if side == "funding" else payout_conversion
    try:
        return build(
            amount,
            from_currency=rate.from_currency,
            to_currency=rate.to_currency,
            mid_rate=rate.mid_rate,
            markup_bps=settings.markup_bps,
        )
    except FxError as exc:
        raise InvalidFx(str(exc)) from exc


CSV_COLUMNS = ("from_currency", "to_currency", "mid_rate", "effective_at", "source")


def parse_rates_csv(text: str, default_source: str | None = None) -> list[FxRate]:
    """Rates from a CSV with a header naming ``CSV_COLUMNS`` (``source`` may be left out when
    ``default_source`` is given). All or nothing: the first bad row refuses the whole file,
    naming its line; a file the csv module cannot read (a field beyond its limit) is
    ``InvalidFx`` too."""

    try:
        return _parse_rates_csv(csv.DictReader(io.StringIO(text)), default_source)
    except csv.Error as exc:
        raise InvalidFx(f"not a readable CSV: {exc}") from exc


def _parse_rates_csv(reader: csv.DictReader[str], default_source: str | None) -> list[FxRate]:
    header = set(reader.fieldnames or [])
    needed = set(CSV_COLUMNS) - ({"source"} if default_source else set())
    if not needed <= header:
        raise InvalidFx(f"the CSV header must name {', '.join(CSV_COLUMNS)}")
    rates: list[FxRate] = []
    for line, row in enumerate(reader, start=2):
        try:
            at = datetime.fromisoformat((row.get("effective_at") or "").strip())
            rates.append(
                new_rate(
                    (row.get("from_currency") or "").strip().upper(),
                    (row.get("to_currency") or "").strip().upper(),
                    (row.get("mid_rate") or "").strip(),
                    at,
                    (row.get("source") or default_source or "").strip(),
                )
            )
        except (InvalidFx, ValueError) as exc:
            raise InvalidFx(f"line {line}: {exc}") from exc
        if len(rates) > 10_000:
            raise InvalidFx("at most 10000 rates per file")
    if not rates:
        raise InvalidFx("the CSV has no rates")
    return rates


def check_markup_setting(settings: FxSettings) -> None:
    if type(settings.markup_bps) is not int or not 0 <= settings.markup_bps < 10_000:
        raise InvalidFx("markup_bps must be an integer in 0..9999")
    if settings.policy not in ("order", "milestone"):
        raise InvalidFx('policy is "order" or "milestone"')
    if type(settings.quote_ttl_seconds) is not int or not 0 < settings.quote_ttl_seconds <= 86_400:
        raise InvalidFx("quote_ttl_seconds must be in 1..86400")
