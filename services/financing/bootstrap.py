"""Composition root of the financing service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter

from services.financing.service_layer.gateway import TransferGateway
from services.financing.service_layer.unit_of_work import FinancingUnitOfWork
from services.runner import ConsumerSpec, ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings
from shared.timers import TimerHandler

NAME = "financing"


@dataclass
class FinancingContainer:
    """What financing's entrypoints hand their use cases: units of work on the service's
    database (events to its topic), the clock and the transfer gateway. Entrypoints read
    ``gateway`` when they call, so a test may swap it on a running service."""

    runtime: Runtime
    gateway: TransferGateway

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def topic(self) -> str:
        return self.runtime.topic

    def unit_of_work(self) -> FinancingUnitOfWork:
        """A fresh unit of work (one transaction) on the financing database."""
        return FinancingUnitOfWork(self.runtime.engine, self.runtime.topic)

    async def close(self) -> None:
        await self.runtime.close()


def make_container(runtime: Runtime, gateway: TransferGateway | None = None) -> FinancingContainer:
    """The container around a runtime (tests pass a gateway of their own)."""
    from services.financing.adapters.stripe_gateway import StripeTransferGateway

    return FinancingContainer(runtime, gateway or StripeTransferGateway(runtime.settings))


async def bootstrap(
    settings: Settings | None = None, clock: Clock | None = None
) -> FinancingContainer:
    return make_container(await build_runtime(NAME, settings or Settings(), clock))


def routers() -> Sequence[APIRouter]:
    from services.financing.entrypoints.http import advances, policies, quotes

    return [quotes.router, advances.router, policies.router]


def consumers(container: FinancingContainer) -> Sequence[ConsumerSpec]:
    from services.financing.entrypoints.consumers import (
        escrow_event_batch_handler,
        escrow_event_handler,
    )

    return [
        ConsumerSpec(
            name="financing.escrow-events",
            topics=[container.runtime.settings.topic("escrow")],
            handler=escrow_event_handler(container),
            batch_handler=escrow_event_batch_handler(container),
            max_records=2_000,  # a batch costs a few statements whatever its size (see bench/)
        )
    ]


def timers(container: FinancingContainer) -> Mapping[str, TimerHandler]:
    from services.financing.entrypoints.timers import handlers

    return handlers(container)


DEFINITION = ServiceDefinition(
    name=NAME, bootstrap=bootstrap, routers=routers, consumers=consumers, timers=timers
)
