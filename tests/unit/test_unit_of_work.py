"""The shared unit of work's fake, and the one conflict retry policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.unit_of_work import Conflict, FakeUnitOfWork, retry_on_conflict

AT = datetime(2026, 1, 1, tzinfo=UTC)


class Books(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, int] = {}


async def test_the_fake_keeps_what_a_committed_block_wrote() -> None:
    uow = Books()
    async with uow:
        uow.rows["a"] = 1
        await uow.timers.schedule("k", "a", AT, {"x": 1})
        await uow.commit()
    assert uow.rows == {"a": 1}
    assert list(uow.timers.pending) == [("k", "a")]
    assert uow.commits == 1


async def test_the_fake_forgets_what_an_uncommitted_block_wrote() -> None:
    uow = Books()
    async with uow:
        uow.rows["a"] = 1
        await uow.commit()
    with pytest.raises(RuntimeError):
        async with uow:
            uow.rows["a"] = 2
            uow.rows["b"] = 3
            await uow.timers.cancel("k", "a")
            raise RuntimeError("the use case failed before its commit")
    async with uow:
        uow.rows["c"] = 4  # no commit: rolled back too
    assert uow.rows == {"a": 1}
    assert uow.outbox.envelopes == []
    assert uow.commits == 1


async def test_a_conflict_reruns_the_whole_use_case_until_it_passes() -> None:
    runs: list[int] = []

    async def use_case() -> str:
        runs.append(len(runs))
        if len(runs) < 3:
            raise Conflict("changed meanwhile")
        return "done"

    assert await retry_on_conflict(use_case) == "done"
    assert runs == [0, 1, 2]


async def test_a_conflict_that_persists_propagates_after_the_last_attempt() -> None:
    runs: list[int] = []

    async def use_case() -> None:
        runs.append(1)
        raise Conflict("always")

    with pytest.raises(Conflict):
        await retry_on_conflict(use_case, attempts=4)
    assert len(runs) == 4


async def test_other_errors_are_not_retried() -> None:
    runs: list[int] = []

    async def use_case() -> None:
        runs.append(1)
        raise ValueError("a refusal")

    with pytest.raises(ValueError):
        await retry_on_conflict(use_case)
    assert runs == [1]
