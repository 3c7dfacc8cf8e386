"""Financing's lien commands, consumed from its topic and applied once via the inbox.

A fetched batch is one transaction (the inbox consumer's): its use case
(``service_layer.events.apply_lien_commands``) runs in ``EscrowUnitOfWork.joining`` that
transaction, and names the commands it could not apply for the consumer to dead-letter or
retry. A single event (``lien_handler``) is a batch of one that raises what failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.service_layer import events
from services.escrow.service_layer.unit_of_work import EscrowUnitOfWork
from shared.clock import Clock
from shared.events import Envelope
from shared.inbox import BatchHandler, Failures, Handler


class Ports(Protocol):
    """What the consumer needs of the container."""

    @property
    def clock(self) -> Clock: ...

    @property
    def topic(self) -> str: ...


def lien_handler(ports: Ports) -> Handler:
    """One command (as a batch of one): raises what it could not apply."""

    async def handle(conn: AsyncConnection, env: Envelope) -> None:
        for error in (await apply_lien_commands(conn, ports, [env])).values():
            raise error

    return handle


def lien_batch_handler(ports: Ports) -> BatchHandler:
    async def handle(conn: AsyncConnection, envelopes: Sequence[Envelope]) -> Failures:
        return await apply_lien_commands(conn, ports, envelopes)

    return handle


async def apply_lien_commands(
    conn: AsyncConnection, ports: Ports, envelopes: Sequence[Envelope]
) -> Failures:
    async with EscrowUnitOfWork.joining(conn, ports.topic) as uow:
        failed = await events.apply_lien_commands(uow, ports.clock, envelopes)
        await uow.commit()
    return failed
