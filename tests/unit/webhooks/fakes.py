"""In-memory fakes of the webhooks unit of work and its ports, for use-case tests."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from services.webhooks.domain.model import PENDING, Attempt, Delivery, Endpoint
from services.webhooks.domain.ssrf import IpAddress
from services.webhooks.service_layer.errors import InvalidCursor
from services.webhooks.service_layer.ports import Sent
from services.webhooks.service_layer.unit_of_work import Claimed, Page
from shared.metadata import DuplicateExternalReference
from shared.unit_of_work import FakeUnitOfWork


def _page(ids: list[str], page: Page) -> tuple[list[str], bool]:
    ordered = sorted(ids, reverse=True)
    if page.starting_after is not None:
        if page.starting_after not in ordered:
            raise InvalidCursor(page.starting_after)
        ordered = ordered[ordered.index(page.starting_after) + 1 :]
    return ordered[: page.limit], len(ordered) > page.limit


class FakeEndpoints:
    def __init__(self) -> None:
        self.rows: dict[str, Endpoint] = {}

    def _check_reference(self, endpoint: Endpoint) -> None:
        ref = endpoint.external_reference
        if ref is not None and any(
            (e.tenant_id, e.external_reference) == (endpoint.tenant_id, ref) and e.id != endpoint.id
            for e in self.rows.values()
        ):
            raise DuplicateExternalReference("webhook endpoint", ref)

    async def add(self, endpoint: Endpoint) -> None:
        self._check_reference(endpoint)
        self.rows[endpoint.id] = endpoint

    async def get(self, tenant_id: str, endpoint_id: str, *, lock: bool = False) -> Endpoint | None:
        e = self.rows.get(endpoint_id)
        return e if e is not None and e.tenant_id == tenant_id else None

    async def save(self, endpoint: Endpoint) -> None:
        self._check_reference(endpoint)
        self.rows[endpoint.id] = endpoint

    async def count(self, tenant_id: str) -> int:
        return sum(e.tenant_id == tenant_id for e in self.rows.values())

    async def delete(self, tenant_id: str, endpoint_id: str) -> bool:
        if await self.get(tenant_id, endpoint_id) is None:
            return False
        del self.rows[endpoint_id]
        return True

    async def find(self, tenant_id: str, page: Page) -> tuple[list[Endpoint], bool]:
        ids, more = _page([i for i, e in self.rows.items() if e.tenant_id == tenant_id], page)
        return [self.rows[i] for i in ids], more

    async def enabled_for(self, tenant_ids: Collection[str]) -> dict[str, list[Endpoint]]:
        out: dict[str, list[Endpoint]] = {}
        for e in sorted(self.rows.values(), key=lambda e: e.id):
            if e.enabled and e.tenant_id in tenant_ids:
                out.setdefault(e.tenant_id, []).append(e)
        return out


class FakeDeliveries:
    def __init__(self, endpoints: FakeEndpoints) -> None:
        self.endpoints = endpoints
        self.rows: dict[str, Delivery] = {}
        self.leases: dict[str, datetime] = {}
        self.attempts: dict[str, list[Attempt]] = {}

    async def add_all(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            self.rows[d.id] = d

    async def get(self, tenant_id: str, endpoint_id: str, delivery_id: str) -> Delivery | None:
        d = self.rows.get(delivery_id)
        ok = d is not None and d.tenant_id == tenant_id and d.endpoint_id == endpoint_id
        return d if ok else None

    async def find(
        self, endpoint_id: str, page: Page
    ) -> tuple[list[tuple[Delivery, list[Attempt]]], bool]:
        ids, more = _page([i for i, d in self.rows.items() if d.endpoint_id == endpoint_id], page)
        return [(self.rows[i], list(self.attempts.get(i, []))) for i in ids], more

    async def latest_per_event(
        self,
        endpoint_id: str,
        since: datetime,
        until: datetime,
        limit: int,
        status: str | None = None,
    ) -> list[Delivery]:
        mine = sorted(
            (d for d in self.rows.values() if d.endpoint_id == endpoint_id), key=lambda d: d.id
        )
        first: dict[str, Delivery] = {}
        latest: dict[str, Delivery] = {}
        for d in mine:
            first.setdefault(d.event_id, d)
            latest[d.event_id] = d
        chosen = [
            latest[e]
            for e, d in first.items()
            if d.created_at
            and since <= d.created_at < until
            and (status is None or latest[e].status == status)
        ]
        return sorted(chosen, key=lambda d: d.id)[:limit]

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        per_endpoint: int,
        lease: timedelta,
        per_tenant: int | None = None,
    ) -> list[Claimed]:
        busy: dict[str, int] = {}
        tenant_busy: dict[str, int] = {}
        for i, until in self.leases.items():
            if until > now and i in self.rows:
                busy[self.rows[i].endpoint_id] = busy.get(self.rows[i].endpoint_id, 0) + 1
                tenant = self.rows[i].tenant_id
                tenant_busy[tenant] = tenant_busy.get(tenant, 0) + 1
        out: list[Claimed] = []
        due = sorted(
            (d for d in self.rows.values() if d.status == PENDING and d.next_attempt_at),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        for d in due:
            endpoint = self.endpoints.rows.get(d.endpoint_id)
            leased = self.leases.get(d.id)
            if len(out) >= limit or endpoint is None or not endpoint.enabled:
                continue
            if d.next_attempt_at is None or d.next_attempt_at > now or (leased and leased > now):
                continue
            if busy.get(d.endpoint_id, 0) >= per_endpoint:
                continue
            if per_tenant is not None and tenant_busy.get(d.tenant_id, 0) >= per_tenant:
                continue
            busy[d.endpoint_id] = busy.get(d.endpoint_id, 0) + 1
            tenant_busy[d.tenant_id] = tenant_busy.get(d.tenant_id, 0) + 1
            self.leases[d.id] = now + lease
            out.append(Claimed(d, endpoint.url, tuple(endpoint.secrets_at(now)), now + lease))
        return out

    async def lock(self, delivery_id: str) -> Delivery | None:
        return self.rows.get(delivery_id)

    async def leased_until(self, delivery_id: str) -> datetime | None:
        return self.leases.get(delivery_id)

    async def save(self, delivery: Delivery) -> None:
        self.rows[delivery.id] = delivery
        self.leases.pop(delivery.id, None)

    async def add_attempt(self, attempt: Attempt) -> None:
        self.attempts.setdefault(attempt.delivery_id, []).append(attempt)


class FakeWebhooksUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.endpoints = FakeEndpoints()
        self.deliveries = FakeDeliveries(self.endpoints)


class FakeResolver:
    def __init__(self, answers: dict[str, list[IpAddress]] | None = None) -> None:
        self.answers = answers or {}

    async def resolve(self, host: str, port: int) -> list[IpAddress]:
        import ipaddress

        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            return self.answers.get(host, [ipaddress.ip_address("93.184.215.14")])


class FakeSender:
    """Answers ``status`` (or ``error``) to every POST, and keeps what was sent."""

    def __init__(self, status: int | None = 200, error: str | None = None) -> None:
        self.status, self.error = status, error
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        self.sent.append((url, body, headers))
        return Sent(self.status, 3, b"ok", self.error)


__all__ = [
    "FakeDeliveries",
    "FakeEndpoints",
    "FakeResolver",
    "FakeSender",
    "FakeWebhooksUnitOfWork",
]
