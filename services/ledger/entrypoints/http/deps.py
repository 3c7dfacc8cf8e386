"""What the ledger routers depend on: the container, the finance principal, the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path

from services.ledger.bootstrap import LedgerContainer
from services.ledger.service_layer.commands import Caller
from shared.clock import Clock
from shared.http.auth import Principal, requires
from shared.http.container import container_of
from shared.http.errors import ApiError

Container = Annotated[LedgerContainer, Depends(container_of(LedgerContainer))]

Finance = Annotated[Principal, Depends(requires("finance"))]
# A bigint row id from the path: out of range is a 422, not a driver error.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def caller(who: Principal) -> Caller:
    """The use cases' view of a principal: its tenant and the actor its postings record."""
    return Caller(tenant_id=who.tenant_id, actor=who.actor)


def in_utc(value: datetime) -> datetime:
    """A moment from the query or body (naive: UTC) in UTC. One that leaves the years 1 to
    9999 in UTC (0001-01-01T00:00+05:00) is bad input: the database cannot hold it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ApiError(
            422, "validation_error", f"{value.isoformat()} is outside the years 1 to 9999 in UTC"
        ) from None


def at_or_now(value: datetime | None, clock: Clock) -> datetime:
    """A moment from the query or body (naive: UTC), or now."""
    return clock.now() if value is None else in_utc(value)
