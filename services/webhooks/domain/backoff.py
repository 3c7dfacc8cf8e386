"""When a failed delivery is tried again: a schedule of waits, each with jitter.

The schedule is the wait after each failed attempt: after the first failure wait
``delays[0]``, after the second ``delays[1]``, and so on; once the schedule is spent the
delivery has failed for good. Jitter spreads each wait by up to ``jitter`` of itself either
way, so an endpoint that comes back is not hit by every retry in the same second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

# 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h: 12 attempts over about 2.8 days.
DEFAULT_DELAYS: tuple[int, ...] = (5, 300, 1_800, 7_200, 18_000, *(36_000,) * 6)


@dataclass(frozen=True)
class RetrySchedule:
    delays: tuple[int, ...] = DEFAULT_DELAYS  # seconds
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.delays):
            raise ValueError("retry delays must not be negative")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    @classmethod
    def of(cls, delays: Sequence[int], jitter: float = 0.2) -> RetrySchedule:
        return cls(tuple(delays), jitter)

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    @property
    def total(self) -> timedelta:
        """The time from the first attempt to the last, without jitter."""
        return timedelta(seconds=sum(self.delays))

    def wait_after(self, failed_attempts: int, rand: Callable[[], float]) -> timedelta | None:
        """The wait after the ``failed_attempts``-th failure, or None when the schedule is
        spent. ``rand`` answers uniformly in [0, 1) (``random.random``)."""
        if failed_attempts < 1 or failed_attempts > len(self.delays):
            return None
        base = self.delays[failed_attempts - 1]
        spread = base * self.jitter * (2 * rand() - 1)
        return timedelta(seconds=max(0.0, base + spread))
