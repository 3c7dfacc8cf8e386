"""Service processes for the benchmarks, started as the product starts them.

Each process is ``python -m services.cli <service> <role>`` (what the ``tradeflow`` script
runs, and ``deploy/local/services.sh``), with databases and topics of its own (database
prefix ``ba_<run>_``, topic prefix ``ba-<run>``, both dropped or left behind harmlessly) and
API ports from ``BENCH_PORT_BASE`` (18001: escrow, 18002: ledger, 18003: financing), so a
run never touches the development stack or another engineer's benchmark.

What it measures of its processes (psutil, and /proc for the peak): CPU seconds, and the
peak resident set size (``VmHWM``, the kernel's high-water mark, so no sample can miss a
peak). An API started with ``--workers N`` is a uvicorn supervisor and N worker processes:
each is reported on its own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from sqlalchemy import make_url

from shared.db import asyncpg_dsn
from shared.identity.keys import create_api_key
from shared.migrations import upgrade
from shared.runtime import identity_engine
from shared.settings import IDENTITY, SERVICES, Settings
from shared.topics import ensure_topics

PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18001"))
LOGS = Path(os.environ.get("BENCH_LOGS", "bench/results/logs"))


def bench_settings() -> Settings:
    run = uuid.uuid4().hex[:6]
    return Settings(
        environment="development",
        database_prefix=f"ba_{run}_",
        topic_prefix=f"ba-{run}",
        escrow_port=PORT_BASE,
        ledger_port=PORT_BASE + 1,
        financing_port=PORT_BASE + 2,
    )


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class BenchStack:
    settings: Settings = field(default_factory=bench_settings)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        s = self.settings
        env = dict(os.environ)
        env.update(
            DATABASE_URL=s.database_url,
            KAFKA_BOOTSTRAP_SERVERS=s.kafka_bootstrap_servers,
            STRIPE_API_BASE=s.stripe_api_base,
            TRADEFLOW_DATABASE_PREFIX=s.database_prefix,
            TRADEFLOW_TOPIC_PREFIX=s.topic_prefix,
            TRADEFLOW_ENVIRONMENT="development",
            TRADEFLOW_LOG_LEVEL=s.log_level,
            **{f"TRADEFLOW_{x.upper()}_PORT": str(s.service_port(x)) for x in SERVICES},
        )
        return env

    async def prepare(self, services: Iterable[str]) -> None:
        """Fresh databases (identity and ``services``) at head, and the topics."""
        for component in (IDENTITY, *services):
            await asyncio.to_thread(upgrade, component, self.settings)
        await ensure_topics(self.settings)

    async def api_key(self, tenant: str, scope: str) -> dict[str, str]:
        engine = identity_engine(self.settings)
        try:
            async with engine.begin() as conn:
                issued = await create_api_key(
                    conn, tenant, [scope], f"bench-{scope}", actor="bench"
                )
        finally:
            await engine.dispose()
        return {"Authorization": f"Bearer {issued.raw}"}

    def start(self, service: str, role: str, *args: str) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        name = f"{service}-{role}"
        log = (LOGS / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", service, role, *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.settings.service_port(service)}"

    async def wait_ready(self, service: str, within: float = 90) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url(service), timeout=2) as client:
            while time.monotonic() < deadline:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        tail = (LOGS / f"{name}.log").read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
                try:
                    if (await client.get("/healthz/ready")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{service} api not ready within {within}s")

    def processes(self) -> dict[str, psutil.Process]:
        """Every process of the stack by name; an API's uvicorn workers as ``-worker-<i>``."""
        out: dict[str, psutil.Process] = {}
        for name, popen in self.procs.items():
            try:
                proc = psutil.Process(popen.pid)
                workers = [
                    c for c in proc.children() if "resource_tracker" not in " ".join(c.cmdline())
                ]
            except psutil.NoSuchProcess:
                continue
            if name.endswith("-api") and workers:
                out[f"{name}-supervisor"] = proc
                for i, worker in enumerate(sorted(workers, key=lambda c: c.pid), start=1):
                    out[f"{name}-worker-{i}"] = worker
            else:
                out[name] = proc
        return out

    def cpu_seconds(self, names: Iterable[str] | None = None) -> float:
        """User + system CPU seconds so far of the named processes (all by default)."""
        total = 0.0
        for name, proc in self.processes().items():
            if names is not None and not any(name.startswith(n) for n in names):
                continue
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def peak_rss(self) -> dict[str, int]:
        return {name: peak_rss_bytes(p.pid) for name, p in self.processes().items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()

    async def drop(self) -> None:
        """Drop the run's databases (its topics stay: they are small and named for the run)."""
        url = make_url(self.settings.database_url)
        admin = await asyncpg.connect(
            asyncpg_dsn(url.set(database="postgres").render_as_string(False))
        )
        try:
            for component in (IDENTITY, *SERVICES):
                name = f"{self.settings.database_prefix}{component}"
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
