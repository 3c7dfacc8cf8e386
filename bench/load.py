"""The benchmarks' HTTP load generator: aiohttp, keep-alive connections, one event loop.

``closed_loop`` keeps ``concurrency`` requests in flight for ``seconds`` (each client sends
its next request when the last one answered), the way a pool of integrator workers calls
the API. It records every answer's latency and status, and the CPU seconds this process
spent meanwhile, so a report can show that the generator was not the bottleneck (its CPU
per request against the server's). aiohttp rather than httpx: on one core it sends several
times more requests per second, which is what a load generator is for.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# (method, path, headers, json body or None): a request to send.
Request = tuple[str, str, dict[str, str], Any]


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)  # seconds, one per answer
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process (the generator), during the run

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Seconds; nearest-rank on the sorted latencies."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]

    def merge(self, other: Sample) -> Sample:
        return Sample(
            self.latencies + other.latencies,
            self.statuses + other.statuses,
            self.seconds + other.seconds,
            self.cpu_seconds + other.cpu_seconds,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.count,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 1),
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "generator_cpu_ms_per_request": round(self.cpu_seconds / max(self.count, 1) * 1000, 3),
        }


def session(base_url: str, concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60)
    return aiohttp.ClientSession(
        base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    )


async def send(client: aiohttp.ClientSession, request: Request) -> tuple[int, Any]:
    method, path, headers, body = request
    async with client.request(method, path, headers=headers, json=body) as r:
        payload = await r.read()
        return r.status, payload


async def closed_loop(
    client: aiohttp.ClientSession,
    make: Callable[[], Request],
    *,
    concurrency: int,
    seconds: float,
) -> Sample:
    sample = Sample()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            request = make()
            started = time.perf_counter()
            try:
                status, _ = await send(client, request)
            except (aiohttp.ClientError, TimeoutError):
                status = 0  # no answer: counted, never a latency of an answer
                sample.statuses[status] += 1
                continue
            sample.latencies.append(time.perf_counter() - started)
            sample.statuses[status] += 1

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.seconds = time.perf_counter() - started
    sample.cpu_seconds = time.process_time() - cpu
    return sample
