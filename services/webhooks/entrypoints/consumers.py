"""The services' events, consumed from their topics and fanned out once via the inbox.

A fetched batch is one transaction (the inbox consumer's): ``service_layer.events.fan_out``
runs in ``WebhooksUnitOfWork.joining`` it, so the batch's deliveries commit with its inbox
rows. A single event (``handler``) is a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.service_layer import events
from services.webhooks.service_layer.unit_of_work import WebhooksUnitOfWork
from shared.clock import Clock
from shared.events import Envelope
from shared.inbox import BatchHandler, Failures, Handler


class Ports(Protocol):
    @property
    def clock(self) -> Clock: ...

    @property
    def topic(self) -> str: ...


async def fan_out(conn: AsyncConnection, ports: Ports, envelopes: Sequence[Envelope]) -> None:
    await events.fan_out(
        WebhooksUnitOfWork.joining(conn, ports.topic), envelopes, ports.clock.now()
    )


def handler(ports: Ports) -> Handler:
    async def handle(conn: AsyncConnection, env: Envelope) -> None:
        await fan_out(conn, ports, [env])

    return handle


def batch_handler(ports: Ports) -> BatchHandler:
    async def handle(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        await fan_out(conn, ports, envelopes)
        return {}

    return handle
