"""Commands from financing: place or refuse a lien, release it. Applied once via the inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.escrow.adapters import repository
from services.escrow.domain.liens import release_lien, request_lien
from services.escrow.service_layer.context import SOURCE, EscrowContext
from services.escrow.service_layer.unit import commit_decision
from shared.events import Envelope
from shared.events.escrow import LienRefused
from shared.events.financing import LienReleaseRequested, LienRequested
from shared.inbox import Handler
from shared.outbox import add_to_outbox

ACTOR = "financing"


def lien_handler(ctx: EscrowContext) -> Handler:
    async def handle(conn: AsyncConnection, env: Envelope) -> None:
        command = env.payload()
        if not isinstance(command, LienRequested | LienReleaseRequested):
            return  # financing's other events are not for escrow
        escrow = await repository.get(conn, command.order_id, env.tenant_id)
        if escrow is None:
            if isinstance(command, LienRequested):
                refused = LienRefused(
                    order_id=command.order_id,
                    advance_id=command.advance_id,
                    reasons=["order_not_found"],
                )
                reply = Envelope.wrap(
                    refused,
                    source=SOURCE,
                    tenant_id=env.tenant_id,
                    subject=command.order_id,
                    **env.caused(),
                )
                await add_to_outbox(conn, ctx.topic, reply)
            return
        if isinstance(command, LienRequested):
            after, events = request_lien(
                escrow, command.advance_id, command.amount, command.currency, command.supplier_id
            )
        else:
            after, events = release_lien(escrow, command.advance_id, command.reason)
        # A version conflict raises: the inbox consumer retries the event on fresh state.
        await commit_decision(conn, ctx, escrow, after, events, ACTOR, cause=env)

    return handle
