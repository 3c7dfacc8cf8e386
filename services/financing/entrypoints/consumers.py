"""Escrow's events, consumed from its topic and applied once via the inbox.

A fetched batch is one transaction (the inbox consumer's): its use case
(``service_layer.events.apply_escrow_events``) runs in ``FinancingUnitOfWork.joining`` that
transaction, and names the events it could not apply for the consumer to dead-letter or
retry. A single event (``escrow_event_handler``) is a batch of one that raises what failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.financing.service_layer import events
from services.financing.service_layer.gateway import TransferGateway
from services.financing.service_layer.unit_of_work import FinancingUnitOfWork
from shared.clock import Clock
from shared.events import Envelope
from shared.inbox import BatchHandler, Failures, Handler


class Ports(Protocol):
    """What the consumer needs of the container (its gateway read at each batch)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def topic(self) -> str: ...

    @property
    def gateway(self) -> TransferGateway: ...


def escrow_event_handler(ports: Ports) -> Handler:
    """One event (as a batch of one): raises what it could not apply."""

    async def handle(conn: AsyncConnection, env: Envelope) -> None:
        for error in (await apply_escrow_events(conn, ports, [env])).values():
            raise error

    return handle


def escrow_event_batch_handler(ports: Ports) -> BatchHandler:
    async def handle(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        return await apply_escrow_events(conn, ports, envelopes)

    return handle


async def apply_escrow_events(
    conn: AsyncConnection, ports: Ports, envelopes: Sequence[Envelope]
) -> Failures:
    async with FinancingUnitOfWork.joining(conn, ports.topic) as uow:
        failed = await events.apply_escrow_events(uow, ports.clock, ports.gateway, envelopes)
        await uow.commit()
    return failed
