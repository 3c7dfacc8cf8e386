"""Whether an order financing's read model does not hold may still be on its way from escrow.

Financing knows an order only from escrow's ``escrow.order_created``, consumed from Kafka
some time after escrow committed it; it cannot ask escrow. So a quote for an order it does
not hold is either for an order that does not exist or for one whose creation has not
reached it *yet*, and only the second is worth retrying. What tells them apart, truthfully:

- Escrow's order ids are UUIDv7: each carries the millisecond it was made (by escrow, just
  before it wrote the order and its ``order_created`` event in one transaction).
- Escrow publishes one tenant's events on one partition, in order, and financing records
  how far it has read them (``escrow_watermarks``: the latest ``occurred_at`` of the
  events it folds, ``order_created`` among them, per tenant). An order made before that
  point has had its ``order_created`` read already: if financing does not hold it, it
  does not exist (or its creation was dead-lettered).

So the order is *not yet known* when its id is a UUIDv7 made after what financing has read
of the tenant's events (less ``MARGIN``, for transactions that commit out of the order of
their clocks), not in the future (beyond ``MARGIN`` of clock skew), and not older than
``horizon`` (a lag beyond it is an outage, and an id that old which never arrived is
answered as unknown rather than retried forever). Anything else is ``order_unknown``.
The answer depends only on the id and on how far financing has read, never on whether the
order exists: it tells the caller nothing about another tenant's or supplier's orders.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

MARGIN = timedelta(seconds=30)
RETRY_AFTER_SECONDS = 2  # financing reads escrow's events within about a second


def created_at(order_id: str) -> datetime | None:
    """When escrow made ``order_id``, if it is a UUIDv7 (escrow's ids are); else None."""
    try:
        uid = UUID(order_id)
    except ValueError:
        return None
    if uid.version != 7 or str(uid) != order_id:
        return None
    return datetime.fromtimestamp((uid.int >> 80) / 1000, UTC)


def may_be_on_its_way(
    order_id: str, read_up_to: datetime | None, now: datetime, horizon: timedelta
) -> bool:
    """True: escrow may have created the order after what financing has read so far of
    the tenant's events (``read_up_to``; None: nothing read yet), within ``horizon``."""
    made = created_at(order_id)
    if made is None or made > now + MARGIN or now - made > horizon:
        return False
    return read_up_to is None or made > read_up_to - MARGIN
