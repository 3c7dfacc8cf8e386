"""Fault injection for crash tests: die at a named point, the way SIGKILL would.

``crash_point("idempotency.after_effect")`` ends the process at once with status 137 (what
a SIGKILLed process reports), without unwinding, flushing or closing anything, when the
environment variable ``TRADEFLOW_CRASH_AT`` names that point (several: comma-separated).
Otherwise it does nothing. It lets a test hit a window a few microseconds wide (after a
commit, before the next write) every time instead of by luck.

Refused in production: a process whose ``TRADEFLOW_ENVIRONMENT`` is production (the
default) never crashes on purpose, and ``refuse_in_production`` makes it refuse to start
with the variable set, so a stray variable is noticed instead of ignored.

Points in the code (grep for ``crash_point(``):
- ``idempotency.after_effect``: a keyed request's effect committed and the endpoint
  answered, before the answer is stored under its Idempotency-Key;
- ``escrow.before_settlement``: an escrow command reserved a payout or refund (committed),
  before the Stripe call that settles it.
"""

from __future__ import annotations

import os

ENV = "TRADEFLOW_CRASH_AT"
EXIT_STATUS = 137  # 128 + SIGKILL


class FaultInjectionRefused(RuntimeError):
    pass


def _production() -> bool:
    return os.environ.get("TRADEFLOW_ENVIRONMENT", "production") == "production"


def armed(point: str) -> bool:
    names = {n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip()}
    return point in names and not _production()


def crash_point(point: str) -> None:
    """Die here, now, if ``TRADEFLOW_CRASH_AT`` names ``point`` (outside production)."""
    if armed(point):
        os._exit(EXIT_STATUS)


def refuse_in_production() -> None:
    """Called at startup: fault injection configured in production is an error."""
    if os.environ.get(ENV) and _production():
        raise FaultInjectionRefused(f"{ENV} is set, but fault injection is refused in production")
