"""Runs the console follows: a task each, its end recorded whatever it was, shown only to
its tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from services.console.adapters.api import ApiFailure, ServiceUnavailable
from services.console.adapters.runs import RunJobs
from shared.clock import ManualClock

NOW = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)


async def ended(jobs: RunJobs, job_id: str, tenant: str = "acme") -> Any:
    for _ in range(100):
        job = jobs.get(job_id, tenant)
        assert job is not None
        if job.status != "running":
            return job
        await asyncio.sleep(0)
    raise AssertionError("the job never ended")


async def test_a_run_is_running_then_succeeds_with_its_counts() -> None:
    clock = ManualClock(NOW)
    jobs = RunJobs(clock)
    gate = asyncio.Event()

    async def run() -> dict[str, Any]:
        await gate.wait()
        return {"run_id": 7, "matched": 3}

    job = jobs.start("acme", "alice", run)
    await asyncio.sleep(0)
    clock.advance(timedelta(seconds=12))
    running = jobs.get(job.job_id, "acme")
    assert (
        running is not None and running.status == "running" and running.seconds(clock.now()) == 12
    )
    gate.set()
    done = await ended(jobs, job.job_id)
    assert done.status == "succeeded" and done.result == {"run_id": 7, "matched": 3}
    assert done.seconds(clock.now() + timedelta(hours=1)) == 12  # frozen at its end
    assert jobs.get(job.job_id, "other-tenant") is None
    assert jobs.get(job.job_id, None) is None


async def test_every_kind_of_failure_ends_the_job_with_what_to_say() -> None:
    jobs = RunJobs(ManualClock(NOW))
    failures = {
        ApiFailure("ledger", 502, "payment_provider_error", "Stripe could not be read"): "refused",
        ServiceUnavailable("ledger", "ConnectError"): "did not answer",
        RuntimeError("boom"): "unexpectedly",
    }
    for exc, said in failures.items():

        async def run(exc: Exception = exc) -> dict[str, Any]:
            raise exc

        job = await ended(jobs, jobs.start("acme", "alice", run).job_id)
        assert job.status == "failed" and said in job.error


async def test_old_finished_jobs_are_forgotten_first() -> None:
    clock = ManualClock(NOW)
    jobs = RunJobs(clock, keep=2)

    async def quick() -> dict[str, Any]:
        return {}

    first = jobs.start("acme", "a", quick)
    await ended(jobs, first.job_id)
    clock.advance(timedelta(seconds=1))
    second = jobs.start("acme", "a", quick)
    await ended(jobs, second.job_id)
    clock.advance(timedelta(seconds=1))
    third = jobs.start("acme", "a", quick)
    assert jobs.get(first.job_id, "acme") is None
    assert jobs.get(second.job_id, "acme") is not None
    await ended(jobs, third.job_id)
    await jobs.close()
