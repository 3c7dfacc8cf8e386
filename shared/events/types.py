"""Field types for event models and API schemas: money never arrives as a float."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from shared.money import Money, check_currency

CurrencyCode = Annotated[str, AfterValidator(check_currency)]
# Integer minor units. Strict: 10.0, "10" and true are refused, never coerced.
MinorUnits = Annotated[StrictInt, Field(description="amount in minor units (cents for USD)")]
PositiveMinorUnits = Annotated[StrictInt, Field(gt=0)]
NonNegativeMinorUnits = Annotated[StrictInt, Field(ge=0)]


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
