"""Events a consumer does not act on are left alone, whatever their version or type.

A rolling deploy may bring events newer than a service's code, or of a type it does not
know yet. For an event it acts on, that stalls its consumer (a newer version) or parks the
subject (an unknown type) until it is upgraded. One it ignores anyway (financing's own
statements on escrow's lien consumer, escrow's inspections on financing's) stalled the
whole consumer, or parked the order, all the same: the events were parsed before the
consumer looked at their type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from services.escrow.entrypoints.consumers import apply_lien_commands
from services.financing.entrypoints.consumers import apply_escrow_events
from shared.events import Envelope


def envelope(event_type: str, version: int) -> Envelope:
    return Envelope(
        type=event_type, version=version, source=event_type.partition(".")[0], tenant_id="t1",
        subject=f"o-{uuid4()}", correlation_id=uuid4(), data={},
    )  # fmt: skip


UNUSED = [("newer", 99), ("new type", 1)]
NO_DATABASE: Any = object()  # nothing that is ignored may reach the database


@pytest.mark.parametrize(("kind", "version"), UNUSED, ids=[k for k, _ in UNUSED])
async def test_escrow_ignores_financing_events_that_are_no_lien_commands(
    kind: str, version: int
) -> None:
    event_type = "financing.advance_disbursed" if kind == "newer" else "financing.invoice_bought"
    ctx: Any = SimpleNamespace(clock=SimpleNamespace(now=lambda: datetime.now(UTC)), topic="t")
    assert await apply_lien_commands(NO_DATABASE, ctx, [envelope(event_type, version)]) == {}


@pytest.mark.parametrize(("kind", "version"), UNUSED, ids=[k for k, _ in UNUSED])
async def test_financing_ignores_escrow_events_it_does_not_fold(kind: str, version: int) -> None:
    event_type = "escrow.inspection_started" if kind == "newer" else "escrow.shipment_tracked"
    ctx: Any = SimpleNamespace(clock=SimpleNamespace(now=lambda: datetime.now(UTC)), topic="t")
    ctx.gateway = None
    assert await apply_escrow_events(NO_DATABASE, ctx, [envelope(event_type, version)]) == {}
