"""The chaos run's own stack: a PostgreSQL server and a Kafka broker it may crash, and two
processes of every service role (the webhooks service's delivery worker among them), each of
which it may SIGKILL and start again.

Nothing here is shared with `make up` or the test session: the servers listen on their own
ports with their state under ``<cache>/chaos`` (the deploy scripts, pointed elsewhere by
environment variables), so restarting them disturbs no one. stripe-mock is stateless and is
shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg
import httpx

from shared.settings import ALL_SERVICES, WEBHOOKS

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"
ROLES = ("api", "relay", "consume", "timers")
# Roles beyond the four, per service (as deploy/local/services.sh runs them).
EXTRA_ROLES = {WEBHOOKS: ("deliver",)}
# The delivery worker's retries in the chaos run, in seconds: a retry a receiver asked for
# (a 500) falls due within the run's quiet wait instead of 5 minutes later.
WEBHOOK_RETRY_SCHEDULE = "[1, 2, 4, 8, 15, 30]"


def roles_of(service: str) -> tuple[str, ...]:
    return ROLES + EXTRA_ROLES.get(service, ())


DB_PREFIX = "tradeflow_chaos_"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Infra:
    """PostgreSQL + Kafka of the chaos run, driven through deploy/local/*.sh."""

    cache: Path
    pg_port: int = 55432
    kafka_port: int = 19092
    controller_port: int = 19093

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            TRADEFLOW_CACHE=str(self.cache),
            TRADEFLOW_PG_PORT=str(self.pg_port),
            TRADEFLOW_PG_CLUSTER="tradeflow-chaos",
            TRADEFLOW_KAFKA_PORT=str(self.kafka_port),
            TRADEFLOW_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            **extra,
        )
        return env

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://tradeflow:tradeflow@127.0.0.1:{self.pg_port}/postgres?ssl=disable"

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def _script(self, name: str, action: str, **extra: str) -> None:
        subprocess.run(
            ["bash", str(LOCAL / f"{name}.sh"), action],
            env=self.env(**extra),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def up(self, *, fresh_kafka: bool = True) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        if fresh_kafka and not self._kafka_alive():
            # A fresh broker per run: no topics or consumer groups of an earlier run.
            subprocess.run(["rm", "-rf", str(self.cache / "kafka" / "data")], check=True)
        self._script("postgres", "up")
        self._script("kafka", "up")
        # stripe-mock is stateless: the developer's (or CI's) instance serves us too.
        subprocess.run(
            ["bash", str(LOCAL / "stripe-mock.sh"), "up"], check=True, stdout=subprocess.DEVNULL
        )

    def down(self) -> None:
        self._script("kafka", "down")
        self._script("postgres", "down")

    def _kafka_pid(self) -> int | None:
        pidfile = self.cache / "run" / "kafka.pid"
        return int(pidfile.read_text()) if pidfile.exists() else None

    def _kafka_alive(self) -> bool:
        pid = self._kafka_pid()
        return pid is not None and _alive(pid)

    def kafka_cpu(self) -> float:
        pid = self._kafka_pid()
        return cpu_of(pid) if pid is not None else 0.0

    def kill_kafka(self) -> None:
        """SIGKILL the broker: no clean shutdown, no controlled leadership handover."""
        pid = self._kafka_pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)

    def start_kafka(self) -> None:
        self._script("kafka", "up")

    def crash_postgres(self) -> None:
        """Immediate shutdown: every connection dropped, crash recovery at the next start."""
        self._script("postgres", "down", TRADEFLOW_PG_STOP_MODE="immediate")

    def start_postgres(self) -> None:
        self._script("postgres", "up")

    async def recreate_databases(self) -> None:
        admin = await asyncpg.connect(
            host="127.0.0.1",
            port=self.pg_port,
            user="tradeflow",
            password="tradeflow",
            database="postgres",
        )
        try:
            names = await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{DB_PREFIX}%"
            )
            for row in names:
                await admin.execute(f'DROP DATABASE "{row["datname"]}" WITH (FORCE)')
        finally:
            await admin.close()


async def connect(infra: Infra, service: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=infra.pg_port,
        user="tradeflow",
        password="tradeflow",
        database=f"{DB_PREFIX}{service}",
    )


def hold_stack(infra: Infra, say: Callable[[str], object] = print) -> IO[str]:
    """Wait until no other chaos run on this machine uses the chaos servers, and keep them:
    their ports and the Debian cluster are machine-wide, whichever checkout runs, and a run
    recreates the databases and restarts the servers under any other. Closing the returned
    file (or the process ending) lets the next run in."""
    path = Path(tempfile.gettempdir()) / f"tradeflow-chaos-{infra.pg_port}-{infra.kafka_port}.lock"
    lock = path.open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"chaos: another chaos run holds {path}; waiting for it to end")
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not reaped) is dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass(frozen=True)
class Exit:
    """A process that ended without being killed or stopped by the run."""

    name: str
    status: int
    at: float  # time.time()
    tail: str  # the end of its log


@dataclass
class Proc:
    service: str
    role: str
    index: int
    port: int | None  # api only
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    cpu_before: float = 0.0  # CPU seconds of this slot's earlier (killed) processes
    ended_by_us: bool = False  # the current process was killed or stopped by the run

    @property
    def kind(self) -> str:
        return f"{self.service}-{self.role}"

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "services.cli", self.service, self.role]
        return args + (["--port", str(self.port)] if self.port is not None else [])

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command(),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.ended_by_us = False
        self.starts += 1

    def cpu_seconds(self) -> float:
        """CPU time used by every process this slot ran so far."""
        live = cpu_of(self.popen.pid) if self.alive and self.popen is not None else 0.0
        return self.cpu_before + live

    def kill(self) -> bool:
        """SIGKILL the process; False when there was none running to kill."""
        if self.popen is None or self.popen.poll() is not None:
            return False
        self.ended_by_us = True
        self.cpu_before += cpu_of(self.popen.pid)
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()  # reaped: no zombie left to look alive
        self.kills += 1
        return True

    def stop(self, timeout: float = 15) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.ended_by_us = True
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def ended_by_itself(self) -> int | None:
        """The exit status of a process that ended although nobody killed or stopped it."""
        if self.popen is None or self.ended_by_us:
            return None
        return self.popen.poll()


@dataclass
class Fleet:
    """``instances`` processes of every role of every service, webhooks included."""

    env: dict[str, str]
    logs: Path
    instances: int = 2
    procs: list[Proc] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)  # processes that died by themselves

    def __post_init__(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for service in ALL_SERVICES:
            for role in roles_of(service):
                for i in range(self.instances):
                    port = free_port() if role == "api" else None
                    log = self.logs / f"{service}-{role}-{i}.log"
                    self.procs.append(Proc(service, role, i, port, log))

    def __iter__(self) -> Iterator[Proc]:
        return iter(self.procs)

    def of_kind(self, kind: str) -> list[Proc]:
        return [p for p in self.procs if p.kind == kind]

    def api_ports(self, service: str) -> list[int]:
        return [p.port for p in self.procs if p.service == service and p.port is not None]

    @property
    def kinds(self) -> list[str]:
        return sorted({p.kind for p in self.procs})

    def start_all(self) -> None:
        for p in self.procs:
            p.start(self.env)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.alive and p.popen is not None:
                p.ended_by_us = True
                p.popen.terminate()
        for p in self.procs:
            p.stop()

    async def supervise(self, stop: asyncio.Event, every: float = 0.5) -> None:
        """Until ``stop``: a process that ended by itself is recorded (a failure of the run:
        only the run's own kills are faults) and started again, as a supervisor would."""
        while not stop.is_set():
            for p in self.procs:
                status = p.ended_by_itself()
                if status is not None:
                    tail = p.log.read_text(errors="replace")[-1500:] if p.log.exists() else ""
                    self.exits.append(Exit(p.name, status, time.time(), tail))
                    p.start(self.env)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def wait_ready(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        pending = {p.name: p for p in self.procs if p.port is not None}
        async with httpx.AsyncClient(timeout=2) as client:
            while pending:
                for p in self.procs:
                    if p.popen is not None and p.popen.poll() is not None:
                        raise RuntimeError(f"{p.name} exited: {p.log.read_text()[-3000:]}")
                for name, p in list(pending.items()):
                    try:
                        r = await client.get(f"http://127.0.0.1:{p.port}/healthz")
                        if r.status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready within {within}s: {sorted(pending)}")
                await asyncio.sleep(0.5)


def service_env(infra: Infra, topic_prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=infra.database_url,
        KAFKA_BOOTSTRAP_SERVERS=infra.kafka,
        STRIPE_API_BASE=os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111"),
        TRADEFLOW_DATABASE_PREFIX=DB_PREFIX,
        TRADEFLOW_TOPIC_PREFIX=topic_prefix,
        TRADEFLOW_ENVIRONMENT="test",
        TRADEFLOW_LOG_JSON="true",
        PYTHONUNBUFFERED="1",
        # The run's webhook receiver is http://127.0.0.1 (tests/chaos/webhooks.py).
        TRADEFLOW_WEBHOOK_ALLOW_LOOPBACK="true",
        TRADEFLOW_WEBHOOK_RETRY_SCHEDULE=WEBHOOK_RETRY_SCHEDULE,
        # The lease of a claimed delivery is connect + read timeout + 35 s: a worker killed
        # mid-attempt delays its deliveries that long.
        TRADEFLOW_WEBHOOK_CONNECT_TIMEOUT="2",
        TRADEFLOW_WEBHOOK_READ_TIMEOUT="5",
        # One endpoint per tenant receives every event of its trades: at the default 4
        # deliveries in flight per endpoint the worker fell behind the trades (a 200-trade
        # run's deliveries drained 30 s after its last trade).
        TRADEFLOW_WEBHOOK_ENDPOINT_CONCURRENCY="16",
    )
    return env
