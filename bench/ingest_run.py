"""Running the ledger's consumer as the product runs it, and watching the journal fill.

``launch`` starts ``tradeflow ledger consume`` (services/runner.py ``run_consumers``) as a
process of its own, pointed by environment variables at the bench's database and topics;
``spy`` attaches ``py-spy record`` to it. ``watch`` polls the database until the books hold the
expected number of transactions, timing the first and the last commit, and samples
``pg_stat_activity`` meanwhile: how often a backend of the ledger database is active, and how
often it is waiting on a lock (``wait_event_type = 'Lock'``: row locks on ``books``, the
unique indexes' tuple locks, ...).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from shared.settings import Settings

SAMPLE_EVERY = 0.02  # seconds between two looks at the database


def env_for(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TRADEFLOW_ENVIRONMENT": "development",
        "TRADEFLOW_DATABASE_PREFIX": settings.database_prefix,
        "TRADEFLOW_TOPIC_PREFIX": settings.topic_prefix,
    }


def tradeflow_command() -> list[str]:
    script = Path(sys.executable).with_name("tradeflow")
    return [str(script) if script.exists() else shutil.which("tradeflow") or "tradeflow"]


def launch(settings: Settings, log: Path, source: Path | None = None) -> subprocess.Popen[bytes]:
    """``tradeflow ledger consume``; with ``source``, the same command of another checkout
    of the code (``python -m services.cli`` run from there, e.g. the code before a change)."""
    command, cwd, env = [*tradeflow_command(), "ledger", "consume"], None, env_for(settings)
    if source is not None:
        command = [sys.executable, "-m", "services.cli", "ledger", "consume"]
        cwd, env = str(source), {**env, "PYTHONPATH": str(source)}
    out = log.open("ab")
    try:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=out)
    finally:
        out.close()


def spy(pid: int, raw: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` attached to ``pid``: raw collapsed stacks, idle samples included (so
    waiting shows beside working); stopped with SIGINT, when it writes ``raw``."""
    exe = Path(sys.executable).with_name("py-spy")
    command = [str(exe) if exe.exists() else "py-spy", "record", "--pid", str(pid), "--format",
               "raw", "--idle", "--rate", "200", "--output", str(raw)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(processes: Sequence[subprocess.Popen[bytes]], within: float = 30) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGINT if "py-spy" in str(p.args) else signal.SIGTERM)
    for p in processes:
        try:
            p.wait(within)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Watched:
    started: float  # perf_counter when the consumers were launched
    first_commit: float = 0.0
    last_commit: float = 0.0
    samples: Counter[str] = field(default_factory=Counter)

    @property
    def seconds(self) -> float:
        """From the launch to the commit of the last journal row."""
        return self.last_commit - self.started

    @property
    def drain_seconds(self) -> float:
        """From the first journal row committed to the last."""
        return self.last_commit - self.first_commit

    @property
    def lock_wait_share(self) -> float:
        """Share of the samples of active backends that were waiting on a lock."""
        return self.samples["Lock"] / max(1, self.samples["active"])


_LOOK = """
SELECT (SELECT coalesce(sum(head_seq), 0) FROM books) AS posted,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock') AS locked
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()
"""


async def watch(
    dsn: str,
    expected: int,
    started: float,
    processes: Sequence[subprocess.Popen[bytes]] = (),
    within: float = 1_800,
) -> Watched:
    """Poll until the books hold ``expected`` transactions (raises if a consumer process
    exits or ``within`` seconds pass)."""
    seen = Watched(started)
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            row = await conn.fetchrow(_LOOK)
            now = time.perf_counter()
            seen.samples["active"] += row["active"]
            seen.samples["Lock"] += row["locked"]
            if row["posted"] and not seen.first_commit:
                seen.first_commit = now
            if row["posted"] >= expected:
                seen.last_commit = now
                return seen
            if now - started > within:
                raise TimeoutError(f"{row['posted']} of {expected} posted in {within}s")
            for p in processes:
                if p.poll() is not None:
                    raise RuntimeError(f"consumer {p.args!r} exited with {p.returncode}")
            await asyncio.sleep(SAMPLE_EVERY)
    finally:
        await conn.close()
