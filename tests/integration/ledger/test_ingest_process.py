"""The ledger's consumer as the product runs it (``tradeflow ledger consume``, a process of
its own) drains escrow events pre-loaded on Kafka into the journal: the ingest benchmark's
path at a small size, checked for correctness only (bench/ingest_bench.py measures it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import ingest_streams as streams
from bench.ingest_scenarios import check, drain, provision
from shared.settings import Settings
from tests.conftest import TEST_DB_PREFIX, _created

pytestmark = pytest.mark.integration


async def test_the_consumer_process_posts_every_event_once_and_keeps_every_chain(
    settings: Settings, tmp_path: Path
) -> None:
    _created["settings"] = settings  # the session drops the database at the end
    own = settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}ingest_",
                                      "topic_prefix": f"{settings.topic_prefix}-ingest"})  # fmt: skip
    tenants = streams.tenants_on_partitions("t", streams.TENANTS_PER_RUN)
    events = streams.trades(1_200, tenants, "t")
    await provision(own, events)
    watched, _ = await drain(own, len(events), logs=tmp_path)
    assert watched.last_commit >= watched.first_commit > watched.started
    assert await check(own, len(events)) == ""  # once each, claimed once, chains verified
