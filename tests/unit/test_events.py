"""Envelope <-> Kafka record, the registry, upcasting, strict money fields."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError

from shared.events import Envelope, EventModel, EventRegistry, UnknownEventType
from shared.events.envelope import EnvelopeError
from shared.events.types import MinorUnits, MoneyModel
from tests.support.events import WidgetChanged, widget_event


def test_envelope_round_trips_through_kafka_headers() -> None:
    env = widget_event("w-1", 3)
    key, value, headers = env.to_kafka()
    names = dict(headers)
    assert key == b"w-1"
    assert names["ce_type"] == b"test.widget_changed"
    assert names["ce_id"] == str(env.id).encode()
    assert names["ce_specversion"] == b"1.0"
    assert json.loads(value) == {"widget_id": "w-1", "seq": 3, "fail": None}
    back = Envelope.from_kafka(value, headers)
    assert back == env
    assert back.payload() == WidgetChanged(widget_id="w-1", seq=3)


def test_event_ids_are_uuid7_and_a_new_conversation_correlates_to_itself() -> None:
    env = widget_event("w-1", 1)
    assert env.id.version == 7
    assert env.correlation_id == env.id and env.causation_id is None
    follow = Envelope.wrap(
        WidgetChanged(widget_id="w-1", seq=2),
        source="t",
        tenant_id="t1",
        subject="w-1",
        **{k: v for k, v in env.caused().items()},
    )
    assert follow.correlation_id == env.id and follow.causation_id == env.id


@pytest.mark.parametrize(
    ("value", "headers", "message"),
    [
        (b"{oops", [], "not JSON"),
        (b"[1]", [], "JSON object"),
        (b"{}", [("ce_type", b"x")], "missing CloudEvents headers"),
    ],
)
def test_malformed_records_are_envelope_errors(value: bytes, headers: list, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        Envelope.from_kafka(value, headers)


def test_upcasters_bring_old_versions_to_the_current_model() -> None:
    registry = EventRegistry()

    class Shipped(EventModel):
        order_id: str
        carrier: str
        tracking: list[str]

    Shipped.event_type, Shipped.event_version = "x.shipped", 3
    registry.register(Shipped)
    registry.add_upcaster("x.shipped", 1, lambda d: {**d, "carrier": "unknown"})
    registry.add_upcaster(
        "x.shipped",
        2,
        lambda d: {
            **{k: v for k, v in d.items() if k != "tracking_no"},
            "tracking": [d["tracking_no"]],
        },
    )

    loaded = registry.load("x.shipped", 1, {"order_id": "o1", "tracking_no": "T9"})
    assert loaded == Shipped(order_id="o1", carrier="unknown", tracking=["T9"])
    with pytest.raises(UnknownEventType):
        registry.load("x.shipped", 4, {})
    with pytest.raises(UnknownEventType):
        registry.load("x.unknown", 1, {})


def test_money_fields_refuse_floats_strings_and_unknown_currencies() -> None:
    assert MoneyModel(amount=100, currency="EUR").to_money().amount == 100
    for bad in (
        {"amount": 1.0, "currency": "EUR"},
        {"amount": "1", "currency": "EUR"},
        {"amount": 1, "currency": "EURO"},
        {"amount": True, "currency": "EUR"},
    ):
        with pytest.raises(ValidationError):
            MoneyModel.model_validate(bad)

    class Paid(EventModel):
        amount: MinorUnits

    with pytest.raises(ValidationError):
        Paid.model_validate_json('{"amount": 10.5}')
    assert Paid.model_validate_json('{"amount": 10}').amount == 10


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        WidgetChanged.model_validate({"widget_id": "w", "seq": 1, "surprise": True})
    assert uuid.UUID(str(widget_event("w", 1).id))


def test_events_caused_inside_a_request_or_handler_inherit_its_correlation_id() -> None:
    from shared.correlation import correlated

    conversation = uuid.uuid4()
    with correlated(conversation):
        inside = widget_event("w", 1)
    outside = widget_event("w", 2)
    assert inside.correlation_id == conversation
    assert outside.correlation_id == outside.id


def test_foreign_binary_headers_are_ignored_and_bad_ce_headers_are_envelope_errors() -> None:
    env = widget_event("w", 1)
    _, value, headers = env.to_kafka()
    traced = [*headers, ("traceparent", b"\xff\xfe binary")]
    assert Envelope.from_kafka(value, traced) == env
    broken = [(k, b"\xff\xfe" if k == "ce_type" else v) for k, v in headers]
    with pytest.raises(EnvelopeError, match="not UTF-8"):
        Envelope.from_kafka(value, broken)


def test_an_order_created_v1_is_upcast_with_no_platform_data() -> None:
    """escrow.order_created v2 carries the platform's metadata and external_reference; a v1
    event still on the topic is read as an order that had none."""
    from shared.events import REGISTRY
    from shared.events.escrow import OrderCreated

    v1 = {
        "order_id": "o1", "buyer_id": "b", "supplier_id": "s", "supplier_account_id": "acct_1",
        "currency": "USD", "total": 100, "platform_fee_bps": 100, "platform_fee_fixed": 0,
        "milestones": [
            {"milestone_id": "m1", "name": "all", "amount": 100, "kind": "contract",
             "evidence_required": [], "inspection_window_seconds": 0}
        ],
    }  # fmt: skip
    loaded = REGISTRY.load("escrow.order_created", 1, v1)
    assert isinstance(loaded, OrderCreated)
    assert loaded.metadata == {} and loaded.external_reference is None
    with pytest.raises(ValueError):  # v1 never carried them: its own model refuses them
        REGISTRY.load("escrow.order_created", 1, {**v1, "metadata": {"a": "b"}})
