"""Commands from financing: place or refuse a lien, release it (``financing.*`` events).

``apply_lien_commands`` applies a whole consumed batch in one unit of work (the consumer's
transaction, ``EscrowUnitOfWork.joining``): its escrows are locked in one statement (in id
order), each command is decided in batch order on its escrow's state as the earlier
commands left it, and the outcome is written by ``batch.write_decisions`` in three
statements. A command for an escrow that does not exist (or is another tenant's) is
answered ``lien_refused`` with ``order_not_found``. A command that cannot be decided (an
invalid event, a domain error) changes nothing, stops its order for the rest of the batch
and is returned among the failures, which the consumer dead-letters or retries; the other
orders go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from services.escrow.domain.liens import release_lien, request_lien
from services.escrow.service_layer.batch import Decided, write_decisions
from services.escrow.service_layer.decisions import SOURCE
from services.escrow.service_layer.unit_of_work import AbstractEscrowUnitOfWork
from shared.clock import Clock
from shared.events import Envelope
from shared.events.escrow import LienRefused
from shared.events.financing import LienReleaseRequested, LienRequested

ACTOR = "financing"
Command = LienRequested | LienReleaseRequested
# Looked at before an event is parsed: one of a version or type this code does not know
# stalls the consumer or parks its order, which is right only for a command escrow obeys.
COMMAND_TYPES = frozenset({LienRequested.event_type, LienReleaseRequested.event_type})


async def apply_lien_commands(
    uow: AbstractEscrowUnitOfWork, clock: Clock, envelopes: Sequence[Envelope]
) -> dict[UUID, Exception]:
    """Stage the effects of the batch's lien commands in ``uow`` (the caller commits); the
    commands that could not be applied, by event id."""
    failed: dict[UUID, Exception] = {}
    stopped: set[str] = set()  # subjects behind a failed command: the consumer parks them
    commands: list[tuple[Envelope, Command]] = []
    for env in envelopes:
        if env.subject in stopped or env.type not in COMMAND_TYPES:
            continue  # financing's other events are not for escrow, whatever their version
        try:
            command = env.payload()
        except Exception as exc:  # invalid, unknown or newer than this code: nothing done
            failed[env.id] = exc
            stopped.add(env.subject)
            continue
        if isinstance(command, LienRequested | LienReleaseRequested):
            commands.append((env, command))
    escrows = await uow.escrows.lock({c.order_id for _, c in commands})
    decided: dict[str, Decided] = {}
    replies: list[Envelope] = []
    for env, command in commands:
        if env.subject in stopped:
            continue
        mine = decided.get(command.order_id)
        escrow = mine.after if mine else escrows.get(command.order_id)
        if escrow is None or escrow.tenant_id != env.tenant_id:
            if isinstance(command, LienRequested):
                replies.append(_not_found(env, command))
            continue
        try:
            if isinstance(command, LienRequested):
                after, events = request_lien(
                    escrow, command.advance_id, command.amount, command.currency,
                    command.supplier_id,
                )  # fmt: skip
            else:
                after, events = release_lien(escrow, command.advance_id, command.reason)
        except Exception as exc:  # decided in memory: nothing was written for it
            failed[env.id] = exc
            stopped.add(env.subject)
            continue
        mine = decided.setdefault(command.order_id, Decided(escrow, escrow))
        mine.after = after
        mine.events += [(event, env) for event in events]
    await write_decisions(uow, clock, list(decided.values()), ACTOR, replies)
    return failed


def _not_found(env: Envelope, command: LienRequested) -> Envelope:
    refused = LienRefused(
        order_id=command.order_id, advance_id=command.advance_id, reasons=["order_not_found"]
    )
    return Envelope.wrap(
        refused, source=SOURCE, tenant_id=env.tenant_id, subject=command.order_id, **env.caused()
    )
