"""Composition root of the ledger service: builds engine, producer and gateways. Never at import."""

from __future__ import annotations

from dataclasses import dataclass

from services.runner import ServiceDefinition
from shared.clock import Clock
from shared.runtime import Runtime, build_runtime
from shared.settings import Settings

NAME = "ledger"


@dataclass
class LedgerContainer:
    runtime: Runtime

    async def close(self) -> None:
        await self.runtime.close()


async def bootstrap(
    settings: Settings | None = None, clock: Clock | None = None
) -> LedgerContainer:
    return LedgerContainer(await build_runtime(NAME, settings or Settings(), clock))


DEFINITION = ServiceDefinition(name=NAME, bootstrap=bootstrap, routers=lambda: [])
