"""The chaos run's HTTP client: what a careful integrator does, and what it saw.

Every write carries an ``Idempotency-Key`` that stays the same across retries (the documented
rule). A request is retried, with backoff, on a dropped connection, on 502/503/504, and on the
409s that mean "not yet" (``idempotency_key_in_use``, ``concurrent_modification``); each retry
goes to the next instance of the service, as a load balancer would send it. Everything else is
an answer. The client records every status it got, and for each write interrupted by a fault
how long it took until a retry succeeded.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUS = {502, 503, 504}
RETRY_CONFLICTS = {"idempotency_key_in_use", "concurrent_modification"}
# In flight when the process died (vs. refused: the instance was already down).
INTERRUPTED = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


class GaveUp(RuntimeError):
    pass


@dataclass
class Recovery:
    """A write that a fault interrupted, and how it ended."""

    method: str
    path: str
    cause: str  # interrupted | refused | 503 | in_use | ...
    failed_at: float  # time.time() of the first failure
    recovered_after: float | None = None  # seconds from the first failure to the success
    causes: list[str] = field(default_factory=list)  # every failed attempt, in order


@dataclass
class Observations:
    statuses: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    server_errors: list[tuple[float, str, str, int, str]] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)
    replayed: int = 0  # responses with Idempotent-Replayed: true
    requests: int = 0
    # Seconds each write took that no fault touched (answered on its first attempt): the
    # baseline of the same run that the recoveries are read against. On a saturated machine
    # a recovery is mostly a queue at the surviving instance, and this shows that queue.
    clean_writes: list[float] = field(default_factory=list)

    def seen(self, service: str, method: str, path: str, r: httpx.Response) -> None:
        self.requests += 1
        code = _code(r)
        self.statuses[(service, r.status_code, code)] += 1
        if r.status_code >= 500:
            self.server_errors.append(
                (time.time(), service, f"{method} {path}", r.status_code, r.text[:300])
            )
        if r.headers.get("idempotent-replayed") == "true":
            self.replayed += 1


def _code(r: httpx.Response) -> str:
    if r.status_code < 400:
        return ""
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"


class Service:
    """One service behind its instances (round robin, next instance on every retry)."""

    def __init__(self, name: str, ports: list[int], obs: Observations, deadline: float) -> None:
        self.name = name
        self.obs = obs
        self.deadline = deadline
        self.clients = [
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{p}",
                timeout=httpx.Timeout(30.0, connect=3.0),
                # Idle connections expire before uvicorn's 5 s keep-alive closes them, so a
                # reused connection is never one the server is just closing.
                limits=httpx.Limits(
                    max_connections=200, max_keepalive_connections=50, keepalive_expiry=2.0
                ),
            )
            for p in ports
        ]
        self._next = itertools.cycle(range(len(self.clients)))

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()

    async def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        *,
        json: Any = None,
        content: bytes | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """The first answer that is not "try again", retrying as described above."""
        headers = dict(headers)
        write = method != "GET"
        if write and idempotent:
            headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        started = time.monotonic()
        recovery: Recovery | None = None
        first = next(self._next)
        for attempt in itertools.count():
            # Each retry to the next instance (from this call's first one, not the shared
            # cycle, which other calls turn meanwhile): a dead instance is not tried twice in
            # a row while another one lives.
            client = self.clients[(first + attempt) % len(self.clients)]
            cause: str | None = None
            try:
                r = await client.request(method, path, json=json, content=content, headers=headers)
            except INTERRUPTED:
                cause = "interrupted"
            except (httpx.ConnectError, httpx.ConnectTimeout):
                cause = "refused"
            except httpx.TimeoutException:
                cause = "timeout"
            else:
                self.obs.seen(self.name, method, path, r)
                code = _code(r)
                if r.status_code in RETRY_STATUS:
                    cause = str(r.status_code)
                elif r.status_code == 409 and code in RETRY_CONFLICTS:
                    cause = code
                else:
                    if recovery is not None:
                        recovery.recovered_after = time.time() - recovery.failed_at
                    elif write:
                        self.obs.clean_writes.append(time.monotonic() - started)
                    return r
            if write and recovery is None:
                recovery = Recovery(method, path, cause, time.time())
                self.obs.recoveries.append(recovery)
            if recovery is not None:
                recovery.causes.append(f"{cause}@{time.time() - recovery.failed_at:.2f}")
            if time.monotonic() - started > self.deadline:
                raise GaveUp(f"{method} {path}: still {cause} after {self.deadline:.0f}s")
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")
