"""The unit of work every service's use cases run in, its in-memory fake, and the one
conflict error with its one retry policy.

A use case (``services/<svc>/service_layer/``) takes a unit of work and returns domain
results; it never sees a connection, an HTTP type or an ``ApiError``. It reads and writes
through the unit's repositories and its two backbone ports, ``outbox`` (events to publish)
and ``timers`` (durable timers), and calls ``await uow.commit()`` when its effect is whole.
Leaving the ``async with`` block without that commit rolls everything back.

Two implementations of the same shape:
- ``SqlUnitOfWork``: one PostgreSQL transaction on the service's engine. State, outbox rows,
  timers and whatever the context's commit hook adds (an Idempotency-Key's record, see
  ``shared/db.py: on_commit``) commit together or not at all. ``SqlUnitOfWork.joining(conn)``
  runs inside a transaction someone else owns (a consumer's batch, a timer's savepoint):
  ``commit()`` then only marks the use case's part as complete, and the owner commits.
- ``FakeUnitOfWork``: dictionaries and lists. Entering it snapshots every repository,
  leaving it without ``commit()`` restores the snapshot, so a unit test sees the same
  all-or-nothing behaviour as the database gives, in microseconds.

A service subclasses both, adding its repositories in ``_open`` (see
``services/escrow/service_layer/unit_of_work.py`` for the pattern).

Optimistic concurrency: a repository that finds the row it read changed meanwhile raises
``Conflict``. ``retry_on_conflict`` re-runs the whole use case (a fresh unit of work, a fresh
read) a few times, so the loser of a race gets the domain's answer for the new state; if
the conflict persists it re-raises, and the entrypoint answers 409 ``concurrent_modification``.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from shared import timers as sql_timers
from shared.events import Envelope
from shared.outbox import add_to_outbox

T = TypeVar("T")

CONFLICT_ATTEMPTS = 5


class Conflict(Exception):
    """What was read changed before it was written: re-run the use case on fresh state."""


async def retry_on_conflict(
    run: Callable[[], Awaitable[T]], attempts: int = CONFLICT_ATTEMPTS
) -> T:
    """``run()`` (a whole use case, its own unit of work inside), re-run on ``Conflict``; the
    last attempt's ``Conflict`` propagates. No wait between attempts: the winner has
    committed by the time the loser's write fails, so the next read sees its state."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        retry=retry_if_exception_type(Conflict),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await run()
    raise AssertionError("unreachable")  # tenacity re-raises the last error


class Outbox(Protocol):
    async def add(self, *envelopes: Envelope) -> None: ...


class Timers(Protocol):
    async def schedule(
        self, kind: str, key: str, due_at: datetime, payload: Mapping[str, Any] | None = None
    ) -> None: ...

    async def cancel(self, kind: str, key: str) -> None: ...


class AbstractUnitOfWork(Protocol):
    outbox: Outbox
    timers: Timers

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


# --- PostgreSQL ------------------------------------------------------------------------


class SqlOutbox:
    def __init__(self, conn: AsyncConnection, topic: str) -> None:
        self._conn, self._topic = conn, topic

    async def add(self, *envelopes: Envelope) -> None:
        if not self._topic:
            # A unit of work opened without a topic (a ledger consumer batch, a CLI command)
            # publishes nothing; an event added there would land on no topic at all.
            raise RuntimeError("this unit of work was opened without a topic to publish to")
        await add_to_outbox(self._conn, self._topic, *envelopes)


class SqlTimers:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def schedule(
        self, kind: str, key: str, due_at: datetime, payload: Mapping[str, Any] | None = None
    ) -> None:
        await sql_timers.schedule(self._conn, kind, key, due_at, dict(payload or {}))

    async def cancel(self, kind: str, key: str) -> None:
        await sql_timers.cancel(self._conn, kind, key)


class SqlUnitOfWork:
    """One transaction on ``engine`` (or, ``joining``, a part of the caller's transaction)."""

    outbox: Outbox
    timers: Timers

    def __init__(self, engine: AsyncEngine | None, topic: str) -> None:
        self._engine, self._topic = engine, topic
        self._conn: AsyncConnection | None = None
        self._joined: AsyncConnection | None = None
        self.committed = False

    @classmethod
    def joining(cls, conn: AsyncConnection, topic: str) -> Self:
        """A unit of work inside ``conn``'s open transaction, which its owner commits."""
        uow = cls(None, topic)
        uow._joined = conn
        return uow

    @property
    def conn(self) -> AsyncConnection:
        """For the service's repositories; use cases never touch it."""
        if self._conn is None:
            raise RuntimeError("unit of work used outside its 'async with' block")
        return self._conn

    def _open(self, conn: AsyncConnection) -> None:
        """Build the repositories on ``conn``; subclasses add their own after ``super()``."""
        self.outbox = SqlOutbox(conn, self._topic)
        self.timers = SqlTimers(conn)

    async def __aenter__(self) -> Self:
        self.committed = False
        if self._joined is not None:
            self._conn = self._joined
        else:
            assert self._engine is not None
            self._conn = await self._engine.connect()
            await self._conn.begin()
        self._open(self._conn)
        return self

    async def commit(self) -> None:
        if self._joined is None:
            await self.conn.commit()
        self.committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._joined is not None:
            # A joined transaction is its owner's to commit or roll back. An error going up
            # makes the owner roll back; a block left without commit() and without one
            # would have its writes committed by the owner, the opposite of what leaving a
            # unit without commit() means (and of what the fake does): refuse it.
            if exc_type is None and not self.committed:
                raise RuntimeError("a joined unit of work was left without commit()")
            return
        if conn is None:
            return
        try:
            if not self.committed:
                await conn.rollback()
        finally:
            await conn.close()


# --- in memory -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledTimer:
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]


class FakeOutbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def add(self, *envelopes: Envelope) -> None:
        self.envelopes.extend(envelopes)

    def types(self) -> list[str]:
        return [env.type for env in self.envelopes]


class FakeTimers:
    """Pending timers by (kind, key), as the table keeps them (scheduling again moves one)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], ScheduledTimer] = {}

    async def schedule(
        self, kind: str, key: str, due_at: datetime, payload: Mapping[str, Any] | None = None
    ) -> None:
        self.pending[(kind, key)] = ScheduledTimer(kind, key, due_at, dict(payload or {}))

    async def cancel(self, kind: str, key: str) -> None:
        self.pending.pop((kind, key), None)


class FakeUnitOfWork:
    """In-memory unit of work: what a block wrote survives only if it called ``commit()``.

    Subclasses keep their repositories as attributes; everything in ``__dict__`` except the
    bookkeeping below is snapshotted on entry and restored on a rollback."""

    _BOOKKEEPING = frozenset({"committed", "commits", "_snapshot"})

    def __init__(self) -> None:
        self.outbox: FakeOutbox = FakeOutbox()
        self.timers: FakeTimers = FakeTimers()
        self.committed = False
        self.commits = 0
        self._snapshot: dict[str, Any] | None = None

    async def __aenter__(self) -> Self:
        self.committed = False
        state = {k: v for k, v in self.__dict__.items() if k not in self._BOOKKEEPING}
        self._snapshot = copy.deepcopy(state)
        return self

    async def commit(self) -> None:
        self.committed = True
        self.commits += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        snapshot, self._snapshot = self._snapshot, None
        if not self.committed and snapshot is not None:
            self.__dict__.update(snapshot)
