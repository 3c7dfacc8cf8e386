"""Which events of a batch failed, found without re-running the batch event by event.

``apply_pinned`` applies a batch inside a savepoint. A handler that names the events it
could not apply (``Failures``) costs nothing more. One that raises instead gets the batch's
subjects split in halves, each half applied again in a savepoint of its own, down to the
one subject that fails, whose events are then applied one by one: a batch of n subjects
with k failing ones costs about 2·k·log2(n/k) calls instead of n. A subject's events always
stay together and in order, and what failed comes back with its subject's later events of
the batch (they must not be applied after a gap).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.events.envelope import Envelope

Item = tuple[ConsumerRecord, Envelope]
Failures = Mapping[UUID, Exception]  # events a handler could not apply, by id, with why
Handle = Callable[[AsyncConnection, Sequence[Envelope]], Awaitable[Failures]]


@dataclass(frozen=True)
class Failed:
    """An event that failed in a batch, with its subject's later events of the batch."""

    items: list[Item]
    error: Exception


async def apply_pinned(
    conn: AsyncConnection,
    items: list[Item],
    handle: Handle,
    outage: Callable[[BaseException], bool],
) -> list[Failed]:
    """Apply the items inside a savepoint; returns what failed, pinned to the event. An
    ``outage`` (nothing to do with the events) is raised at once instead."""
    try:
        async with conn.begin_nested():
            failures = await handle(conn, [env for _, env in items])
    except Exception as exc:
        if outage(exc):
            raise
        subjects = list(dict.fromkeys(env.subject for _, env in items))
        if len(subjects) == 1:
            return await _pin(conn, items, exc, handle, outage)
        half = set(subjects[: len(subjects) // 2])
        first = [i for i in items if i[1].subject in half]
        rest = [i for i in items if i[1].subject not in half]
        return [
            *await apply_pinned(conn, first, handle, outage),
            *await apply_pinned(conn, rest, handle, outage),
        ]
    failed: dict[str, Failed] = {}
    for record, env in items if failures else ():
        if env.subject in failed:  # held back behind its subject's failed event
            failed[env.subject].items.append((record, env))
        elif env.id in failures:
            failed[env.subject] = Failed([(record, env)], failures[env.id])
    return list(failed.values())


async def _pin(
    conn: AsyncConnection,
    group: list[Item],
    exc: Exception,
    handle: Handle,
    outage: Callable[[BaseException], bool],
) -> list[Failed]:
    """One subject's events failed together: apply them one by one to find which."""
    if len(group) == 1:
        return [Failed(group, exc)]
    for at, (_, env) in enumerate(group):
        try:
            async with conn.begin_nested():
                failures = await handle(conn, [env])
        except Exception as error:
            if outage(error):
                raise
            return [Failed(group[at:], error)]
        if failures:
            return [Failed(group[at:], next(iter(failures.values())))]
    return []  # each alone went through: whatever failed them together has passed
