"""How the runner builds a service's processes from its definition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.runner import ConsumerSpec, build_consumer
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
