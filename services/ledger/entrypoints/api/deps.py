"""Dependencies every ledger route shares: the finance-scoped principal and a connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import Clock
from shared.http.auth import Principal, requires

Finance = Annotated[Principal, Depends(requires("finance"))]
# A bigint row id from the path: out of range is a 422, not a driver error.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def _read(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


async def _write(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.begin() as conn:
        yield conn


ReadConn = Annotated[AsyncConnection, Depends(_read)]
# Function scope: the transaction commits when the endpoint returns, BEFORE the answer is
# sent. A request-scoped dependency would commit after the response went out, so a COMMIT
# that fails (the deferred balance check, a database gone away) would follow a 201.
WriteConn = Annotated[AsyncConnection, Depends(_write, scope="function")]


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.container.runtime.clock
    return clock


ClockDep = Annotated[Clock, Depends(_clock)]


def at_or_now(value: datetime | None, clock: Clock) -> datetime:
    if value is None:
        return clock.now()
    return value if value.tzinfo else value.replace(tzinfo=UTC)
