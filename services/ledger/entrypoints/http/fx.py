"""FX in the books for finance (docs/fx.md): closing rates, the reporting currency, the
period-end revaluation and the trial balance in the reporting currency."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from services.ledger.domain import fx as fx_rules
from services.ledger.domain.chart import account
from services.ledger.entrypoints.http.deps import Container, Finance, at_or_now, caller, in_utc
from services.ledger.entrypoints.http.errors import answered
from services.ledger.entrypoints.http.schemas import IsoDateTime
from services.ledger.service_layer import fx
from shared.events.types import CurrencyCode
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/ledger/fx", tags=["ledger"])
Rate = Annotated[
    str, Field(min_length=1, max_length=40, description="decimal string, never a float")
]


class ClosingRateCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"base": "USD", "quote": "EUR", "rate": "0.9300",
                                         "as_of": "2026-06-30T23:59:59Z", "source": "ECB"}]},
    )  # fmt: skip

    base: CurrencyCode
    quote: CurrencyCode
    rate: Rate = Field(description="units of quote per one base, major units")
    as_of: datetime
    source: Annotated[str, Field(min_length=1, max_length=200)]


class ClosingRatePublic(BaseModel):
    base: str
    quote: str
    rate: str
    as_of: IsoDateTime
    source: str

    @classmethod
    def of(cls, r: fx_rules.ClosingRate) -> ClosingRatePublic:
        return cls(base=r.base, quote=r.quote, rate=r.rate, as_of=r.as_of, source=r.source)


class ReportingCurrencySet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"currency": "EUR"}]})

    currency: CurrencyCode


class ReportingCurrency(BaseModel):
    currency: str | None = Field(description="null until finance sets one")


class RevaluationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"period_end": "2026-07-01T00:00:00Z"}]}
    )

    period_end: datetime = Field(description="the period's end (excluded): revaluation dated "
                                             "just before it, its reversal at it")  # fmt: skip


class RevaluationPublic(BaseModel):
    period_end: IsoDateTime
    reporting_currency: str
    rates: dict[str, str]
    revaluation_transaction_id: str | None
    reversal_transaction_id: str | None


class TranslatedLinePublic(BaseModel):
    account: str
    number: str
    name: str
    debit: int
    credit: int
    by_currency: dict[str, int] = Field(description="raw (debit - credit) per original currency, "
                                                    "translated")  # fmt: skip


class ReportingTrialBalancePublic(BaseModel):
    as_of: IsoDateTime
    currency: str
    rates: dict[str, str]
    lines: list[TranslatedLinePublic]
    total_debit: int
    total_credit: int
    translation_difference: int = Field(
        description="total debit - total credit: the rounding of the translation (each "
        "currency's own trial balance is zero)"
    )


@router.post("/rates", status_code=status.HTTP_201_CREATED)
async def import_rate(body: ClosingRateCreate, who: Finance, c: Container) -> ClosingRatePublic:
    """Import a closing rate (history: one per pair and as-of, never overwritten)."""
    with answered():
        rate = fx_rules.closing_rate(body.base, body.quote, body.rate, in_utc(body.as_of),
                                     body.source)  # fmt: skip
        public = ClosingRatePublic.of(rate)
        await fx.import_rate(c.unit_of_work(), caller(who), rate, lambda: answer(public))
    return public


@router.get("/rates")
async def rates(
    who: Finance, c: Container, as_of: datetime | None = None
) -> list[ClosingRatePublic]:
    """The tenant's closing rates in force at or before ``as_of`` (default now)."""
    when = at_or_now(as_of, c.clock)
    return [ClosingRatePublic.of(r) for r in await fx.rates(c.unit_of_work(), caller(who), when)]


@router.get("/reporting-currency")
async def get_reporting_currency(who: Finance, c: Container) -> ReportingCurrency:
    return ReportingCurrency(currency=await fx.reporting_currency(c.unit_of_work(), caller(who)))


@router.put("/reporting-currency")
async def set_reporting_currency(
    body: ReportingCurrencySet, who: Finance, c: Container
) -> ReportingCurrency:
    """Set the tenant's reporting currency (revaluation, reporting trial balance)."""
    public = ReportingCurrency(currency=body.currency)
    with answered():
        await fx.set_reporting_currency(
            c.unit_of_work(), caller(who), body.currency, lambda: answer(public)
        )
    return public


@router.post("/revaluations", status_code=status.HTTP_201_CREATED)
async def revalue(body: RevaluationCreate, who: Finance, c: Container) -> RevaluationPublic:
    """Revalue the open escrow balances into the reporting currency at the period end, and
    reverse it at the first instant of the next period."""

    def public(r: fx.Revaluation) -> RevaluationPublic:
        return RevaluationPublic(
            period_end=r.period_end, reporting_currency=r.reporting_currency,
            rates={k: str(v) for k, v in r.rates.items()},
            revaluation_transaction_id=str(r.revaluation.id) if r.revaluation else None,
            reversal_transaction_id=str(r.reversal.id) if r.reversal else None,
        )  # fmt: skip

    with answered():
        done = await fx.revalue(
            c.unit_of_work(), caller(who), in_utc(body.period_end), lambda r: answer(public(r))
        )
    return public(done)


@router.get("/trial-balance")
async def reporting_trial_balance(
    who: Finance, c: Container, as_of: datetime | None = None
) -> ReportingTrialBalancePublic:
    """The trial balance in the reporting currency, beside the per-currency one
    (``GET /v1/ledger/trial-balance``), at the closing rates in force at ``as_of``."""
    when = at_or_now(as_of, c.clock)
    with answered():
        tb = await fx.reporting_trial_balance(c.unit_of_work(), caller(who), when)
    lines = []
    for x in tb.lines:
        spec = account(x.code)
        lines.append(
            TranslatedLinePublic(account=x.code, number=spec.number, name=spec.name,
                                 debit=max(x.balance, 0), credit=max(-x.balance, 0),
                                 by_currency=x.by_currency)
        )  # fmt: skip
    debit, credit = sum(x.debit for x in lines), sum(x.credit for x in lines)
    return ReportingTrialBalancePublic(
        as_of=when, currency=tb.currency, rates={k: str(v) for k, v in tb.rates.items()},
        lines=lines, total_debit=debit, total_credit=credit,
        translation_difference=debit - credit,
    )  # fmt: skip
