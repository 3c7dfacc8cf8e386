"""How any Tradeflow service runs: its definition, and the processes built from it.

A service is described once by a ``ServiceDefinition`` in its bootstrap.py. From that the
CLI runs the four process roles: ``api`` (FastAPI under uvicorn), ``relay`` (outbox ->
Kafka), ``consume`` (Kafka -> inbox -> handlers) and ``timers`` (durable timer worker).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
import structlog
import typer
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import make_engine, parked_subjects
from shared.http.app import create_service_app
from shared.inbox import BatchHandler, Handler, InboxConsumer
from shared.logging import configure_logging
from shared.outbox import OutboxRelay
from shared.parking import replay
from shared.retention import ensure_scheduled, retention_timers
from shared.runtime import Runtime, while_database_unavailable, while_kafka_unreachable
from shared.settings import IDENTITY, Settings
from shared.timers import TimerHandler, TimerWorker

log = structlog.get_logger(__name__)


class Container(Protocol):
    """What every service's container has (each service's own is a dataclass in its
    bootstrap.py, with its gateways beside the runtime)."""

    @property
    def runtime(self) -> Runtime: ...

    async def close(self) -> None: ...


C = TypeVar("C", bound=Container)


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer group: which topics it reads and how it applies each event."""

    name: str
    topics: Sequence[str]
    handler: Handler
    batch_handler: BatchHandler | None = None
    max_records: int = 500  # per fetch, and so per database transaction on the batch path


@dataclass(frozen=True)
class ServiceDefinition(Generic[C]):
    name: str
    bootstrap: Callable[[Settings], Awaitable[C]]
    routers: Callable[[], Sequence[APIRouter]]
    consumers: Callable[[C], Sequence[ConsumerSpec]] = lambda _c: ()
    timers: Callable[[C], Mapping[str, TimerHandler]] = lambda _c: {}
    # Recurring timers the service starts when a timer worker comes up (idempotent).
    start_timers: Callable[[C, AsyncConnection, datetime], Awaitable[None]] | None = None
    commands: typer.Typer | None = field(default=None, compare=False)


def create_app(definition: ServiceDefinition[C], settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return create_service_app(
        service=definition.name,
        bootstrap=lambda: definition.bootstrap(settings),
        routers=definition.routers(),
    )


# Names the service whose app ``api_from_environment`` builds in each uvicorn worker process.
API_SERVICE_ENV = "TRADEFLOW_API_SERVICE"


def api_from_environment() -> FastAPI:
    """uvicorn's app factory in a worker process of ``tradeflow <svc> api --workers N``: the
    worker is a fresh interpreter, so it configures its logging and builds its own app (and,
    in the lifespan, its own engines, pools and producer)."""
    name = os.environ[API_SERVICE_ENV]
    definition: ServiceDefinition[Any] = importlib.import_module(
        f"services.{name}.bootstrap"
    ).DEFINITION
    settings = Settings()
    configure_logging(name, settings.log_level, settings.log_json)
    return create_app(definition, settings)


def api_workers(requested: int) -> int:
    """0 means one worker process per core."""
    return requested if requested > 0 else os.cpu_count() or 1


def build_consumer(spec: ConsumerSpec, container: Container) -> InboxConsumer:
    runtime = container.runtime
    return InboxConsumer(
        name=spec.name,
        topics=spec.topics,
        engine=runtime.engine,
        bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
        handler=spec.handler,
        batch_handler=spec.batch_handler,
        dlq_producer=runtime.producer,
        dlq_topic=runtime.settings.dlq_topic,
        max_records=spec.max_records,
        group_id=f"{runtime.settings.topic_prefix}.{spec.name}",
    )


async def _until_signalled(work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await work(stop)


async def run_relay(definition: ServiceDefinition[C], settings: Settings) -> None:
    container = await definition.bootstrap(settings)
    try:
        relay = OutboxRelay(container.runtime.engine, container.runtime.producer)
        await _until_signalled(relay.run)
    finally:
        await container.close()


async def run_consumers(definition: ServiceDefinition[C], settings: Settings) -> None:
    container = await definition.bootstrap(settings)
    consumers = [build_consumer(s, container) for s in definition.consumers(container)]
    try:
        for c in consumers:
            await while_kafka_unreachable(c.start)

        async def work(stop: asyncio.Event) -> None:
            await asyncio.gather(*(c.run(stop) for c in consumers), stop.wait())

        await _until_signalled(work)
    finally:
        for c in consumers:
            await c.stop()
        await container.close()


async def run_timers(definition: ServiceDefinition[C], settings: Settings) -> None:
    container = await definition.bootstrap(settings)
    try:
        runtime = container.runtime

        async def schedule() -> None:
            async with runtime.engine.begin() as conn:
                await ensure_scheduled(conn, runtime.clock.now())
                if definition.start_timers is not None:
                    await definition.start_timers(container, conn, runtime.clock.now())

        await while_database_unavailable(schedule)
        handlers = {**retention_timers(), **definition.timers(container)}
        worker = TimerWorker(runtime.engine, handlers, clock=runtime.clock)
        await _until_signalled(worker.run)
    finally:
        await container.close()


async def _print_parked(definition: ServiceDefinition[C], settings: Settings) -> None:
    engine = make_engine(settings.service_database_url(definition.name))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(parked_subjects).order_by("parked_at"))).all()
    finally:
        await engine.dispose()
    for row in rows:
        typer.echo(
            f"{row.parked_at:%Y-%m-%d %H:%M:%S}  {row.consumer}  {row.subject}  {row.reason}"
        )
    if not rows:
        typer.echo("nothing parked")


async def _replay(
    definition: ServiceDefinition[C], settings: Settings, consumer: str, subject: str
) -> int:
    container = await definition.bootstrap(settings)
    try:
        return await replay(
            container.runtime.engine,
            container.runtime.producer,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            dlq_topic=settings.dlq_topic,
            consumer=consumer,
            subject=subject,
        )
    finally:
        await container.close()


def service_cli(definition: ServiceDefinition[C]) -> typer.Typer:
    """The ``tradeflow <service> ...`` command group."""
    cli = definition.commands or typer.Typer(no_args_is_help=True)
    name = definition.name

    def settings() -> Settings:
        s = Settings()
        configure_logging(name, s.log_level, s.log_json)
        return s

    @cli.command("api")
    def api(port: int | None = None, host: str | None = None, workers: int | None = None) -> None:
        """Serve the HTTP API: in this process, or with --workers N (TRADEFLOW_API_WORKERS;
        0 = one per core) in N uvicorn worker processes sharing the port."""
        s = settings()
        bind_host, bind_port = host or s.host, port or s.service_port(name)
        n = api_workers(s.api_workers if workers is None else workers)
        if n == 1:
            uvicorn.run(create_app(definition, s), host=bind_host, port=bind_port, log_config=None)
            return
        os.environ[API_SERVICE_ENV] = name
        uvicorn.run(
            "services.runner:api_from_environment",
            factory=True,
            workers=n,
            host=bind_host,
            port=bind_port,
            log_config=None,
        )

    @cli.command("relay")
    def relay() -> None:
        """Publish committed outbox events to Kafka."""
        asyncio.run(run_relay(definition, settings()))

    @cli.command("consume")
    def consume() -> None:
        """Apply the events this service consumes."""
        asyncio.run(run_consumers(definition, settings()))

    @cli.command("timers")
    def timers() -> None:
        """Fire due durable timers."""
        asyncio.run(run_timers(definition, settings()))

    @cli.command("parked")
    def list_parked() -> None:
        """List subjects parked behind a dead-lettered event, per consumer."""
        asyncio.run(_print_parked(definition, settings()))

    @cli.command("replay")
    def replay_parked(
        consumer: str = typer.Option(..., help="Consumer group that parked the subject"),
        subject: str = typer.Option(..., help="Subject (aggregate id) to replay"),
    ) -> None:
        """Republish a parked subject's dead letters in order and unpark it (fix the cause first)."""
        count = asyncio.run(_replay(definition, settings(), consumer, subject))
        typer.echo(f"replayed {count} event(s) of {subject} for {consumer}")

    @cli.command("migrate")
    def migrate() -> None:
        """Create and migrate this service's database and the identity database (API keys)."""
        from shared.migrations import upgrade

        s = settings()
        upgrade(IDENTITY, s)
        upgrade(name, s)
        typer.echo(f"{name}: migrated")

    return cli
