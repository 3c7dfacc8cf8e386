"""Composition root of the financing service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter

from services.financing.adapters.publisher import Publisher
from services.financing.adapters.stripe_gateway import StripeTransferGateway, TransferGateway
from services.financing.entrypoints.context import Deps
from services.financing.entrypoints.escrow_events import EscrowEventHandler
from services.financing.entrypoints.timer_handlers import timer_handlers
from services.runner import ConsumerSpec, ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings
from shared.timers import TimerHandler

NAME = "financing"


@dataclass
class FinancingContainer:
    runtime: Runtime
    deps: Deps

    async def close(self) -> None:
        await self.runtime.close()


def make_container(runtime: Runtime, gateway: TransferGateway | None = None) -> FinancingContainer:
    """Wire the dependencies around a runtime (tests pass a fake gateway)."""
    deps = Deps(
        publisher=Publisher(runtime.topic),
        clock=runtime.clock,
        gateway=gateway or StripeTransferGateway(runtime.settings),
    )
    return FinancingContainer(runtime, deps)


async def bootstrap(
    settings: Settings | None = None, clock: Clock | None = None
) -> FinancingContainer:
    return make_container(await build_runtime(NAME, settings or Settings(), clock))


def routers() -> Sequence[APIRouter]:
    from services.financing.entrypoints.api import router

    return [router]


def consumers(container: FinancingContainer) -> Sequence[ConsumerSpec]:
    handler = EscrowEventHandler(container.deps)
    return [
        ConsumerSpec(
            name="financing.escrow-events",
            topics=[container.runtime.settings.topic("escrow")],
            handler=handler,
            batch_handler=handler.apply,
            max_records=2_000,  # a batch costs a few statements whatever its size (see bench/)
        )
    ]


def timers(container: FinancingContainer) -> Mapping[str, TimerHandler]:
    return timer_handlers(container.deps)


DEFINITION = ServiceDefinition(
    name=NAME, bootstrap=bootstrap, routers=routers, consumers=consumers, timers=timers
)
