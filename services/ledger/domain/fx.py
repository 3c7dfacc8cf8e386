"""FX in the books (docs/fx.md, "Postings in the ledger"): conversions, their settlement by
Stripe, and the period-end revaluation into a tenant's reporting currency. Pure.

A conversion (an escrow event's ``FxConversion``) takes ``from_amount`` of one currency and
gives ``to_amount`` of another; ``mid_amount`` is ``from_amount`` valued at the mid rate and
``markup_amount = mid_amount - to_amount`` the platform's markup (negative on a reversal).
Every currency balances on its own, so the conversion goes through the FX clearing account
of each currency:

    Dr <source>      from_ccy  from_amount        (Stripe clearing, escrow held, payable)
    Cr fx_clearing   from_ccy  from_amount
    Dr fx_clearing   to_ccy    mid_amount
    Cr <destination> to_ccy    to_amount
    Cr fx_revenue    to_ccy    markup_amount      (a debit when negative)

The FX clearing lines carry the conversion's reference (the Stripe object it moved money
by), so what a conversion left in FX clearing is known per reference until Stripe's
balance transaction of that object settles it (``settlement``): the money Stripe booked
in one currency moves to the currency Stripe settled in, and what is left in FX clearing
of that reference, per currency, is realised FX gain (a credit left) or loss (a debit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Protocol
from uuid import UUID, uuid5

from services.ledger.domain.chart import (
    ESCROW_REVALUATION,
    FX_CLEARING,
    FX_REVENUE,
    REALISED_FX_GAIN,
    REALISED_FX_LOSS,
    STRIPE_CLEARING,
    UNREALISED_FX,
)
from services.ledger.domain.journal import JournalDraft, Line
from services.ledger.domain.recon import StripeLine
from services.ledger.domain.reports import AccountSums
from shared import fx as shared_fx
from shared.money import check_currency, exponent

FX, SC = FX_CLEARING.code, STRIPE_CLEARING.code
NAMESPACE = UUID("b0d7c3c6-2f4e-4a8e-9c51-7f1e8a2d6b90")  # fixed: ids must never change
SETTLEMENT_TYPE = "fx.settlement"
REVALUATION_TYPE = "fx.revaluation"
REVERSAL_TYPE = "fx.revaluation_reversal"


class Conversion(Protocol):
    """What the ledger reads of ``shared.fx.FxConversion``."""

    @property
    def from_currency(self) -> str: ...
    @property
    def from_amount(self) -> int: ...
    @property
    def to_currency(self) -> str: ...
    @property
    def to_amount(self) -> int: ...
    @property
    def mid_amount(self) -> int: ...
    @property
    def markup_amount(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Leg:
    """Where a conversion's money comes from (debited) or goes to (credited)."""

    code: str
    subledger: str = ""
    ref: str | None = None


def conversion_lines(fx: Conversion, source: Leg, destination: Leg, ref: str | None) -> list[Line]:
    """The lines of one conversion (module docstring); ``ValueError`` for a block that does
    not add up (the event is then refused whole, never half posted)."""
    a, b = fx.from_currency, fx.to_currency
    if a == b:
        raise ValueError(f"a conversion from {a} to itself")
    if fx.from_amount <= 0 or fx.to_amount < 0:
        raise ValueError(f"conversion amounts {fx.from_amount} -> {fx.to_amount}")
    if fx.mid_amount != fx.to_amount + fx.markup_amount:
        raise ValueError(
            f"mid_amount {fx.mid_amount} != to_amount {fx.to_amount} + markup {fx.markup_amount}"
        )
    lines = [
        Line(source.code, a, fx.from_amount, source.subledger, source.ref),
        Line(FX, a, -fx.from_amount, external_ref=ref),
    ]
    if fx.mid_amount:
        lines.append(Line(FX, b, fx.mid_amount, external_ref=ref))
    if fx.to_amount:
        lines.append(
            Line(destination.code, b, -fx.to_amount, destination.subledger, destination.ref)
        )
    if fx.markup_amount:
        lines.append(Line(FX_REVENUE.code, b, -fx.markup_amount))
    return lines


def source_of(balance_txn_id: str, leg: str) -> UUID:
    return uuid5(NAMESPACE, f"fx:{leg}:{balance_txn_id}")


def parse_rate(text: str) -> Decimal:
    """A positive, finite decimal string (the contract's rates, never a float)."""
    try:
        rate = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"not a decimal rate: {text!r}") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"a rate must be positive and finite: {text!r}")
    if -rate.as_tuple().exponent > 12:  # type: ignore[operator]
        raise ValueError(f"a rate has at most 12 decimal places: {text!r}")
    return rate


def settlement(
    tenant_id: str,
    line: StripeLine,
    booked: Mapping[str, int],
    open_fx: Mapping[str, int],
) -> JournalDraft | None:
    """Stripe's settlement of a converted object, and the realised FX gain or loss.

    ``line``: the object's balance transaction, in the currency Stripe settled in, with an
    ``exchange_rate``; ``booked``: what the events booked in Stripe clearing for the object
    (``line.source_id``), per currency; ``open_fx``: what FX clearing holds for it, per
    currency. None when nothing was booked in another currency (no conversion to settle)."""
    if line.exchange_rate is None:
        return None
    s, ref = line.currency, line.source_id
    others = {c: v for c, v in sorted(booked.items()) if c != s and v}
    if not others or not line.amount:
        return None
    lines: list[Line] = []
    residue = {c: v for c, v in open_fx.items() if v}
    for c, v in others.items():  # what Stripe converted: out of clearing in c, through FX
        lines += [Line(SC, c, -v, external_ref=ref), Line(FX, c, v, external_ref=ref)]
        residue[c] = residue.get(c, 0) + v
    lines += [
        Line(SC, s, line.amount, external_ref=ref),
        Line(FX, s, -line.amount, external_ref=ref),
    ]
    residue[s] = residue.get(s, 0) - line.amount
    for c, left in sorted(residue.items()):
        if left > 0:  # FX clearing gave more than Stripe's conversion brought: a loss
            lines += [Line(FX, c, -left, external_ref=ref), Line(REALISED_FX_LOSS.code, c, left)]
        elif left < 0:
            lines += [Line(FX, c, -left, external_ref=ref), Line(REALISED_FX_GAIN.code, c, left)]
    source = source_of(line.balance_txn_id, "settlement")
    return JournalDraft(
        id=source, tenant_id=tenant_id, posted_at=line.created, source_event_id=source,
        source_type=SETTLEMENT_TYPE,
        memo=f"Stripe settled {ref} in {s} at {line.exchange_rate} (balance transaction "
        f"{line.balance_txn_id})",
        lines=tuple(lines),
    )  # fmt: skip


def value_in(amount: int, currency: str, target: str, rate: Decimal) -> int:
    """``amount`` minor units of ``currency`` in ``target`` at ``rate`` (target per one
    currency, major units), half-even to the target's minor unit."""
    check_currency(currency)
    check_currency(target)
    major = Decimal(amount).scaleb(-exponent(currency)) * rate
    return int(major.scaleb(exponent(target)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class OpenHeld:
    """An order's escrow held balance (natural, minor units) at period end, and when the
    order's escrow was first funded (its historical rate is the closing rate then)."""

    order_id: str
    currency: str
    held: int
    funded_at: datetime | None = None


def revaluation(
    tenant_id: str,
    reporting: str,
    period_end: datetime,
    held: Sequence[OpenHeld],
    closing: Mapping[str, Decimal],
    historical: Mapping[str, Decimal],
) -> JournalDraft | None:
    """The unrealised revaluation of open escrow balances at ``period_end`` (dated one
    microsecond before it, inside the period), in the reporting currency: per order held in
    another currency, its value at the closing rate (``closing``, by currency) less its
    value at its historical rate (``historical``, by order: the closing rate in force when
    it was funded; an order without one is carried at the closing rate, so not revalued).
    Dr unrealised_fx / Cr escrow_revaluation[order] when the liability grew (a loss), the
    other way round when it shrank. ``KeyError`` for a currency without a closing rate."""
    lines: list[Line] = []
    for h in sorted(held, key=lambda h: (h.currency, h.order_id)):
        if h.currency == reporting or not h.held:
            continue
        now_rate = closing[h.currency]
        delta = value_in(h.held, h.currency, reporting, now_rate) - value_in(
            h.held, h.currency, reporting, historical.get(h.order_id, now_rate)
        )
        if delta:
            lines += [
                Line(UNREALISED_FX.code, reporting, delta),
                Line(ESCROW_REVALUATION.code, reporting, -delta, h.order_id),
            ]
    if not lines:
        return None
    source = uuid5(NAMESPACE, f"fx:revaluation:{tenant_id}:{period_end.isoformat()}")
    return JournalDraft(
        id=source, tenant_id=tenant_id, posted_at=period_end - timedelta(microseconds=1),
        source_event_id=source, source_type=REVALUATION_TYPE,
        memo=f"unrealised FX revaluation of escrow held into {reporting} at {period_end}",
        lines=tuple(lines),
    )  # fmt: skip


def revaluation_reversal(draft: JournalDraft, next_period_start: datetime) -> JournalDraft:
    """The revaluation's mirror image on the first instant of the next period (the period
    end itself: periods are ``[from, to)``)."""
    source = uuid5(NAMESPACE, f"fx:revaluation-reversal:{draft.source_event_id}")
    return JournalDraft(
        id=source, tenant_id=draft.tenant_id, posted_at=next_period_start,
        source_event_id=source, source_type=REVERSAL_TYPE,
        memo=f"reversal of the {draft.memo}",
        lines=tuple(Line(x.code, x.currency, -x.amount, x.subledger) for x in draft.lines),
    )  # fmt: skip


# --- closing rates, the reporting currency ----------------------------------------------


class FxRateMissing(LookupError):
    """No closing rate for a currency into the reporting currency (``fx_rate_missing``)."""

    def __init__(self, currencies: Sequence[str], reporting: str) -> None:
        super().__init__(
            f"no closing rate into {reporting} for {', '.join(sorted(currencies))}: import one"
        )
        self.currencies = sorted(currencies)


class NoReportingCurrency(LookupError):
    """The tenant has set no reporting currency (``reporting_currency_unset``)."""


class InvalidClosingRate(ValueError):
    """A closing rate that cannot be imported (``invalid_rate``)."""


@dataclass(frozen=True, slots=True)
class ClosingRate:
    """``rate`` units of ``quote`` per one ``base`` (major units), in force from ``as_of``."""

    base: str
    quote: str
    rate: str
    as_of: datetime
    source: str


def closing_rate(base: str, quote: str, rate: str, as_of: datetime, source: str) -> ClosingRate:
    """A closing rate as finance imports it, checked: two different ISO 4217 currencies, a
    decimal string rate (never a float), an aware as-of, a named source."""
    try:
        check_currency(base)
        check_currency(quote)
        parsed = shared_fx.parse_rate(rate)  # plain digits, 1e-9..1e9 (docs/fx.md)
    except ValueError as exc:  # InvalidRate is a ValueError
        raise InvalidClosingRate(str(exc)) from exc
    if base == quote:
        raise InvalidClosingRate(f"a rate from {base} to itself")
    if as_of.tzinfo is None:
        raise InvalidClosingRate("as_of must carry a time zone")
    if not source.strip():
        raise InvalidClosingRate("a closing rate names its source")
    return ClosingRate(base, quote, format(parsed, "f"), as_of, source.strip())


def rates_into(
    reporting: str, currencies: Sequence[str], rates: Sequence[ClosingRate]
) -> dict[str, Decimal]:
    """Per currency, its rate into ``reporting`` from the latest of ``rates`` (the caller
    gives those in force at the date): a direct pair, else the inverse of the reverse pair.
    ``FxRateMissing`` names the currencies without one."""
    latest: dict[tuple[str, str], ClosingRate] = {}
    for r in rates:
        key = (r.base, r.quote)
        if key not in latest or r.as_of > latest[key].as_of:
            latest[key] = r
    out: dict[str, Decimal] = {reporting: Decimal(1)}
    missing = []
    for c in currencies:
        if c == reporting:
            continue
        if (direct := latest.get((c, reporting))) is not None:
            out[c] = Decimal(direct.rate)
        elif (inverse := latest.get((reporting, c))) is not None:
            out[c] = Decimal(1) / Decimal(inverse.rate)
        else:
            missing.append(c)
    if missing:
        raise FxRateMissing(missing, reporting)
    return out


@dataclass(frozen=True, slots=True)
class TranslatedLine:
    code: str
    balance: int  # raw (debit positive), in the reporting currency
    by_currency: dict[str, int]  # the raw balances translated, per original currency


def translate(
    balances: Sequence[tuple[str, str, int]], reporting: str, rates: Mapping[str, Decimal]
) -> tuple[list[TranslatedLine], int]:
    """The trial balance in ``reporting``: each (code, currency, raw balance) at its
    currency's closing rate, half-even per code and currency. Returns the lines by code and
    the translation difference (the sum of the translated lines: the rounding of the
    translation, since each currency's own lines sum to zero)."""
    by_code: dict[str, dict[str, int]] = {}
    for code, currency, raw in balances:
        if raw:
            by_code.setdefault(code, {})[currency] = value_in(
                raw, currency, reporting, rates[currency]
            )
    lines = [TranslatedLine(code, sum(v.values()), v) for code, v in sorted(by_code.items())]
    return lines, sum(x.balance for x in lines)


class NotReportingCurrency(ValueError):
    """A translated report asked in a currency other than the tenant's reporting currency
    (``not_reporting_currency``)."""


def translate_sums(
    by_currency: Mapping[str, Sequence[AccountSums]], reporting: str, rates: Mapping[str, Decimal]
) -> list[AccountSums]:
    """Period sums of every currency translated into ``reporting`` at one closing rate per
    currency (half-even per code, currency and part of the period), summed per code: the
    period reports in the reporting currency. The rounding shows as the balance sheet's
    difference (at most a minor unit per translated figure)."""
    out: dict[str, list[int]] = {}
    for currency, sums in sorted(by_currency.items()):
        rate = rates[currency]
        for s in sums:
            acc = out.setdefault(s.code, [0, 0, 0])
            for i, v in enumerate((s.before, s.previous, s.current)):
                acc[i] += value_in(v, currency, reporting, rate) if v else 0
    return [AccountSums(code, *v) for code, v in sorted(out.items())]
