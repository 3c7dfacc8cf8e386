"""The ledger's consumer as it runs (its ServiceDefinition's batch handler) on real Kafka and
PostgreSQL: an unpostable event in a batch is set aside with its subject, and the rest of the
batch is posted in the same go, no event handed over twice."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.bootstrap import LedgerContainer, consumers
from shared.clock import ManualClock
from shared.events import Envelope
from shared.outbox import publish
from shared.parking import read_dead_letters
from shared.runtime import Runtime
from shared.settings import Settings
from tests.conftest import create_topic
from tests.integration.ledger.helpers import funded, natural, released
from tests.support.consumers import Recorded, consumer_of, run_to_end

pytestmark = pytest.mark.integration


async def test_an_unpostable_event_is_set_aside_and_the_rest_posted_in_one_go(
    ledger: AsyncEngine,
    identity: AsyncEngine,
    tenant: str,
    settings: Settings,
    unique_topic: str,
    producer: AIOKafkaProducer,
) -> None:
    await create_topic(settings.kafka_bootstrap_servers, unique_topic, partitions=1)
    runtime = Runtime("ledger", settings, ledger, producer, ManualClock(), identity)
    (spec,) = consumers(LedgerContainer(runtime))
    good = [funded(tenant, f"o{i}", 1_000 + i, 1_000 + i) for i in range(40)]
    bad = released(tenant, "o7", 1_000, 10, 0, held_after=0)  # gross != fee + lien + net
    bad = Envelope(**{**bad.model_dump(), "data": {**bad.data, "supplier_net": 1}})
    after = released(tenant, "o7", 1_007, 10, 0, held_after=0)  # o7's next: parked behind it
    envs = [*good[:20], bad, *good[20:], after]
    await publish(producer, unique_topic, envs)
    assert spec.batch_handler is not None
    recorded = Recorded(spec.batch_handler)
    name = f"ledger-batches-{uuid.uuid4().hex[:8]}"
    consumer = consumer_of(
        spec, ledger, settings.kafka_bootstrap_servers, producer, unique_topic, name=name,
        batch=recorded,
    )  # fmt: skip
    assert await run_to_end(consumer, len(envs)) == len(envs)

    assert await natural(ledger, tenant, "escrow_held", "o7") == 1_007  # funded, not released
    total = sum([await natural(ledger, tenant, "escrow_held", f"o{i}") for i in range(40)])
    assert total == sum(1_000 + i for i in range(40))
    handed = [e.id for batch in recorded.handed for e in batch]
    assert len(handed) == len(set(handed))  # no batch re-run to find the culprit
    found = await read_dead_letters(
        settings.kafka_bootstrap_servers, f"{unique_topic}.dlq", name, within=10
    )
    assert {d.headers["ce_id"].decode(): d.headers["dlq_error_type"] for d in found} == {
        str(bad.id): b"PermanentFailure",
        str(after.id): b"SubjectParked",
    }
