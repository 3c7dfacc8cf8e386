"""Webhook endpoints: register, read, list, change, delete, rotate the secret, send a test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from services.webhooks.entrypoints.http.deps import Container, Paged, Platform, caller
from services.webhooks.entrypoints.http.errors import answered
from services.webhooks.entrypoints.http.schemas import (
    DeliveryPublic,
    EndpointCreate,
    EndpointDeleted,
    EndpointPublic,
    EndpointUpdate,
    EndpointWithSecret,
    RotateSecret,
)
from services.webhooks.service_layer import commands
from shared.http.idempotency import answer, answer_secret
from shared.http.pagination import ListOf
from shared.pagination import Window

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such endpoint of this tenant (`webhook_endpoint_not_found`)"},
    422: {"description": "`url_not_allowed`, `invalid_event_pattern` or `validation_error`"},
}
PLATFORM_DATA: dict[int | str, dict[str, Any]] = {
    400: {"description": "`invalid_metadata` (50 keys, 40-character keys, 500-character values)"},
    409: {"description": "`duplicate_external_reference`: another endpoint of the tenant has it"},
}


@router.post(
    "",
    status_code=201,
    responses={
        **REFUSALS,
        400: PLATFORM_DATA[400],
        409: {
            "description": "`too_many_endpoints` (50 a tenant), or `duplicate_external_reference`"
        },
    },
)
async def create(
    body: EndpointCreate, who: Platform, c: Container, response: Response
) -> EndpointWithSecret:
    """Register an endpoint. The answer holds its signing secret, which is never shown again
    (rotate it to get a new one): a retry with the same ``Idempotency-Key`` answers ``409
    secret_shown_once`` with the endpoint less its secret."""
    response.headers["Cache-Control"] = "no-store"
    spec = commands.EndpointSpec(
        body.url, body.enabled_events, body.description, body.metadata, body.external_reference
    )
    with answered():
        endpoint = await commands.create_endpoint(
            c.unit_of_work(),
            c.resolver,
            c.policy,
            caller(who),
            spec,
            c.clock.now(),
            lambda e: answer_secret(EndpointWithSecret.of(e)),
        )
    return EndpointWithSecret.of(endpoint)


@router.get("")
async def list_endpoints(
    request: Request, who: Platform, c: Container, page: Paged
) -> ListOf[EndpointPublic]:
    """Newest first, in pages (``starting_after``: the last endpoint's ``id``)."""
    with answered():
        found, more = await commands.list_endpoints(c.unit_of_work(), who.tenant_id, page)
    return ListOf[EndpointPublic].of(Window(found, more), request, EndpointPublic.of)


@router.get("/{endpoint_id}", responses=REFUSALS)
async def get(endpoint_id: str, who: Platform, c: Container) -> EndpointPublic:
    with answered():
        return EndpointPublic.of(
            await commands.get_endpoint(c.unit_of_work(), who.tenant_id, endpoint_id)
        )


@router.patch("/{endpoint_id}", responses={**REFUSALS, **PLATFORM_DATA})
async def update(
    endpoint_id: str, body: EndpointUpdate, who: Platform, c: Container
) -> EndpointPublic:
    """Change the URL, the events, the description, ``metadata`` (merged: a key set to
    ``""`` is removed) or ``external_reference`` (``null`` removes it); ``enabled: false``
    disables the endpoint (nothing is sent to it), ``enabled: true`` enables it again."""
    changes = commands.EndpointChanges(
        body.url,
        body.enabled_events,
        body.description,
        body.metadata,
        body.enabled,
        body.external_reference,
        clear_reference="external_reference" in body.model_fields_set
        and body.external_reference is None,
    )
    with answered():
        endpoint = await commands.update_endpoint(
            c.unit_of_work(),
            c.resolver,
            c.policy,
            caller(who),
            endpoint_id,
            changes,
            c.clock.now(),
            lambda e: answer(EndpointPublic.of(e)),
        )
    return EndpointPublic.of(endpoint)


@router.delete("/{endpoint_id}", responses=REFUSALS)
async def delete(endpoint_id: str, who: Platform, c: Container) -> EndpointDeleted:
    answer(EndpointDeleted(id=endpoint_id))
    with answered():
        await commands.delete_endpoint(c.unit_of_work(), caller(who), endpoint_id)
    return EndpointDeleted(id=endpoint_id)


@router.post("/{endpoint_id}/rotate-secret", responses=REFUSALS)
async def rotate_secret(
    endpoint_id: str,
    who: Platform,
    c: Container,
    response: Response,
    body: RotateSecret | None = None,
) -> EndpointWithSecret:
    """A new secret, shown once. Until ``previous_secret_expires_at`` (24 h by default) each
    delivery carries a signature by the old secret too, so receivers can switch over. A
    retry with the same ``Idempotency-Key`` answers ``409 secret_shown_once``."""
    response.headers["Cache-Control"] = "no-store"
    seconds = body.expire_previous_after_seconds if body else None
    overlap = None if seconds is None else timedelta(seconds=seconds)
    with answered():
        endpoint = await commands.rotate_secret(
            c.unit_of_work(),
            c.policy,
            caller(who),
            endpoint_id,
            c.clock.now(),
            overlap,
            lambda e: answer_secret(EndpointWithSecret.of(e)),
        )
    return EndpointWithSecret.of(endpoint)


@router.post(
    "/{endpoint_id}/test",
    status_code=202,
    responses={**REFUSALS, 409: {"description": "`endpoint_disabled`"}},
)
async def send_test(endpoint_id: str, who: Platform, c: Container) -> DeliveryPublic:
    """Queue a ``webhook.test`` event for the endpoint (whatever events it asked for)."""
    with answered():
        delivery = await commands.send_test(
            c.unit_of_work(),
            caller(who),
            endpoint_id,
            c.clock.now(),
            lambda d: answer(DeliveryPublic.of(d)),
        )
    return DeliveryPublic.of(delivery)
