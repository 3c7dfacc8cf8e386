"""FX in escrow (docs/fx.md): rates finance imports (JSON or CSV), the tenant's FX settings,
quotes a platform asks before funding an order (or releasing a milestone) in another currency.

Rates and converted amounts are decimal strings and integer minor units; never floats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.escrow.domain import fx as domain
from services.escrow.domain.errors import InvalidFx
from services.escrow.domain.fx import FxRate, FxSettings, Quote
from services.escrow.entrypoints.http.deps import Container, Finance, PlatformOrFinance
from services.escrow.entrypoints.http.errors import answered
from services.escrow.entrypoints.http.schemas import In
from services.escrow.service_layer import fx as cases
from shared.events.types import CurrencyCode, PositiveMinorUnits, Text
from shared.fx import FxConversion
from shared.http.idempotency import answer

router = APIRouter(prefix="/v1/fx", tags=["fx"])

RATE_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,12})?$"
RateString = Annotated[
    str,
    Field(pattern=RATE_PATTERN, description="decimal string: units of `to` per one `from`"),
]


class RateIn(In):
    from_currency: CurrencyCode
    to_currency: CurrencyCode
    mid_rate: RateString
    effective_at: datetime
    source: Text


class RateImport(In):
    rates: Annotated[list[RateIn], Field(min_length=1, max_length=10_000)]

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "rates": [
                        {
                            "from_currency": "EUR",
                            "to_currency": "USD",
                            "mid_rate": "1.0842",
                            "effective_at": "2026-12-03T09:00:00Z",
                            "source": "ECB reference",
                        },
                        {
                            "from_currency": "USD",
                            "to_currency": "CNY",
                            "mid_rate": "7.1185",
                            "effective_at": "2026-12-03T09:00:00Z",
                            "source": "ECB reference",
                        },
                    ]
                }
            ]
        },
    )


class RatePublic(BaseModel):
    from_currency: str
    to_currency: str
    mid_rate: str
    effective_at: datetime
    source: str

    @classmethod
    def of(cls, r: FxRate) -> RatePublic:
        return cls(
            from_currency=r.from_currency,
            to_currency=r.to_currency,
            mid_rate=f"{r.mid_rate:f}",
            effective_at=r.effective_at,
            source=r.source,
        )


class RateList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RatePublic]


class FxSettingsBody(In):
    markup_bps: Annotated[int, Field(ge=0, le=9_999, description="platform markup on the mid")]
    policy: Literal["order", "milestone"] = Field(
        "order", description="lock the payout rate once per order at funding, or per release"
    )
    quote_ttl_seconds: Annotated[int, Field(ge=1, le=86_400)] = 900

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"markup_bps": 50, "policy": "order", "quote_ttl_seconds": 900}]
        },
    )


class QuoteRequest(In):
    from_currency: CurrencyCode
    to_currency: CurrencyCode
    amount: PositiveMinorUnits = Field(
        description="funding: contract minor units (`to`) to credit; payout: contract minor "
        "units (`from`) to convert out"
    )
    side: Literal["funding", "payout"]

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "from_currency": "EUR",
                    "to_currency": "USD",
                    "amount": 1_000_000,
                    "side": "funding",
                }
            ]
        },
    )


class QuotePublic(BaseModel):
    object: Literal["fx_quote"] = "fx_quote"
    id: str
    side: str
    from_currency: str
    to_currency: str
    amount: int = Field(description="the amount quoted for, in contract minor units")
    mid_rate: str
    markup_bps: int
    rate: str = Field(description="the customer rate: mid * (1 - markup_bps/10000), rounded down")
    from_amount: int = Field(description="minor units of from_currency")
    to_amount: int = Field(description="minor units of to_currency")
    converted_amount: int = Field(
        description="funding: from_amount (what the buyer pays); payout: to_amount"
    )
    source: str
    created_at: datetime
    expires_at: datetime
    used: bool
    conversion: FxConversion

    @classmethod
    def of(cls, q: Quote) -> QuotePublic:
        c = q.conversion
        return cls(
            id=q.quote_id,
            side=q.side,
            from_currency=c.from_currency,
            to_currency=c.to_currency,
            amount=q.amount,
            mid_rate=c.mid_rate,
            markup_bps=c.markup_bps,
            rate=c.rate,
            from_amount=c.from_amount,
            to_amount=c.to_amount,
            converted_amount=c.from_amount if q.side == "funding" else c.to_amount,
            source=q.source,
            created_at=q.created_at,
            expires_at=q.expires_at,
            used=q.used_by is not None,
            conversion=c,
        )


class RatesImported(BaseModel):
    imported: int
    data: list[RatePublic]


def imported(rates: list[FxRate]) -> RatesImported:
    return RatesImported(imported=len(rates), data=[RatePublic.of(r) for r in rates])


CSV_EXAMPLE = (
    "from_currency,to_currency,mid_rate,effective_at,source\n"
    "EUR,USD,1.0842,2026-12-03T09:00:00+00:00,ECB reference\n"
    "USD,CNY,7.1185,2026-12-03T09:00:00+00:00,ECB reference\n"
)


@router.post("/rates", status_code=201)
async def import_rates(body: RateImport, who: Finance, c: Container) -> RatesImported:
    """Finance imports mid rates (all or nothing); the same pair, time and source again
    replaces the earlier import."""
    rows = [
        cases.RateInput(r.from_currency, r.to_currency, r.mid_rate, r.effective_at, r.source)
        for r in body.rates
    ]
    with answered():
        rates = await cases.import_rates(
            c.unit_of_work(), who.tenant_id, who.actor, rows, lambda r: answer(imported(r))
        )
    return imported(rates)


@router.post(
    "/rates/csv",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": CSV_EXAMPLE,
                }
            },
        }
    },
)
async def import_rates_csv(request: Request, who: Finance, c: Container) -> RatesImported:
    """A CSV of rates: header ``from_currency,to_currency,mid_rate,effective_at,source``
    (all or nothing; a bad line is named in the 422)."""
    raw = await request.body()
    with answered():
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidFx("the CSV is not UTF-8") from exc
        parsed = domain.parse_rates_csv(text)
        rates = await cases.import_parsed(
            c.unit_of_work(), who.tenant_id, who.actor, parsed, lambda r: answer(imported(r))
        )
    return imported(rates)


@router.get("/rates")
async def list_rates(who: PlatformOrFinance, c: Container) -> RateList:
    """The tenant's latest imported rates (200 at most, newest first)."""
    rates = await cases.list_rates(c.unit_of_work(), who.tenant_id)
    return RateList(data=[RatePublic.of(r) for r in rates])


@router.get("/settings")
async def get_settings(who: PlatformOrFinance, c: Container) -> FxSettingsBody:
    s = await cases.get_settings(c.unit_of_work(), who.tenant_id)
    return FxSettingsBody(
        markup_bps=s.markup_bps, policy=s.policy, quote_ttl_seconds=s.quote_ttl_seconds
    )


@router.put("/settings")
async def set_settings(body: FxSettingsBody, who: Finance, c: Container) -> FxSettingsBody:
    """The tenant's markup and policy; an order copies the policy when it is created."""
    answer(body)
    with answered():
        await cases.set_settings(
            c.unit_of_work(),
            who.tenant_id,
            FxSettings(body.markup_bps, body.policy, body.quote_ttl_seconds),
            who.actor,
        )
    return body


@router.post("/quotes", status_code=201)
async def create_quote(body: QuoteRequest, who: PlatformOrFinance, c: Container) -> QuotePublic:
    """A quote at the rate in force with the tenant's markup, used once before it expires
    to fund an order (side ``funding``) or release a milestone (``payout``)."""
    with answered():
        q = await cases.create_quote(
            c.unit_of_work(), c.clock, who.tenant_id,
            body.from_currency, body.to_currency, body.amount, body.side,
            lambda made: answer(QuotePublic.of(made)),
        )  # fmt: skip
    return QuotePublic.of(q)


@router.get("/quotes/{quote_id}")
async def get_quote(quote_id: str, who: PlatformOrFinance, c: Container) -> QuotePublic:
    with answered():
        q = await cases.get_quote(c.unit_of_work(), who.tenant_id, quote_id)
    return QuotePublic.of(q)
