"""The chaos run's own logic that needs no servers: when the system counts as quiet, what a
kill counts as. A check that cannot fail proves nothing."""

from __future__ import annotations

from tests.chaos.verify import Look, settle


async def test_quiet_needs_two_clean_looks_with_nothing_progressing_between_them() -> None:
    """A look is not atomic: it reads the outboxes, then the timers, then each group's lag.
    An event a consumer applies between the outbox read and its lag read leaves unsent rows
    in the outbox already read and no lag: a clean look while the system moves. Two such
    looks in a row are rare, not impossible; the counters of rows produced and consumed
    then differ, and that is not quiet."""
    looks = iter(
        [
            Look([], (10, 10, 3)),
            Look([], (12, 11, 3)),  # clean, but two events were produced and one consumed
            Look([], (12, 12, 3)),
            Look([], (12, 12, 3)),
        ]
    )
    taken = 0

    async def take() -> Look:
        nonlocal taken
        taken += 1
        return next(looks)

    _seconds, busy = await settle(take, within=30, pause=0)
    assert (busy, taken) == ([], 4)


async def test_never_quiet_says_what_still_moves() -> None:
    async def take() -> Look:
        return Look(["escrow: 2 outbox rows unsent"], (1,))

    _seconds, busy = await settle(take, within=0.05, pause=0.01)
    assert busy == ["escrow: 2 outbox rows unsent"]
