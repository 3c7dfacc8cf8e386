"""A tenant's dispute deadlines: how long each party has at each step of a dispute, a
rejection and a partial refund proposal.

The tenant sets them (``PUT /v1/tenant-settings/dispute-deadlines``); an order copies the
ones in force when it is created (``Escrow.dispute_terms``), like the fee policy, so a later
change never moves the deadlines of an existing contract. The defaults are the constants
escrow used before they were per tenant. Each is whole seconds, at least an hour (a person
must be able to act) and at most 90 days (money is frozen meanwhile).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

HOUR, DAY = 3_600, 86_400


class DisputeTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    negotiation_seconds: int = Field(7 * DAY, ge=HOUR, le=90 * DAY)
    supplier_answer_seconds: int = Field(5 * DAY, ge=HOUR, le=90 * DAY)
    return_shipping_seconds: int = Field(14 * DAY, ge=HOUR, le=90 * DAY)
    return_receipt_seconds: int = Field(14 * DAY, ge=HOUR, le=90 * DAY)
    reinspection_seconds: int = Field(10 * DAY, ge=HOUR, le=90 * DAY)
    replacement_seconds: int = Field(30 * DAY, ge=HOUR, le=90 * DAY)
    refund_proposal_seconds: int = Field(7 * DAY, ge=HOUR, le=90 * DAY)

    @property
    def negotiation(self) -> timedelta:
        return timedelta(seconds=self.negotiation_seconds)

    @property
    def supplier_answer(self) -> timedelta:
        return timedelta(seconds=self.supplier_answer_seconds)

    @property
    def return_shipping(self) -> timedelta:
        return timedelta(seconds=self.return_shipping_seconds)

    @property
    def return_receipt(self) -> timedelta:
        return timedelta(seconds=self.return_receipt_seconds)

    @property
    def reinspection(self) -> timedelta:
        return timedelta(seconds=self.reinspection_seconds)

    @property
    def replacement(self) -> timedelta:
        return timedelta(seconds=self.replacement_seconds)

    @property
    def refund_proposal(self) -> timedelta:
        return timedelta(seconds=self.refund_proposal_seconds)


DEFAULT_DISPUTE_TERMS = DisputeTerms()
