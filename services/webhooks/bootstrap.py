"""Composition root of the webhooks service: builds runtime, resolver, sender. Never at import.

Beside the four roles every service has (api, relay, consume, timers), the webhooks service
runs a fifth, ``tradeflow webhooks deliver``: the delivery worker (``entrypoints/worker.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import typer
from fastapi import APIRouter

from services.runner import ConsumerSpec, ServiceDefinition
from services.webhooks.domain.backoff import RetrySchedule
from services.webhooks.domain.model import DisablePolicy
from services.webhooks.entrypoints.worker import DeliveryWorker
from services.webhooks.service_layer.ports import Policy, Resolver, Sender
from services.webhooks.service_layer.unit_of_work import WebhooksUnitOfWork
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import ALL_SERVICES, WEBHOOKS, Settings
from shared.timers import TimerHandler

NAME = WEBHOOKS


def policy_of(settings: Settings) -> Policy:
    return Policy(
        schedule=RetrySchedule.of(settings.webhook_retry_schedule, settings.webhook_retry_jitter),
        disable=DisablePolicy(
            settings.webhook_disable_after_failures,
            timedelta(seconds=settings.webhook_disable_after_seconds),
        ),
        secret_overlap=timedelta(seconds=settings.webhook_secret_overlap_seconds),
        allow_loopback=settings.webhooks_allow_loopback,
        allowed_ports=frozenset(settings.webhook_allowed_ports),
    )


@dataclass
class WebhooksContainer:
    runtime: Runtime
    resolver: Resolver
    sender: Sender
    policy: Policy

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def topic(self) -> str:
        return self.runtime.topic

    def unit_of_work(self) -> WebhooksUnitOfWork:
        return WebhooksUnitOfWork(self.runtime.engine, self.runtime.topic)

    async def close(self) -> None:
        close = getattr(self.sender, "close", None)
        if close is not None:
            await close()
        await self.runtime.close()


async def bootstrap(
    settings: Settings | None = None,
    clock: Clock | None = None,
    resolver: Resolver | None = None,
    policy: Policy | None = None,
) -> WebhooksContainer:
    from services.webhooks.adapters.resolver import SystemResolver
    from services.webhooks.adapters.sender import HttpSender

    settings = settings or Settings()
    policy = policy or policy_of(settings)
    resolver = resolver or SystemResolver(
        settings.webhook_connect_timeout, threads=settings.webhook_dns_threads
    )
    sender = HttpSender(
        resolver,
        allow_loopback=policy.allow_loopback,
        allowed_ports=policy.allowed_ports,
        connect_timeout=settings.webhook_connect_timeout,
        read_timeout=settings.webhook_read_timeout,
        max_connections=settings.webhook_concurrency,
    )
    return WebhooksContainer(await build_runtime(NAME, settings, clock), resolver, sender, policy)


def routers() -> Sequence[APIRouter]:
    from services.webhooks.entrypoints.http import deliveries, endpoints

    return [endpoints.router, deliveries.router]


def consumers(container: WebhooksContainer) -> Sequence[ConsumerSpec]:
    from services.webhooks.entrypoints.consumers import batch_handler, handler

    settings = container.runtime.settings
    return [
        ConsumerSpec(
            "webhooks.dispatch",
            # Its own topic too: a tenant's other endpoints hear of one disabled.
            [settings.topic(s) for s in ALL_SERVICES],
            handler(container),
            batch_handler=batch_handler(container),
        )
    ]


def timers(container: WebhooksContainer) -> Mapping[str, TimerHandler]:
    return {}  # the backbone's retention timers only; retries are the worker's


def worker(container: WebhooksContainer) -> DeliveryWorker:
    s = container.runtime.settings
    return DeliveryWorker(
        container.unit_of_work,
        container.sender,
        container.policy,
        container.clock,
        concurrency=s.webhook_concurrency,
        per_endpoint=s.webhook_endpoint_concurrency,
        per_tenant=s.webhook_tenant_concurrency,
        lease=timedelta(seconds=s.webhook_connect_timeout + s.webhook_read_timeout + 35),
    )


async def run_worker(settings: Settings) -> None:
    from services.runner import _until_signalled

    container = await bootstrap(settings)
    try:
        await _until_signalled(worker(container).run)
    finally:
        await container.close()


def commands() -> typer.Typer:
    cli = typer.Typer(no_args_is_help=True)

    @cli.command("deliver")
    def deliver() -> None:
        """Send due webhook deliveries (the delivery worker)."""
        from shared.logging import configure_logging

        s = Settings()
        configure_logging(NAME, s.log_level, s.log_json)
        asyncio.run(run_worker(s))

    return cli


DEFINITION = ServiceDefinition(
    name=NAME,
    bootstrap=bootstrap,
    routers=routers,
    consumers=consumers,
    timers=timers,
    commands=commands(),
)
