"""What every service process holds: settings, its database engine, a Kafka producer, a clock."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import Clock, SystemClock
from shared.db import make_engine
from shared.outbox import make_producer
from shared.settings import Settings


@dataclass
class Runtime:
    service: str
    settings: Settings
    engine: AsyncEngine
    producer: AIOKafkaProducer
    clock: Clock

    @property
    def topic(self) -> str:
        return self.settings.topic(self.service)

    async def close(self) -> None:
        await self.producer.stop()
        await self.engine.dispose()


async def build_runtime(service: str, settings: Settings, clock: Clock | None = None) -> Runtime:
    engine = make_engine(settings.service_database_url(service))
    producer = make_producer(settings.kafka_bootstrap_servers)
    await producer.start()
    return Runtime(service, settings, engine, producer, clock or SystemClock())
