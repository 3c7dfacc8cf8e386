"""FX use cases (docs/fx.md): rates finance imports, quotes, the tenant's FX settings, and
the conversions funding and releases use. Nothing here knows HTTP.

Rates come through a ``RateProvider`` (``domain/fx.py``); the default is
``ImportedRates``: the rates the tenant's finance staff imported (API or CSV). A quote is
marked used in a unit of work of its own before the money moves, under a ``used_by`` that a
retry of the same funding or release repeats (so a retry is not a reuse).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.escrow.domain import fx as domain
from services.escrow.domain.errors import (
    FxQuoteMismatch,
    FxQuoteNotFound,
    FxQuoteUsed,
    InvalidFx,
)
from services.escrow.domain.fx import FxRate, FxSettings, Quote, QuoteSide
from services.escrow.domain.model import Escrow
from services.escrow.domain.rules import new_id
from services.escrow.service_layer.unit_of_work import (
    AbstractEscrowUnitOfWork,
    UnitOfWorkFactory,
)
from shared.clock import Clock
from shared.fx import FxConversion


class ImportedRates:
    """The default ``RateProvider``: the latest imported rate of the pair in force."""

    def __init__(self, uows: UnitOfWorkFactory) -> None:
        self._uows = uows

    async def mid_rate(
        self, tenant_id: str, from_currency: str, to_currency: str, at: datetime
    ) -> FxRate:
        async with self._uows() as uow:
            return await uow.fx.rate_in_force(tenant_id, from_currency, to_currency, at)


@dataclass(frozen=True)
class RateInput:
    from_currency: str
    to_currency: str
    mid_rate: str
    effective_at: datetime
    source: str


async def import_rates(
    uow: AbstractEscrowUnitOfWork,
    tenant_id: str,
    actor: str,
    rows: Sequence[RateInput],
    before_commit: Callable[[list[FxRate]], object] | None = None,
) -> list[FxRate]:
    """Store the rates (all or nothing: one bad rate refuses them all)."""
    if not rows:
        raise InvalidFx("no rates given")
    rates = [
        domain.new_rate(r.from_currency, r.to_currency, r.mid_rate, r.effective_at, r.source)
        for r in rows
    ]
    return await import_parsed(uow, tenant_id, actor, rates, before_commit)


async def import_parsed(
    uow: AbstractEscrowUnitOfWork,
    tenant_id: str,
    actor: str,
    rates: Sequence[FxRate],
    before_commit: Callable[[list[FxRate]], object] | None = None,
) -> list[FxRate]:
    """``before_commit`` sees what is about to commit (the HTTP answer registers there)."""
    async with uow:
        await uow.fx.import_rates(tenant_id, rates, actor)
        if before_commit is not None:
            before_commit(list(rates))
        await uow.commit()
    return list(rates)


async def list_rates(uow: AbstractEscrowUnitOfWork, tenant_id: str) -> list[FxRate]:
    async with uow:
        return await uow.fx.rates(tenant_id)


async def get_settings(uow: AbstractEscrowUnitOfWork, tenant_id: str) -> FxSettings:
    async with uow:
        return await uow.fx.settings(tenant_id)


async def set_settings(
    uow: AbstractEscrowUnitOfWork, tenant_id: str, settings: FxSettings, actor: str
) -> FxSettings:
    domain.check_markup_setting(settings)
    async with uow:
        await uow.fx.set_settings(tenant_id, settings, actor)
        await uow.commit()
    return settings


async def create_quote(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    tenant_id: str,
    from_currency: str,
    to_currency: str,
    amount: int,
    side: QuoteSide,
    before_commit: Callable[[Quote], object] | None = None,
) -> Quote:
    """A quote at the rate in force now with the tenant's markup, stored for its one use."""
    domain.check_pair(from_currency, to_currency)
    now = clock.now()
    async with uow:
        settings = await uow.fx.settings(tenant_id)
        rate = await uow.fx.rate_in_force(tenant_id, from_currency, to_currency, now)
        q = domain.quote(new_id(), tenant_id, side, amount, rate, settings, now)
        await uow.fx.add_quote(q)
        if before_commit is not None:
            before_commit(q)
        await uow.commit()
    return q


async def get_quote(uow: AbstractEscrowUnitOfWork, tenant_id: str, quote_id: str) -> Quote:
    async with uow:
        q = await uow.fx.get_quote(tenant_id, quote_id)
    if q is None:
        raise FxQuoteNotFound(f"quote {quote_id} not found")
    return q


async def use_quote(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    quote_id: str,
    *,
    side: QuoteSide,
    from_currency: str,
    to_currency: str,
    amount: int,
    used_by: str,
) -> FxConversion:
    """Mark the quote used by ``used_by`` (its own unit of work) and give its conversion;
    ``fx_quote_used``/``fx_quote_expired``/``fx_quote_mismatch`` leave it as it was.

    ``used_by`` names one attempt (a payment or payout being made), never a purpose shared
    by several attempts: only that very attempt may use the quote again."""
    async with uows() as uow:
        used = await _checked_use(
            uow, clock, tenant_id, quote_id, side=side, from_currency=from_currency,
            to_currency=to_currency, amount=amount, used_by=used_by, lock=True,
        )  # fmt: skip
        if not await uow.fx.mark_used(used):
            raise FxQuoteUsed(f"quote {quote_id} was used already")
        await uow.commit()
    return used.conversion


async def check_quote(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    quote_id: str,
    *,
    side: QuoteSide,
    from_currency: str,
    to_currency: str,
    amount: int,
    used_by: str,
) -> FxConversion:
    """What ``use_quote`` would refuse, refused now, without marking the quote used (so
    that the other checks of a funding can be made before its quote is burnt)."""
    async with uows() as uow:
        used = await _checked_use(
            uow, clock, tenant_id, quote_id, side=side, from_currency=from_currency,
            to_currency=to_currency, amount=amount, used_by=used_by, lock=False,
        )  # fmt: skip
    return used.conversion


async def _checked_use(
    uow: AbstractEscrowUnitOfWork,
    clock: Clock,
    tenant_id: str,
    quote_id: str,
    *,
    side: QuoteSide,
    from_currency: str,
    to_currency: str,
    amount: int,
    used_by: str,
    lock: bool,
) -> domain.Quote:
    q = await uow.fx.get_quote(tenant_id, quote_id, lock=lock)
    if q is None:
        raise FxQuoteNotFound(f"quote {quote_id} not found")
    return domain.use_quote(
        q,
        side=side,
        from_currency=from_currency,
        to_currency=to_currency,
        amount=amount,
        used_by=used_by,
        now=clock.now(),
    )


async def current_conversion(
    uows: UnitOfWorkFactory,
    clock: Clock,
    tenant_id: str,
    side: QuoteSide,
    from_currency: str,
    to_currency: str,
    amount: int,
) -> FxConversion:
    """A conversion at the rate in force now with the tenant's markup (no quote)."""
    async with uows() as uow:
        settings = await uow.fx.settings(tenant_id)
        rate = await uow.fx.rate_in_force(tenant_id, from_currency, to_currency, clock.now())
    return domain.current_conversion(side, amount, rate, settings)


async def payout_lock_for(
    uows: UnitOfWorkFactory,
    clock: Clock,
    escrow: Escrow,
    quote_id: str | None,
    attempt: str | None = None,
) -> FxConversion | None:
    """The "order" policy's payout conversion of the total, locked at the first funding:
    from ``quote_id`` (a payout quote for the total) if given, else at the rate in force
    with the tenant's markup. None when there is nothing to lock. ``attempt`` names the
    funding attempt (its payment id) that uses the quote."""
    if escrow.fx_policy != "order" or not escrow.converts_payouts or escrow.payout_lock:
        if quote_id is not None:
            raise FxQuoteMismatch("this order locks no payout conversion at funding")
        return None
    if quote_id is not None:
        return await use_quote(
            uows, clock, escrow.tenant_id, quote_id,
            side="payout", from_currency=escrow.currency, to_currency=escrow.payout_ccy,
            amount=escrow.total,
            used_by=f"order:{escrow.order_id}:payout_lock:{attempt or new_id()}",
        )  # fmt: skip
    return await current_conversion(
        uows, clock, escrow.tenant_id, "payout", escrow.currency, escrow.payout_ccy, escrow.total
    )
