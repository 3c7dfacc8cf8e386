"""The delivery worker: ``tradeflow webhooks deliver``.

It keeps up to ``concurrency`` attempts in flight, each a task of its own, and claims more as
they finish, so a slow or dead endpoint holds only its own slots: the claim gives no endpoint
more than ``per_endpoint`` leased deliveries (across workers), and no tenant more than
``per_tenant``, so every other endpoint's and tenant's due deliveries go on being claimed
beside it. Several workers may run; ``SKIP LOCKED`` and
the leases keep them from sending one delivery twice at once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from services.webhooks.service_layer import deliveries
from services.webhooks.service_layer.ports import Policy, Sender
from services.webhooks.service_layer.unit_of_work import Claimed, UnitOfWorkFactory
from shared.clock import Clock
from shared.runtime import while_database_unavailable

log = structlog.get_logger(__name__)


class DeliveryWorker:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        sender: Sender,
        policy: Policy,
        clock: Clock,
        *,
        concurrency: int = 64,
        per_endpoint: int = 4,
        per_tenant: int = 16,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 0.5,
    ) -> None:
        self.unit_of_work, self.sender, self.policy, self.clock = (
            unit_of_work,
            sender,
            policy,
            clock,
        )
        self.concurrency, self.per_endpoint, self.lease = concurrency, per_endpoint, lease
        self.per_tenant = per_tenant
        self.poll_interval = poll_interval
        self.in_flight: set[asyncio.Task[None]] = set()

    async def claim(self) -> int:
        """Start attempts for as many due deliveries as there are free slots."""
        free = self.concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        claimed = await deliveries.claim(
            self.unit_of_work(),
            self.clock.now(),
            free,
            self.per_endpoint,
            self.lease,
            self.per_tenant,
        )
        for c in claimed:
            task = asyncio.create_task(self._deliver(c))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        return len(claimed)

    async def _deliver(self, claimed: Claimed) -> None:
        try:
            attempt = await deliveries.send(claimed, self.sender, self.clock.now)

            async def record() -> None:
                await deliveries.record(
                    self.unit_of_work(), claimed, attempt, self.policy, self.clock.now()
                )

            # Retried while the database is away, but only within this claim's lease: past
            # it the delivery may be another worker's (the record is fenced anyway).
            left = (claimed.leased_until - self.clock.now()).total_seconds()
            await while_database_unavailable(record, within=max(0.0, left))
        except Exception:  # the lease runs out and the delivery is claimed again
            log.exception("webhooks.delivery_failed", delivery_id=claimed.delivery.id)

    async def drain(self) -> None:
        """Wait for the attempts in flight."""
        while self.in_flight:
            await asyncio.gather(*list(self.in_flight), return_exceptions=True)

    async def deliver_due(self) -> int:
        """Claim and finish every delivery due now (tests, and one pass of ``run``)."""
        total = 0
        while claimed := await self.claim():
            total += claimed
            await self.drain()
        await self.drain()
        return total

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.claim()
            except Exception:
                log.exception("webhooks.claim_failed")
            waits = {asyncio.create_task(stop.wait()), *self.in_flight}
            await asyncio.wait(
                waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for w in waits:
                if w not in self.in_flight and not w.done():
                    w.cancel()
        await self.drain()
