"""FX use cases of finance (docs/fx.md): closing rates, the reporting currency, the
period-end revaluation of open escrow balances (and its reversal), and the trial balance
in the reporting currency."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.ledger.domain import fx
from services.ledger.domain.fx import ClosingRate, TranslatedLine
from services.ledger.domain.journal import Posted
from services.ledger.service_layer.commands import Caller
from services.ledger.service_layer.posting import post
from services.ledger.service_layer.unit_of_work import AbstractLedgerUnitOfWork
from shared.money import check_currency


class RateExists(Exception):
    """The pair has a closing rate at that as-of already (``fx_rate_exists``): rates are
    history, never overwritten; import one at another as-of."""


async def import_rate(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    rate: ClosingRate,
    before_commit: Callable[[], object] | None = None,
) -> ClosingRate:
    async with uow:
        if not await uow.fx.add_rate(caller.tenant_id, rate, caller.actor):
            raise RateExists(f"{rate.base}/{rate.quote} has a rate as of {rate.as_of} already")
        if before_commit is not None:
            before_commit()
        await uow.commit()
    return rate


async def rates(
    uow: AbstractLedgerUnitOfWork, caller: Caller, as_of: datetime
) -> list[ClosingRate]:
    async with uow:
        return await uow.fx.rates(caller.tenant_id, as_of)


async def set_reporting_currency(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    currency: str,
    before_commit: Callable[[], object] | None = None,
) -> str:
    try:
        check_currency(currency)
    except ValueError as exc:
        raise fx.InvalidClosingRate(str(exc)) from exc
    async with uow:
        await uow.fx.set_reporting_currency(caller.tenant_id, currency, caller.actor)
        if before_commit is not None:
            before_commit()
        await uow.commit()
    return currency


async def reporting_currency(uow: AbstractLedgerUnitOfWork, caller: Caller) -> str | None:
    async with uow:
        return await uow.fx.reporting_currency(caller.tenant_id)


@dataclass(frozen=True)
class Revaluation:
    period_end: datetime
    reporting_currency: str
    rates: dict[str, Decimal]
    revaluation: Posted | None  # None: nothing open in another currency moved
    reversal: Posted | None


async def revalue(
    uow: AbstractLedgerUnitOfWork,
    caller: Caller,
    period_end: datetime,
    before_commit: Callable[[Revaluation], object] | None = None,
) -> Revaluation:
    """Revalue the escrow balances open at ``period_end`` into the reporting currency at the
    closing rates in force then (against each order's historical rate: the closing rate in
    force when it was first funded), dated inside the period, and post the reversal at
    ``period_end``, the first instant of the next period. Once per tenant and period end
    (the source event ids are derived from them): again, it answers what was posted."""
    tenant = caller.tenant_id
    async with uow:
        reporting = await uow.fx.reporting_currency(tenant)
        if reporting is None:
            raise fx.NoReportingCurrency("set the tenant's reporting currency first")
        held = await uow.fx.open_held(tenant, period_end)
        known = await uow.fx.rates(tenant, period_end)
        closing = fx.rates_into(reporting, sorted({h.currency for h in held}), known)
        historical = {}
        for h in held:
            if h.funded_at is None or h.currency == reporting:
                continue
            then = [r for r in known if r.as_of <= h.funded_at]
            with suppress(fx.FxRateMissing):  # none then: carried at the closing rate
                historical[h.order_id] = fx.rates_into(reporting, [h.currency], then)[h.currency]
        draft = fx.revaluation(tenant, reporting, period_end, held, closing, historical)
        posted: list[Posted] = []
        if draft is not None:
            posted = await post(uow, [draft, fx.revaluation_reversal(draft, period_end)])
        result = Revaluation(
            period_end, reporting, closing, posted[0] if posted else None,
            posted[1] if posted else None,
        )  # fmt: skip
        if before_commit is not None:
            before_commit(result)
        await uow.commit()
    return result


@dataclass(frozen=True)
class ReportingTrialBalance:
    as_of: datetime
    currency: str
    rates: dict[str, Decimal]
    lines: list[TranslatedLine]
    translation_difference: int


async def reporting_trial_balance(
    uow: AbstractLedgerUnitOfWork, caller: Caller, as_of: datetime
) -> ReportingTrialBalance:
    """The per-currency trial balance translated into the reporting currency at the closing
    rates in force at ``as_of``."""
    async with uow:
        reporting = await uow.fx.reporting_currency(caller.tenant_id)
        if reporting is None:
            raise fx.NoReportingCurrency("set the tenant's reporting currency first")
        trial = await uow.accounts.trial_balance(caller.tenant_id, as_of)
        known = await uow.fx.rates(caller.tenant_id, as_of)
    used = fx.rates_into(reporting, sorted({t.currency for t in trial}), known)
    lines, difference = fx.translate(
        [(t.code, t.currency, t.balance) for t in trial], reporting, used
    )
    return ReportingTrialBalance(as_of, reporting, used, lines, difference)
