"""What the webhooks routers depend on: the container, the platform principal, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.webhooks.bootstrap import WebhooksContainer
from services.webhooks.service_layer.commands import Caller
from shared.http.auth import Principal, requires
from shared.http.container import container_of
from shared.http.pagination import Paging

Container = Annotated[WebhooksContainer, Depends(container_of(WebhooksContainer))]
Platform = Annotated[Principal, Depends(requires("platform"))]


def caller(who: Principal) -> Caller:
    return Caller(tenant_id=who.tenant_id, actor=who.actor)


Paged = Paging  # the lists' pages: shared/http/pagination.py
