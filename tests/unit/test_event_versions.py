"""Versions of an event: superseded models, upcasting through them, fixed event ids."""

from __future__ import annotations

from typing import ClassVar
from uuid import uuid4

import pytest
from pydantic import ValidationError

from shared.events import Envelope, EventModel, EventRegistry
from shared.events.types import MinorUnits


class PaidV1(EventModel):
    order_id: str
    amount: MinorUnits


class Paid(EventModel):
    id_field: ClassVar[str | None] = "payment_id"

    order_id: str
    amount: MinorUnits
    payment_id: str | None


PaidV1.event_type = Paid.event_type = "x.paid"
PaidV1.event_version, Paid.event_version = 1, 2


def registry() -> EventRegistry:
    r = EventRegistry()
    r.register(PaidV1, superseded=True)
    r.register(Paid)
    r.add_upcaster("x.paid", 1, lambda d: {**d, "payment_id": None})
    return r


def test_an_old_version_is_validated_by_its_own_model_then_upcast() -> None:
    r = registry()
    assert r.load("x.paid", 1, {"order_id": "o", "amount": 5}) == Paid(
        order_id="o", amount=5, payment_id=None
    )
    # The upcaster alone would pass these on; v1 never allowed them.
    with pytest.raises(ValidationError):
        r.load("x.paid", 1, {"order_id": "o", "amount": 5.0})
    with pytest.raises(ValidationError):
        r.load("x.paid", 1, {"order_id": "o", "amount": 5, "payment_id": "p"})
    assert r.superseded() == [PaidV1] and r.types() == {"x.paid": Paid}


def test_a_version_is_superseded_only_by_a_newer_one() -> None:
    r = EventRegistry()
    r.register(Paid)
    with pytest.raises(ValueError, match="not superseded"):
        r.register(Paid, superseded=True)
    r = EventRegistry()
    r.register(Paid, superseded=True)
    with pytest.raises(ValueError, match="superseded already"):
        r.register(Paid)


def test_an_event_may_fix_its_envelope_id() -> None:
    payment = uuid4()
    paid = Paid(order_id="o", amount=5, payment_id=str(payment))
    assert paid.envelope_id() == payment
    assert Paid(order_id="o", amount=5, payment_id=None).envelope_id() is None
    assert PaidV1(order_id="o", amount=5).envelope_id() is None
    env = Envelope.wrap(paid, source="x", tenant_id="t", subject="o", event_id=paid.envelope_id())
    assert env.id == payment and env.correlation_id == payment  # a new conversation: its own
