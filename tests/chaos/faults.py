"""The faults of a chaos run: SIGKILLs of every process kind, one broker kill, one database crash.

The plan is fixed up front and spread over the run by progress (finished trades / all
trades) rather than by the clock, so a short run and a long run see the same mix: every
process kind is killed ``kills_per_kind`` times, one instance at a time, and started again
after a short random pause; the Kafka broker is SIGKILLed once around 35 % and PostgreSQL is
shut down in immediate mode (a crash: no checkpoint, every connection cut) around 60 %.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chaos.stack import Fleet, Infra, Proc


@dataclass
class Outage:
    what: str
    down_at: float  # time.time()
    up_at: float | None = None


@dataclass
class FaultLog:
    kills: Counter[str] = field(default_factory=Counter)
    kill_times: list[tuple[float, str]] = field(default_factory=list)
    outages: list[Outage] = field(default_factory=list)

    def outage(self, what: str) -> Outage | None:
        return next((o for o in self.outages if o.what == what), None)


@dataclass(frozen=True)
class Fault:
    at: float  # progress fraction
    kind: str  # a process kind ("escrow-api"), or "kafka" / "postgres"


def plan(kinds: list[str], kills_per_kind: int, rng: random.Random) -> list[Fault]:
    kills = [k for k in kinds for _ in range(kills_per_kind)]
    rng.shuffle(kills)
    n = len(kills)
    faults = [Fault(0.03 + 0.85 * (i + rng.random()) / n, k) for i, k in enumerate(kills)]
    faults += [Fault(rng.uniform(0.3, 0.4), "kafka"), Fault(rng.uniform(0.55, 0.65), "postgres")]
    return sorted(faults, key=lambda f: f.at)


class Injector:
    def __init__(
        self,
        fleet: Fleet,
        infra: Infra,
        faults: list[Fault],
        progress: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.fleet, self.infra, self.faults = fleet, infra, faults
        self.progress, self.rng = progress, rng
        self.progressed = asyncio.Event()  # set by the driver whenever a trade finishes
        self.log = FaultLog()
        self._restarting: dict[str, asyncio.Task[None]] = {}  # by process name

    async def run(self) -> None:
        for fault in self.faults:
            while self.progress() < fault.at:
                self.progressed.clear()
                await self.progressed.wait()
            if fault.kind == "kafka":
                await self._kafka()
            elif fault.kind == "postgres":
                await self._postgres()
            else:
                await self._kill(fault.kind)
            await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        await self.settle()

    async def settle(self) -> None:
        """Every killed process is running again."""
        if self._restarting:
            await asyncio.gather(*self._restarting.values())

    async def _kill(self, kind: str) -> None:
        """SIGKILL one live instance of ``kind``. When every instance is down (killed a moment
        ago, its restart pending), wait for one to be back: a kill that kills nothing is no
        fault, and counting it would overstate the kills the run survived."""
        procs = self.fleet.of_kind(kind)
        pending = [self._restarting[p.name] for p in procs if p.name in self._restarting]
        if pending and not any(p.alive for p in procs):
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        victim = self.rng.choice([p for p in procs if p.alive] or procs)
        if not victim.kill():
            return
        self.log.kills[kind] += 1
        self.log.kill_times.append((time.time(), victim.name))
        task = asyncio.create_task(self._restart(victim, self.rng.uniform(0.3, 3.0)))
        self._restarting[victim.name] = task
        task.add_done_callback(lambda _t, name=victim.name: self._restarting.pop(name, None))

    async def _restart(self, proc: Proc, after: float) -> None:
        await asyncio.sleep(after)
        proc.start(self.fleet.env)

    async def _kafka(self) -> None:
        outage = Outage("kafka", time.time())
        self.log.outages.append(outage)
        await asyncio.to_thread(self.infra.kill_kafka)
        await asyncio.sleep(self.rng.uniform(1.0, 3.0))
        await asyncio.to_thread(self.infra.start_kafka)
        outage.up_at = time.time()

    async def _postgres(self) -> None:
        outage = Outage("postgres", time.time())
        self.log.outages.append(outage)
        await asyncio.to_thread(self.infra.crash_postgres)
        await asyncio.sleep(self.rng.uniform(0.3, 1.0))
        await asyncio.to_thread(self.infra.start_postgres)
        outage.up_at = time.time()
