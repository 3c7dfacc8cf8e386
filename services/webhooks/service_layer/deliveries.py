"""Delivering: claim due deliveries, send one, record what came of it.

The three steps are three calls so that no transaction stays open while an endpoint is
called: ``claim`` leases due deliveries in a short transaction, ``send`` signs and POSTs one
(no database), ``record`` writes the attempt, the delivery's next state and the endpoint's
failure count in another. A worker that dies between them leaves a lease that runs out; the
delivery is then claimed again (at least once: the receiver deduplicates on ``webhook-id``).
A ``record`` is fenced by its lease: one that finds the delivery leased again by another
worker (its own lease ran out), or moved on, writes nothing; the worker stops retrying a
record when its lease ends (``entrypoints/worker.py``), so no record outlives its lease.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from services.webhooks.domain import signing
from services.webhooks.domain.model import (
    PENDING,
    Attempt,
    Delivery,
    after_attempt,
    after_delivery_attempt,
    excerpt,
)
from services.webhooks.service_layer.ports import Policy, Sender
from services.webhooks.service_layer.unit_of_work import AbstractWebhooksUnitOfWork, Claimed
from shared.events import Envelope
from shared.events.webhooks import EndpointDisabled

SOURCE = "webhooks"
USER_AGENT = "Tradeflow-Webhooks/1"


async def claim(
    uow: AbstractWebhooksUnitOfWork,
    now: datetime,
    limit: int,
    per_endpoint: int,
    lease: timedelta,
    per_tenant: int | None = None,
) -> list[Claimed]:
    async with uow:
        claimed = await uow.deliveries.claim_due(now, limit, per_endpoint, lease, per_tenant)
        await uow.commit()
    return claimed


def body_of(delivery: Delivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


async def send(claimed: Claimed, sender: Sender, now: Callable[[], datetime]) -> Attempt:
    """Sign the delivery with the endpoint's secrets in force and POST it."""
    delivery = claimed.delivery
    body = body_of(delivery)
    at = now()
    headers = {
        **signing.headers(claimed.secrets, delivery.event_id, at, body.decode()),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    started = time.monotonic()
    sent = await sender.post(claimed.url, body, headers)
    latency = sent.latency_ms or int((time.monotonic() - started) * 1000)
    return Attempt(
        delivery_id=delivery.id,
        number=delivery.attempts + 1,
        at=at,
        status_code=sent.status_code,
        latency_ms=latency,
        response_excerpt=excerpt(sent.body_excerpt),
        error=sent.error,
    )


async def record(
    uow: AbstractWebhooksUnitOfWork,
    claimed: Claimed,
    attempt: Attempt,
    policy: Policy,
    now: datetime,
) -> Delivery | None:
    """The delivery after ``attempt`` (None when it moved on without it, or is gone)."""
    async with uow:
        # The endpoint first, then the delivery: the order a delete takes them in (the
        # endpoint, then its deliveries by the cascade), so the two never deadlock.
        sent = claimed.delivery
        endpoint = await uow.endpoints.get(sent.tenant_id, sent.endpoint_id, lock=True)
        current = await uow.deliveries.lock(sent.id)
        if current is None or current.status != PENDING or current.attempts + 1 != attempt.number:
            return None
        # The fence: the lease must still be this claim's. Once another worker claimed the
        # delivery again (this lease ran out), that worker's attempt is the one recorded.
        # An expired lease nobody took over is still this claim's, and recording ends it.
        if await uow.deliveries.leased_until(sent.id) != claimed.leased_until:
            return None
        after = after_delivery_attempt(current, attempt, policy.schedule, policy.rand)
        await uow.deliveries.add_attempt(attempt)
        await uow.deliveries.save(after)
        if endpoint is not None:
            counted, disabled = after_attempt(endpoint, attempt.succeeded, now, policy.disable)
            if counted != endpoint:
                await uow.endpoints.save(counted)
            if disabled:
                notice = EndpointDisabled(
                    endpoint_id=endpoint.id,
                    url=endpoint.url,
                    consecutive_failures=counted.consecutive_failures,
                    reason=counted.disabled_reason or "consecutive failures",
                )
                await uow.outbox.add(
                    Envelope.wrap(
                        notice,
                        source=SOURCE,
                        tenant_id=endpoint.tenant_id,
                        subject=endpoint.id,
                        occurred_at=now,
                    )
                )
        await uow.commit()
    return after
