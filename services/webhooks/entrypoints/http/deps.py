"""What the webhooks routers depend on: the container, the platform principal, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from services.webhooks.bootstrap import WebhooksContainer
from services.webhooks.service_layer.commands import Caller
from services.webhooks.service_layer.unit_of_work import Page
from shared.http.auth import Principal, requires
from shared.http.container import container_of

Container = Annotated[WebhooksContainer, Depends(container_of(WebhooksContainer))]
Platform = Annotated[Principal, Depends(requires("platform"))]


def caller(who: Principal) -> Caller:
    return Caller(tenant_id=who.tenant_id, actor=who.actor)


def page(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    starting_after: Annotated[str | None, Query(max_length=64)] = None,
) -> Page:
    return Page(limit=limit, starting_after=starting_after)


Paged = Annotated[Page, Depends(page)]
