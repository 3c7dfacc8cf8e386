"""Reconciliation runs the console started and follows: each is the ledger's one
synchronous ``POST /v1/ledger/reconciliation/runs``, sent by a task of this process while
the person's page polls its status (htmx, every second), so a long run is a page that says
"running, for 12 s" and then its counts, not a request the browser waits on.

The ledger does a run in one database transaction (it leaves no trace when it fails), so no
one, not even the ledger's other requests, can see a run's counts before it ends: what the
console shows while it runs is that it runs and for how long; the counts come with its end.

Kept in this process's memory, like the sign-in links (the console owns no database): a
restart of the console cancels the request (the ledger then rolls the run back) and forgets
the job; behind several console processes the page must reach the one that started it.
At most ``KEEP`` jobs are remembered, the oldest finished ones forgotten first.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.console.adapters.api import ApiFailure, ServiceUnavailable
from shared.clock import Clock

log = logging.getLogger(__name__)
KEEP = 200


@dataclass(frozen=True)
class RunJob:
    job_id: str
    tenant_id: str
    started_by: str
    started_at: datetime
    status: str = "running"  # running | succeeded | failed
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def seconds(self, now: datetime) -> int:
        return int(((self.finished_at or now) - self.started_at).total_seconds())


class RunJobs:
    def __init__(self, clock: Clock, keep: int = KEEP) -> None:
        self._clock, self._keep = clock, keep
        self._jobs: dict[str, RunJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, tenant_id: str, started_by: str, run: Callable[[], Awaitable[dict[str, Any]]]
    ) -> RunJob:
        self._forget_old()
        job = RunJob(secrets.token_urlsafe(12), tenant_id, started_by, self._clock.now())
        self._jobs[job.job_id] = job
        task = asyncio.create_task(self._follow(job.job_id, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, job_id: str, tenant_id: str | None) -> RunJob | None:
        """The job, to a session of its tenant only (another tenant's is no job at all)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.tenant_id == tenant_id else None

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _follow(self, job_id: str, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            result = await run()
        except ApiFailure as exc:
            self._end(job_id, "failed", error=f"The ledger refused the run: {exc.message}")
        except ServiceUnavailable:
            self._end(job_id, "failed", error="The ledger did not answer; nothing was recorded. "
                      "Try again in a moment.")  # fmt: skip
        except Exception:  # a task's failure must end the job, not vanish in the loop
            log.exception("reconciliation run %s failed", job_id)
            self._end(job_id, "failed", error="The run failed unexpectedly; see the logs.")
        else:
            self._end(job_id, "succeeded", result=result)

    def _end(self, job_id: str, status: str, **fields: Any) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs[job_id] = replace(job, status=status, finished_at=self._clock.now(),
                                         **fields)  # fmt: skip

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.status != "running"]
        for job in sorted(finished, key=lambda j: j.started_at)[
            : max(0, len(self._jobs) - self._keep + 1)
        ]:
            del self._jobs[job.job_id]
