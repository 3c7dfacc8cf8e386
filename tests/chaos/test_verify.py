"""The chaos run's own checks must be able to fail: consumer lag is counted, not assumed."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shared.events import Envelope
from shared.events.ledger import ChainCheckpoint
from shared.outbox import make_producer, publish
from shared.settings import SERVICES, Settings
from tests.chaos.stack import Infra
from tests.chaos.verify import lag
from tests.conftest import create_topic

pytestmark = pytest.mark.integration


async def test_lag_counts_records_no_group_has_committed(
    tmp_path: Path, settings: Settings
) -> None:
    """A quiet check that read no partitions would call any backlog quiet (it once did: a
    consumer that subscribed to nothing knew no partition of any topic)."""
    prefix = f"lagprobe-{uuid.uuid4().hex[:8]}"
    kafka = settings.kafka_bootstrap_servers
    for service in SERVICES:
        await create_topic(kafka, f"{prefix}.{service}.events", partitions=3)
    producer = make_producer(kafka)
    await producer.start()
    try:
        envs = [
            Envelope.wrap(ChainCheckpoint(book="tenant:t", seq=n, hash="a" * 64),
                          source="escrow", tenant_id=f"t{n}", subject=f"s{n}")
            for n in range(1, 4)
        ]  # fmt: skip
        await publish(producer, f"{prefix}.escrow.events", envs)
    finally:
        await producer.stop()
    behind = await lag(Infra(tmp_path, kafka_port=int(kafka.rsplit(":", 1)[1])), prefix)
    # escrow's events: financing's consumer and the ledger's have each 3 to read
    assert behind == {
        f"{prefix}.escrow.liens": 0,
        f"{prefix}.financing.escrow-events": 3,
        f"{prefix}.ledger-postings": 3,
    }
