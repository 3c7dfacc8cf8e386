"""Event models used only by the tests of the backbone."""

from __future__ import annotations

from shared.events import Envelope, EventModel, event


@event("test.widget_changed", version=1)
class WidgetChanged(EventModel):
    widget_id: str
    seq: int
    fail: str | None = None  # "always" makes the handler fail; "once" fails the first try


def widget_event(widget_id: str, seq: int, fail: str | None = None, tenant: str = "t1") -> Envelope:
    return Envelope.wrap(
        WidgetChanged(widget_id=widget_id, seq=seq, fail=fail),
        source="tests",
        tenant_id=tenant,
        subject=widget_id,
    )
