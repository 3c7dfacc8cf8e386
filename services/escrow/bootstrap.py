"""Composition root of the escrow service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter

from services.escrow.service_layer.gateway import PaymentGateway
from services.escrow.service_layer.unit_of_work import EscrowUnitOfWork
from services.runner import ConsumerSpec, ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings
from shared.timers import TimerHandler

NAME = "escrow"


@dataclass
class EscrowContainer:
    """What the escrow's entrypoints hand their use cases: units of work on the service's
    database (events to its topic), the clock and the payment gateway. Entrypoints read
    ``gateway`` when they call, so a test may swap it on a running service."""

    runtime: Runtime
    gateway: PaymentGateway

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def topic(self) -> str:
        return self.runtime.topic

    def unit_of_work(self) -> EscrowUnitOfWork:
        """A fresh unit of work (one transaction) on the escrow database."""
        return EscrowUnitOfWork(self.runtime.engine, self.runtime.topic)

    async def close(self) -> None:
        await self.runtime.close()


async def bootstrap(
    settings: Settings | None = None,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
) -> EscrowContainer:
    from services.escrow.adapters.stripe_gateway import StripeGateway

    settings = settings or Settings()
    gateway = gateway or StripeGateway(
        settings.stripe_api_key.get_secret_value(),
        settings.stripe_api_base,
        settings.stripe_webhook_secret.get_secret_value(),
    )
    return EscrowContainer(await build_runtime(NAME, settings, clock), gateway)


def routers() -> Sequence[APIRouter]:
    from services.escrow.entrypoints.http import (
        disputes,
        fees,
        funding,
        fx,
        held,
        milestones,
        operations,
        orders,
        returns,
        tenant_settings,
        webhooks,
    )

    return [
        orders.router,
        funding.router,
        milestones.router,
        disputes.router,
        returns.router,
        fees.router,
        fx.router,
        tenant_settings.router,
        operations.router,
        held.router,
        webhooks.router,
    ]


def consumers(container: EscrowContainer) -> Sequence[ConsumerSpec]:
    from services.escrow.entrypoints.consumers import lien_batch_handler, lien_handler

    return [
        ConsumerSpec(
            "escrow.liens",
            [container.runtime.settings.topic("financing")],
            lien_handler(container),
            batch_handler=lien_batch_handler(container),
            max_records=2_000,  # a batch costs a few statements whatever its size (see bench/)
        )
    ]


def timers(container: EscrowContainer) -> Mapping[str, TimerHandler]:
    from services.escrow.entrypoints.timers import handlers

    return handlers(container)


DEFINITION = ServiceDefinition(
    name=NAME, bootstrap=bootstrap, routers=routers, consumers=consumers, timers=timers
)
