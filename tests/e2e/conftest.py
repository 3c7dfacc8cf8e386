"""The services as real processes: every role of every service, on their own test ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.settings import CONSOLE, SERVICES, Settings
from tests.conftest import TEST_DB_PREFIX, _created, migrate_all

pytestmark = pytest.mark.e2e

ROLES = ("api", "relay", "consume", "timers")


def free_port() -> int:
    """A port nothing listens on now: stale processes of an aborted run can never answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


E2E_PORTS = {service: free_port() for service in (*SERVICES, CONSOLE)}
# What runs as processes: every role of each service, and the web console's one role.
PROCESSES = [(s, role) for s in SERVICES for role in ROLES] + [(CONSOLE, "api")]


def service_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url,
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        STRIPE_API_BASE=settings.stripe_api_base,
        TRADEFLOW_DATABASE_PREFIX=settings.database_prefix,
        TRADEFLOW_TOPIC_PREFIX=settings.topic_prefix,
        TRADEFLOW_ENVIRONMENT="test",
        TRADEFLOW_STRIPE_WEBHOOK_SECRET=settings.stripe_webhook_secret.get_secret_value(),
        TRADEFLOW_STRIPE_API_KEY=settings.stripe_api_key.get_secret_value(),
        **{f"TRADEFLOW_{s.upper()}_PORT": str(p) for s, p in E2E_PORTS.items()},
    )
    return env


@pytest.fixture(scope="session")
async def e2e_settings(settings: Settings) -> Settings:
    """Databases and topics of their own: the processes' consumers and real-clock timer
    workers must never act on what the in-process integration tests share."""
    own = settings.model_copy(
        update={
            "database_prefix": f"{TEST_DB_PREFIX}e2e_",
            "topic_prefix": f"{settings.topic_prefix}-e2e",
        }
    )
    _created["settings"] = settings
    await migrate_all(own)
    return own


@pytest.fixture(scope="session")
def service_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every process writes all it prints (stdout and stderr): its whole log."""
    return tmp_path_factory.mktemp("service-logs")


class ServiceProcesses:
    """Every role of every service as a process; one role may be stopped and started again
    (a test that makes the ledger's consumer miss an event stops it, then restarts it)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, service: str, role: str) -> None:
        name = f"{service}-{role}"
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:  # a restarted role appends to the log of its first run
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", service, role],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs[name] = (proc, log)

    def stop(self, service: str, role: str) -> None:
        """SIGTERM and wait: a consumer leaves its group and has committed what it applied."""
        proc, _ = self.procs[f"{service}-{role}"]
        _terminate([proc])

    def stop_all(self) -> None:
        _terminate([proc for proc, _ in self.procs.values()])

    def listed(self) -> list[tuple[str, subprocess.Popen[bytes], Path]]:
        return [(name, proc, log) for name, (proc, log) in self.procs.items()]


def _terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def service_processes(e2e_settings: Settings, service_logs: Path) -> Iterator[ServiceProcesses]:
    procs = ServiceProcesses(service_env(e2e_settings), service_logs)
    try:
        for service, role in PROCESSES:
            procs.start(service, role)
        _wait_healthy(procs.listed())
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture(scope="session")
def running_services(e2e_settings: Settings, service_processes: ServiceProcesses) -> Settings:
    return e2e_settings.model_copy(update={f"{s}_port": p for s, p in E2E_PORTS.items()})


def _wait_healthy(
    procs: list[tuple[str, subprocess.Popen[bytes], Path]], within: float = 120
) -> None:
    deadline = time.monotonic() + within
    pending = set(E2E_PORTS)  # the console's /healthz waits for the three APIs
    while pending and time.monotonic() < deadline:
        for name, proc, log in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
        for service in list(pending):
            try:
                r = httpx.get(f"http://127.0.0.1:{E2E_PORTS[service]}/healthz", timeout=2)
                if r.status_code == 200:
                    pending.discard(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    if pending:
        raise RuntimeError(f"not healthy within {within}s: {sorted(pending)}")
