"""The services' events, fanned out to the endpoints that asked for them.

``fan_out`` runs in the inbox consumer's transaction (``WebhooksUnitOfWork.joining``): the
deliveries an event makes commit together with its inbox row, so a consumer restarted after
a crash neither loses an event's deliveries nor makes them twice. Delivering is the worker's
(``service_layer/deliveries.py``); nothing here waits on an endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from services.webhooks.domain.model import Delivery, Endpoint, public_event
from services.webhooks.domain.patterns import matches
from services.webhooks.service_layer.commands import new_delivery_id
from services.webhooks.service_layer.unit_of_work import AbstractWebhooksUnitOfWork
from shared.events import Envelope


def public_payload(env: Envelope) -> dict[str, object]:
    return public_event(
        id=str(env.id),
        type=env.type,
        source=env.source,
        time=env.occurred_at,
        subject=env.subject,
        tenant=env.tenant_id,
        version=env.version,
        data=env.data,
    )


def deliveries_for(
    envelopes: Sequence[Envelope], endpoints: Mapping[str, Sequence[Endpoint]], now: datetime
) -> list[Delivery]:
    """One delivery per event and enabled endpoint of its tenant that wants its type."""
    out: list[Delivery] = []
    for env in envelopes:
        for endpoint in endpoints.get(env.tenant_id, ()):
            if endpoint.enabled and matches(endpoint.enabled_events, env.type):
                out.append(
                    Delivery(
                        id=new_delivery_id(),
                        tenant_id=env.tenant_id,
                        endpoint_id=endpoint.id,
                        event_id=str(env.id),
                        event_type=env.type,
                        payload=public_payload(env),
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
    return out


async def fan_out(
    uow: AbstractWebhooksUnitOfWork, envelopes: Sequence[Envelope], now: datetime
) -> list[Delivery]:
    """Stage the batch's deliveries in ``uow`` (in the caller's transaction)."""
    async with uow:
        endpoints = await uow.endpoints.enabled_for({env.tenant_id for env in envelopes})
        made = deliveries_for(envelopes, endpoints, now)
        await uow.deliveries.add_all(made)
        await uow.commit()
    return made
