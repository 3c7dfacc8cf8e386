"""The commands a platform issues over the API: manage endpoints, read the delivery log,
redeliver, send a test event. Each is ``(uow, ...) -> domain result``; refusals are the
domain's errors or ``service_layer.errors``'s.

``before_commit``, when given, sees the state about to commit (the HTTP layer registers its
answer there, for ``Idempotency-Key`` retries after a crash, shared/http/idempotency.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache

from services.webhooks.domain import model
from services.webhooks.domain.errors import EndpointDisabled, InvalidRange, TooManyEndpoints
from services.webhooks.domain.model import TEST_EVENT, Attempt, Delivery, Endpoint
from services.webhooks.domain.patterns import checked_patterns
from services.webhooks.domain.signing import new_secret
from services.webhooks.service_layer.errors import DeliveryNotFound, EndpointNotFound
from services.webhooks.service_layer.ports import Policy, Resolver, vet_url
from services.webhooks.service_layer.unit_of_work import AbstractWebhooksUnitOfWork, Page
from shared.events import new_event_id
from shared.events.registry import REGISTRY, load_all_catalogs
from shared.metadata import merge_metadata, new_metadata

SOURCE = "webhooks"
MAX_RANGE = timedelta(days=31)
MAX_RANGE_EVENTS = 10_000
# Each event goes to every endpoint of its tenant that wants it: bounded, so that one
# event is not a flood of POSTs (to one victim's URL, perhaps), and the table not endless.
MAX_ENDPOINTS_PER_TENANT = 50


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    actor: str


@dataclass(frozen=True)
class EndpointSpec:
    url: str
    enabled_events: Sequence[str]
    description: str = ""
    metadata: Mapping[str, object] | None = None
    external_reference: str | None = None


@dataclass(frozen=True)
class EndpointChanges:
    """What a PATCH changes (None: left as it is)."""

    url: str | None = None
    enabled_events: Sequence[str] | None = None
    description: str | None = None
    metadata: Mapping[str, object] | None = None  # merged; a key set to "" is removed
    enabled: bool | None = None
    external_reference: str | None = None
    clear_reference: bool = False  # remove the external_reference


@cache
def event_catalogue() -> frozenset[str]:
    """Every event type an endpoint may ask for: those of shared/events, and the test."""
    load_all_catalogs()
    return frozenset({*REGISTRY.types(), TEST_EVENT})


def new_endpoint_id() -> str:
    return f"we_{new_event_id().hex}"


def new_delivery_id() -> str:
    return f"wd_{new_event_id().hex}"


async def create_endpoint(
    uow: AbstractWebhooksUnitOfWork,
    resolver: Resolver,
    policy: Policy,
    caller: Caller,
    spec: EndpointSpec,
    now: datetime,
    before_commit: Callable[[Endpoint], object] | None = None,
) -> Endpoint:
    """A new enabled endpoint with a fresh secret (shown to the caller this once)."""
    metadata = new_metadata(spec.metadata)
    await vet_url(spec.url, resolver, policy.allow_loopback, policy.allowed_ports)
    endpoint = Endpoint(
        id=new_endpoint_id(),
        tenant_id=caller.tenant_id,
        url=spec.url,
        enabled_events=tuple(checked_patterns(spec.enabled_events, event_catalogue())),
        secret=new_secret(),
        description=spec.description,
        metadata=metadata,
        external_reference=spec.external_reference,
        created_at=now,
        updated_at=now,
    )
    async with uow:
        if await uow.endpoints.count(caller.tenant_id) >= MAX_ENDPOINTS_PER_TENANT:
            raise TooManyEndpoints(
                f"a tenant has at most {MAX_ENDPOINTS_PER_TENANT} endpoints; delete one first"
            )
        await uow.endpoints.add(endpoint)
        if before_commit is not None:
            before_commit(endpoint)
        await uow.commit()
    return endpoint


async def get_endpoint(
    uow: AbstractWebhooksUnitOfWork, tenant_id: str, endpoint_id: str
) -> Endpoint:
    async with uow:
        return await _endpoint(uow, tenant_id, endpoint_id)


async def list_endpoints(
    uow: AbstractWebhooksUnitOfWork, tenant_id: str, page: Page
) -> tuple[list[Endpoint], bool]:
    async with uow:
        return await uow.endpoints.find(tenant_id, page)


async def update_endpoint(
    uow: AbstractWebhooksUnitOfWork,
    resolver: Resolver,
    policy: Policy,
    caller: Caller,
    endpoint_id: str,
    changes: EndpointChanges,
    now: datetime,
    before_commit: Callable[[Endpoint], object] | None = None,
) -> Endpoint:
    if changes.metadata is not None:
        merge_metadata({}, changes.metadata)  # refused before anything is read
    if changes.url is not None:
        await vet_url(changes.url, resolver, policy.allow_loopback, policy.allowed_ports)
    patterns = (
        None
        if changes.enabled_events is None
        else tuple(checked_patterns(changes.enabled_events, event_catalogue()))
    )
    async with uow:
        endpoint = await _endpoint(uow, caller.tenant_id, endpoint_id, lock=True)
        updated = replace(
            endpoint,
            url=endpoint.url if changes.url is None else changes.url,
            enabled_events=endpoint.enabled_events if patterns is None else patterns,
            description=endpoint.description
            if changes.description is None
            else changes.description,
            metadata=endpoint.metadata
            if changes.metadata is None
            else merge_metadata(endpoint.metadata, changes.metadata),
            external_reference=None
            if changes.clear_reference
            else changes.external_reference or endpoint.external_reference,
            updated_at=now,
        )
        if changes.enabled is not None and changes.enabled != endpoint.enabled:
            updated = model.set_enabled(
                updated, changes.enabled, now, f"disabled by {caller.actor}"
            )
        await uow.endpoints.save(updated)
        if before_commit is not None:
            before_commit(updated)
        await uow.commit()
    return updated


async def delete_endpoint(
    uow: AbstractWebhooksUnitOfWork, caller: Caller, endpoint_id: str
) -> None:
    """The endpoint and its delivery log; what was pending for it is never sent."""
    async with uow:
        if not await uow.endpoints.delete(caller.tenant_id, endpoint_id):
            raise EndpointNotFound(endpoint_id)
        await uow.commit()


async def rotate_secret(
    uow: AbstractWebhooksUnitOfWork,
    policy: Policy,
    caller: Caller,
    endpoint_id: str,
    now: datetime,
    overlap: timedelta | None = None,
    before_commit: Callable[[Endpoint], object] | None = None,
) -> Endpoint:
    """A new secret; the old one keeps signing for ``overlap`` (the policy's by default)."""
    async with uow:
        endpoint = await _endpoint(uow, caller.tenant_id, endpoint_id, lock=True)
        rotated = model.rotate_secret(
            endpoint, new_secret(), now, policy.secret_overlap if overlap is None else overlap
        )
        await uow.endpoints.save(rotated)
        if before_commit is not None:
            before_commit(rotated)
        await uow.commit()
    return rotated


async def list_deliveries(
    uow: AbstractWebhooksUnitOfWork, tenant_id: str, endpoint_id: str, page: Page
) -> tuple[list[tuple[Delivery, list[Attempt]]], bool]:
    async with uow:
        await _endpoint(uow, tenant_id, endpoint_id)
        return await uow.deliveries.find(endpoint_id, page)


async def redeliver(
    uow: AbstractWebhooksUnitOfWork,
    caller: Caller,
    endpoint_id: str,
    delivery_id: str,
    now: datetime,
    before_commit: Callable[[Delivery], object] | None = None,
) -> Delivery:
    """The same event (same ``webhook-id``, so the receiver may deduplicate) sent again, as a
    new delivery with the full retry schedule."""
    async with uow:
        endpoint = await _enabled(uow, caller.tenant_id, endpoint_id)
        original = await uow.deliveries.get(caller.tenant_id, endpoint.id, delivery_id)
        if original is None:
            raise DeliveryNotFound(delivery_id)
        again = _again(original, now)
        await uow.deliveries.add_all([again])
        if before_commit is not None:
            before_commit(again)
        await uow.commit()
    return again


async def redeliver_range(
    uow: AbstractWebhooksUnitOfWork,
    caller: Caller,
    endpoint_id: str,
    since: datetime,
    until: datetime,
    now: datetime,
    only_failed: bool = True,
    before_commit: Callable[[list[Delivery]], object] | None = None,
) -> list[Delivery]:
    """Every event first sent to the endpoint in [since, until) again (by default only those
    whose latest delivery failed for good); a range holding more than ``MAX_RANGE_EVENTS``
    of them is ``InvalidRange`` and queues nothing (narrow it)."""
    if until <= since:
        raise InvalidRange("until must be after since")
    if until - since > MAX_RANGE:
        raise InvalidRange(f"a range spans at most {MAX_RANGE.days} days")
    async with uow:
        endpoint = await _enabled(uow, caller.tenant_id, endpoint_id)
        chosen = await uow.deliveries.latest_per_event(
            endpoint.id, since, until, MAX_RANGE_EVENTS + 1, model.FAILED if only_failed else None
        )
        if len(chosen) > MAX_RANGE_EVENTS:
            raise InvalidRange(
                f"the range holds more than {MAX_RANGE_EVENTS} events to send again; narrow it"
            )
        again = [_again(d, now) for d in chosen]
        await uow.deliveries.add_all(again)
        if before_commit is not None:
            before_commit(again)
        await uow.commit()
    return again


async def send_test(
    uow: AbstractWebhooksUnitOfWork,
    caller: Caller,
    endpoint_id: str,
    now: datetime,
    before_commit: Callable[[Delivery], object] | None = None,
) -> Delivery:
    """A ``webhook.test`` event to the endpoint, whatever types it asked for."""
    async with uow:
        endpoint = await _enabled(uow, caller.tenant_id, endpoint_id)
        event_id = str(new_event_id())
        payload = model.public_event(
            id=event_id,
            type=TEST_EVENT,
            source=SOURCE,
            time=now,
            subject=endpoint.id,
            tenant=caller.tenant_id,
            version=1,
            data={"endpoint_id": endpoint.id, "message": "a test event from Tradeflow"},
        )
        delivery = Delivery(
            id=new_delivery_id(),
            tenant_id=caller.tenant_id,
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=TEST_EVENT,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        await uow.deliveries.add_all([delivery])
        if before_commit is not None:
            before_commit(delivery)
        await uow.commit()
    return delivery


def _again(original: Delivery, now: datetime) -> Delivery:
    return replace(
        original,
        id=new_delivery_id(),
        status=model.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        redelivery_of=original.id,
    )


async def _endpoint(
    uow: AbstractWebhooksUnitOfWork, tenant_id: str, endpoint_id: str, *, lock: bool = False
) -> Endpoint:
    endpoint = await uow.endpoints.get(tenant_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise EndpointNotFound(endpoint_id)
    return endpoint


async def _enabled(uow: AbstractWebhooksUnitOfWork, tenant_id: str, endpoint_id: str) -> Endpoint:
    endpoint = await _endpoint(uow, tenant_id, endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled(f"endpoint {endpoint_id} is disabled; enable it first")
    return endpoint
