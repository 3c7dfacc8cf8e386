"""deploy/docker-compose.yml cannot run here (no Docker engine); keep it valid and complete."""

from __future__ import annotations

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
    for service in services.values():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"depends on unknown service {dep}"


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci/run").read_text()
