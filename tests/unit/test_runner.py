"""How the runner builds a service's processes from its definition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.runner import (
    API_SERVICE_ENV,
    ConsumerSpec,
    api_from_environment,
    api_workers,
    build_consumer,
)
from shared.settings import Settings


@dataclass
class _Runtime:
    settings: Settings
    engine: Any = None
    producer: Any = None


@dataclass
class _Container:
    runtime: _Runtime

    async def close(self) -> None:
        pass


async def _noop(*_: Any) -> None:
    pass


async def test_consumer_groups_belong_to_their_deployment() -> None:
    """Two deployments on one broker (two test runs, staging beside a dev loop) must not join
    one consumer group: each would rebalance the other's partitions away. The inbox keeps the
    bare consumer name, so the group can move without re-applying anything."""
    spec = ConsumerSpec("ledger-postings", ["t"], _noop)
    groups = set()
    for prefix in ("tradeflow", "staging"):
        settings = Settings(environment="test", topic_prefix=prefix)
        consumer = build_consumer(spec, _Container(_Runtime(settings)))  # type: ignore[arg-type]
        assert consumer.name == "ledger-postings"
        groups.add(consumer.consumer._group_id)
    assert groups == {"tradeflow.ledger-postings", "staging.ledger-postings"}


async def test_startup_work_waits_for_a_database_that_refuses_connections() -> None:
    """A timer worker restarted while PostgreSQL is down must wait for it, not exit: the chaos
    run found one that died on its first query when its restart overlapped a database restart."""
    from services.runner import while_database_unavailable

    tries = 0

    async def first_query() -> None:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 55432)")

    await while_database_unavailable(first_query, within=10)
    assert tries == 3


async def test_startup_work_does_not_retry_a_real_error() -> None:
    import pytest

    from services.runner import while_database_unavailable

    tries = 0

    async def broken() -> None:
        nonlocal tries
        tries += 1
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await while_database_unavailable(broken, within=10)
    assert tries == 1


def test_api_workers_zero_means_one_per_core(monkeypatch: Any) -> None:
    monkeypatch.setattr("services.runner.os.cpu_count", lambda: 2)
    assert api_workers(0) == 2
    assert api_workers(3) == 3


def test_a_worker_process_builds_the_app_of_the_service_it_is_told(monkeypatch: Any) -> None:
    """`tradeflow escrow api --workers N` hands uvicorn an import string; each worker builds
    the named service's app itself (its engines come up in the lifespan, not here)."""
    monkeypatch.setenv(API_SERVICE_ENV, "escrow")
    monkeypatch.setenv("TRADEFLOW_ENVIRONMENT", "test")
    app = api_from_environment()
    assert app.title == "Tradeflow escrow"
    assert "/v1/orders" in app.openapi()["paths"]
