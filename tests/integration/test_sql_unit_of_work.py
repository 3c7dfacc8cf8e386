"""The shared SQL unit of work: one transaction, committed only when asked; a joined one
leaves the transaction to its owner."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import timers
from shared.unit_of_work import SqlUnitOfWork
from tests.support.events import widget_event

AT = datetime(2030, 1, 1, tzinfo=UTC)


async def pending(engine: AsyncEngine, key: str) -> int:
    async with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(timers).where(timers.c.key == key)
        return int((await conn.execute(query)).scalar_one())


async def test_what_a_committed_unit_wrote_is_there(backbone_engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(backbone_engine, "t") as uow:
        await uow.timers.schedule("uow-test", "committed", AT)
        await uow.commit()
    assert await pending(backbone_engine, "committed") == 1


async def test_an_uncommitted_unit_leaves_nothing(backbone_engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(backbone_engine, "t") as uow:
        await uow.timers.schedule("uow-test", "forgotten", AT)
    assert await pending(backbone_engine, "forgotten") == 0


async def test_a_joined_unit_commits_with_its_owner_only(backbone_engine: AsyncEngine) -> None:
    async with backbone_engine.connect() as conn:
        await conn.begin()
        async with SqlUnitOfWork.joining(conn, "t") as uow:
            await uow.timers.schedule("uow-test", "joined", AT)
            await uow.commit()
        assert conn.in_transaction()  # the unit did not commit the owner's transaction
        await conn.rollback()
    assert await pending(backbone_engine, "joined") == 0


async def test_a_unit_without_a_topic_refuses_events(backbone_engine: AsyncEngine) -> None:
    """The ledger's consumer batch and CLI open their unit of work with no topic: an event
    added there is refused, never written to an outbox row no relay would send."""
    async with SqlUnitOfWork(backbone_engine, "") as uow:
        with pytest.raises(RuntimeError, match="without a topic"):
            await uow.outbox.add(widget_event("w-no-topic", 1))


async def test_a_joined_unit_left_without_commit_is_refused(backbone_engine: AsyncEngine) -> None:
    """Leaving a unit without commit() undoes its writes: the fake restores its snapshot, a
    unit of its own rolls back. A joined unit cannot undo its part of the owner's
    transaction, so leaving it without commit() and without an error (the owner would then
    commit what it staged) is refused loudly instead of committed silently."""
    async with backbone_engine.connect() as conn:
        await conn.begin()
        with pytest.raises(RuntimeError, match="without commit"):
            async with SqlUnitOfWork.joining(conn, "t") as uow:
                await uow.timers.schedule("uow-test", "joined-forgotten", AT)
        await conn.rollback()
    assert await pending(backbone_engine, "joined-forgotten") == 0
