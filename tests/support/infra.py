"""Where the real servers are: the environment, testcontainers, or the local scripts.

Endpoints come from KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and STRIPE_API_BASE. When they are
unset and a Docker engine answers, testcontainers starts the three servers; otherwise
deploy/local/infra.sh starts them as local processes (it reuses what already runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "DATABASE_URL": "postgresql+asyncpg://tradeflow:tradeflow@127.0.0.1:5432/postgres",
    "STRIPE_API_BASE": "http://127.0.0.1:12111",
}


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    database_url: str
    stripe_api_base: str


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _with_testcontainers(stack: ExitStack) -> Endpoints:  # pragma: no cover - needs Docker
    from testcontainers.core.container import DockerContainer
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    pg = stack.enter_context(
        PostgresContainer(
            "postgres:16", username="tradeflow", password="tradeflow", dbname="postgres"
        )
    )
    kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
    stripe = stack.enter_context(
        DockerContainer("stripe/stripe-mock:v0.203.0").with_exposed_ports(12111)
    )
    pg_url = pg.get_connection_url().replace("postgresql+psycopg2", "postgresql+asyncpg")
    stripe_base = f"http://{stripe.get_container_host_ip()}:{stripe.get_exposed_port(12111)}"
    return Endpoints(kafka.get_bootstrap_server(), pg_url, stripe_base)


def resolve(stack: ExitStack) -> Endpoints:
    if all(os.environ.get(k) for k in LOCAL):
        env = os.environ
    elif _docker_answers():
        return _with_testcontainers(stack)
    else:
        subprocess.run(["bash", str(ROOT / "deploy/local/infra.sh"), "up"], check=True)
        env = {**LOCAL, **{k: v for k, v in os.environ.items() if k in LOCAL and v}}
    return Endpoints(env["KAFKA_BOOTSTRAP_SERVERS"], env["DATABASE_URL"], env["STRIPE_API_BASE"])
