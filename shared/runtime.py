"""What every service process holds: settings, its database engine, a Kafka producer, a clock,
and an engine on the identity database (API keys), which its HTTP API authenticates against."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)
from tenacity.retry import retry_base

from shared.clock import Clock, SystemClock
from shared.db import is_unavailable, make_engine
from shared.outbox import make_producer
from shared.settings import Settings


@dataclass
class Runtime:
    service: str
    settings: Settings
    engine: AsyncEngine
    producer: AIOKafkaProducer
    clock: Clock
    identity: AsyncEngine

    @property
    def topic(self) -> str:
        return self.settings.topic(self.service)

    async def close(self) -> None:
        await self.producer.stop()
        await self.engine.dispose()
        await self.identity.dispose()


async def _until_it_takes(
    work: Callable[[], Awaitable[None]], within: float, outage: retry_base
) -> None:
    """Run ``work`` until it stops failing by ``outage``, backing off up to 5 s a try."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(within),
        wait=wait_exponential(multiplier=0.2, max=5),
        retry=outage,
        reraise=True,
    ):
        with attempt:
            await work()


# How long a starting process waits for Kafka or PostgreSQL before it gives up and exits. The
# same for both: a broker restart on a loaded two-core machine took 71 s in a fault-injection
# run, and a relay restarted during it exited after the 60 s Kafka used to get, while the
# database's waiters held on. Outages are survived by waiting, not by a supervisor's restarts.
OUTAGE_PATIENCE_SECONDS = 600.0


async def while_kafka_unreachable(
    start: Callable[[], Awaitable[None]], within: float = OUTAGE_PATIENCE_SECONDS
) -> None:
    """Run ``start`` until the broker answers: services may come up before Kafka does, or be
    restarted while it is down."""
    await _until_it_takes(start, within, retry_if_exception_type(KafkaConnectionError))


async def while_database_unavailable(
    work: Callable[[], Awaitable[None]], within: float = OUTAGE_PATIENCE_SECONDS
) -> None:
    """Run ``work`` until the database takes it: a process restarted while PostgreSQL is down
    (or still recovering) waits for it rather than exiting. Other errors are raised at once."""
    await _until_it_takes(work, within, retry_if_exception(is_unavailable))


async def start_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    producer = make_producer(bootstrap_servers)
    await while_kafka_unreachable(producer.start)
    return producer


async def build_runtime(service: str, settings: Settings, clock: Clock | None = None) -> Runtime:
    engine = make_engine(settings.service_database_url(service))
    producer = await start_producer(settings.kafka_bootstrap_servers)
    return Runtime(
        service, settings, engine, producer, clock or SystemClock(), identity_engine(settings)
    )


def identity_engine(settings: Settings) -> AsyncEngine:
    """The identity database: one short query per authenticated request, so a small pool
    (up to ten, kept once opened)."""
    return make_engine(settings.identity_database_url, pool_size=10, max_overflow=0)
