"""Field types for event models and API schemas: money never arrives as a float, and never
beyond ``MAX_AMOUNT`` (the bound on every amount and limit, see ``shared.money``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from shared.money import MAX_AMOUNT, Money, check_currency

CurrencyCode = Annotated[str, AfterValidator(check_currency)]
# Integer minor units. Strict: 10.0, "10" and true are refused, never coerced.
MinorUnits = Annotated[
    StrictInt,
    Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="amount in minor units (cents for USD)"),
]
PositiveMinorUnits = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
NonNegativeMinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
# Text a client chooses (ids, names, references, reasons). 500 characters always fit an
# index entry (PostgreSQL btree keys stop near 2,700 bytes; 500 of UTF-8 are 2,000 at most).
# Control characters are refused for every text by the request guard (shared.http.guard).
Text = Annotated[str, Field(min_length=1, max_length=500)]


class MoneyModel(BaseModel):
    """Money on the wire: ``{"amount": 12345, "currency": "USD"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: MinorUnits
    currency: CurrencyCode

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)

    @classmethod
    def of(cls, money: Money) -> MoneyModel:
        return cls(amount=money.amount, currency=money.currency)
