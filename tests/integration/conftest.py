from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import BACKBONE, make_engine
from shared.outbox import make_producer
from shared.settings import Settings
from tests.conftest import _created, recreate_database
from tests.support.stack import intruder, prepared, stack, stack_engines  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

# A stand-in aggregate for testing the backbone itself: widgets change state, and consumers
# count the effects they apply.
EXTRA = sa.MetaData()
widgets = sa.Table(
    "widgets",
    EXTRA,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
)
effects = sa.Table(
    "effects",
    EXTRA,
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("applied", sa.BigInteger, sa.Identity(), primary_key=True),
)


@pytest.fixture(scope="session")
async def backbone_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    _created["settings"] = settings
    url = await recreate_database(settings, "backbone")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(BACKBONE.create_all)
        await conn.run_sync(EXTRA.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A started Kafka producer on the test broker."""
    p = make_producer(settings.kafka_bootstrap_servers)
    await p.start()
    yield p
    await p.stop()
