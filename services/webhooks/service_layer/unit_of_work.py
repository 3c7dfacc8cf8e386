"""The webhooks unit of work: the repositories the use cases see, and the one on PostgreSQL.

``uow.endpoints`` (a tenant's endpoints; ``enabled_for`` finds the ones an event goes to),
``uow.deliveries`` (the deliveries, their attempts, and the queue the worker claims from),
and the backbone's ``uow.outbox`` and ``uow.timers``. ``WebhooksUnitOfWork`` builds them on
its transaction (``adapters/repository.py``); ``tests/unit/webhooks/fakes.py`` keeps them in
memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.domain.model import Attempt, Delivery, Endpoint
from shared.pagination import Page
from shared.unit_of_work import AbstractUnitOfWork, SqlUnitOfWork

__all__ = ["Page"]  # the lists' page: shared/pagination.py's


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker leased, with what it needs to send it."""

    delivery: Delivery
    url: str
    secrets: tuple[str, ...]
    leased_until: datetime


class EndpointRepository(Protocol):
    async def add(self, endpoint: Endpoint) -> None: ...

    async def get(self, tenant_id: str, endpoint_id: str, *, lock: bool = False) -> Endpoint | None:
        """The tenant's endpoint (None for another tenant's); ``lock``: until the unit ends."""

    async def save(self, endpoint: Endpoint) -> None: ...

    async def delete(self, tenant_id: str, endpoint_id: str) -> bool: ...

    async def count(self, tenant_id: str) -> int:
        """How many endpoints the tenant has; until the unit ends, no other unit counting
        the same tenant's gets an answer (so a bound checked on it holds)."""

    async def find(self, tenant_id: str, page: Page) -> tuple[list[Endpoint], bool]:
        """Newest first, and whether more follow; ``InvalidCursor`` for an unknown cursor."""

    async def enabled_for(self, tenant_ids: Collection[str]) -> dict[str, list[Endpoint]]:
        """The enabled endpoints of each tenant (the tenants without any left out)."""


class DeliveryRepository(Protocol):
    async def add_all(self, deliveries: Sequence[Delivery]) -> None: ...

    async def get(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> Delivery | None: ...

    async def find(
        self, endpoint_id: str, page: Page
    ) -> tuple[list[tuple[Delivery, list[Attempt]]], bool]:
        """Newest first, each with its attempts; and whether more follow."""

    async def latest_per_event(
        self,
        endpoint_id: str,
        since: datetime,
        until: datetime,
        limit: int,
        status: str | None = None,
    ) -> list[Delivery]:
        """For each event the endpoint was sent in [since, until) (by first delivery), its
        latest delivery, only those in ``status`` when given; at most ``limit`` of them."""

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        per_endpoint: int,
        lease: timedelta,
        per_tenant: int | None = None,
    ) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries of enabled endpoints, never letting an
        endpoint have more than ``per_endpoint`` leased at once, nor a tenant more than
        ``per_tenant`` (when given); skips rows other workers hold."""

    async def lock(self, delivery_id: str) -> Delivery | None:
        """The delivery, locked until the unit ends (None if its endpoint was deleted)."""

    async def leased_until(self, delivery_id: str) -> datetime | None:
        """The end of the delivery's current lease (its fence), None when not leased."""

    async def save(self, delivery: Delivery) -> None:
        """Write its state and release its lease."""

    async def add_attempt(self, attempt: Attempt) -> None: ...


class AbstractWebhooksUnitOfWork(AbstractUnitOfWork, Protocol):
    @property
    def endpoints(self) -> EndpointRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...


UnitOfWorkFactory = Callable[[], AbstractWebhooksUnitOfWork]


class WebhooksUnitOfWork(SqlUnitOfWork):
    """One transaction on the webhooks database (``joining``: a part of the caller's)."""

    endpoints: EndpointRepository
    deliveries: DeliveryRepository

    def _open(self, conn: AsyncConnection) -> None:
        from services.webhooks.adapters.repository import SqlDeliveries, SqlEndpoints

        super()._open(conn)
        self.endpoints = SqlEndpoints(conn)
        self.deliveries = SqlDeliveries(conn)
