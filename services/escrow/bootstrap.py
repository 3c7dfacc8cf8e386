"""Composition root of the escrow service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from dataclasses import dataclass

from services.runner import ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings

NAME = "escrow"


@dataclass
class EscrowContainer:
    runtime: Runtime

    async def close(self) -> None:
        await self.runtime.close()


async def bootstrap(
    settings: Settings | None = None, clock: Clock | None = None
) -> EscrowContainer:
    return EscrowContainer(await build_runtime(NAME, settings or Settings(), clock))


DEFINITION = ServiceDefinition(name=NAME, bootstrap=bootstrap, routers=lambda: [])
