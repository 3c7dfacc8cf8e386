"""deploy/docker-compose.yml cannot run here (no Docker engine); keep it valid and complete."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def published_ports(service: dict) -> set[int]:
    return {
        int(str(p).split(":")[-2 if str(p).count(":") else -1]) for p in service.get("ports", [])
    }


def test_compose_runs_the_real_servers_and_every_service() -> None:
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["stripe-mock"]["image"].startswith("stripe/stripe-mock:")
    assert 9092 in published_ports(services["kafka"])
    assert 5432 in published_ports(services["postgres"])
    assert 12111 in published_ports(services["stripe-mock"])
    for name, port in (("escrow", 8001), ("ledger", 8002), ("financing", 8003)):
        assert name in services, f"compose lacks the {name} API"
        assert port in published_ports(services[name])
        env = services[name]["environment"]
        for var in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "STRIPE_API_BASE"):
            assert var in env
    console = services["console"]
    assert console["command"] == ["tradeflow", "console", "api"]
    assert 8005 in published_ports(console)
    for name in ("escrow", "ledger", "financing"):
        assert console["environment"][f"TRADEFLOW_{name.upper()}_URL"].startswith(f"http://{name}:")
    for service in services.values():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"depends on unknown service {dep}"


def test_the_local_scripts_run_the_console_and_make_test_installs_chromium() -> None:
    script = (ROOT / "deploy/local/services.sh").read_text()
    assert "SERVICES+=(console)" in script and "[console]=${TRADEFLOW_CONSOLE_PORT:-8005}" in script
    makefile = (ROOT / "Makefile").read_text()
    assert "test: venv browser infra" in makefile
    assert "apt-get install -y -qq chromium chromium-driver" in makefile


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci/run").read_text()


LIB = ROOT / "deploy/local/lib.sh"


def helper_says(pidfile: Path, tmp_path: Path) -> str:
    """What deploy/local/lib.sh's pid_alive makes of PIDFILE: alive or dead."""
    script = f'source "{LIB}"; if pid_alive "$1"; then echo alive; else echo dead; fi'
    env = {**os.environ, "TRADEFLOW_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        ["bash", "-c", script, "pid_alive", str(pidfile)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def state_of(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def test_a_killed_process_not_yet_reaped_is_dead(tmp_path: Path) -> None:
    """A zombie still answers kill -0; services.sh up must restart it, not skip it."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = tmp_path / "svc.pid"
        pidfile.write_text(f"{child.pid}\n")
        assert helper_says(pidfile, tmp_path) == "alive"
        os.kill(child.pid, signal.SIGKILL)  # and nobody reaps it yet: a real zombie
        deadline = time.monotonic() + 10
        while state_of(child.pid) != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.05)
        os.kill(child.pid, 0)  # the zombie answers kill -0 ...
        assert helper_says(pidfile, tmp_path) == "dead"  # ... and still is dead
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_not_our_process(tmp_path: Path) -> None:
    """A pid recorded by start_bg names the process started then, not whoever has it now."""
    pidfile = tmp_path / "svc.pid"
    env = {**os.environ, "TRADEFLOW_CACHE": str(tmp_path / "cache")}
    started = subprocess.run(
        ["bash", "-c", f'source "{LIB}"; start_bg "$1" /dev/null sleep 60', "x", str(pidfile)],
        env=env,
        check=True,
    )
    assert started.returncode == 0
    pid = int(pidfile.read_text())
    try:
        assert helper_says(pidfile, tmp_path) == "alive"
        # Our process is gone and its pid went to another one (here: this test's process).
        os.kill(pid, signal.SIGKILL)
        pidfile.write_text(f"{os.getpid()}\n")
        assert helper_says(pidfile, tmp_path) == "dead"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
