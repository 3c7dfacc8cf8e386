"""The supplier's desk: each of its orders beside the advance it has on it. Pure.

An order can raise an advance when its escrow is fully funded and it is still running
(financing's sizing refuses anything else, ``order_not_funded`` / ``order_closed``), and no
advance is live on it. An ``offered`` advance whose offer has not expired is the order's
offer: the amount paid now (net), the flat fee, the APR and the expected repayment date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.console.domain.formatting import parse_moment

# Advance states in which the order has an advance that is not over (financing's LIVE).
LIVE = frozenset({"accepted", "disbursed", "partially_repaid", "frozen", "recourse", "defaulted"})


@dataclass(frozen=True)
class DeskRow:
    order: dict[str, Any]
    offer: dict[str, Any] | None  # an open offer the supplier may accept
    live: dict[str, Any] | None  # the advance already taken on this order
    expected_repayment: datetime | None  # of the offer: when the releases should repay it
    headroom: dict[str, Any] | None = None  # financing's: what can still be advanced on it

    @property
    def may_ask(self) -> bool:
        """Whether to offer the "get an offer" action (financing decides, this only hides
        the button where it would certainly be refused)."""
        return self.offer is None and self.live is None and self.order["status"] == "funded"


CAP_LABELS = {
    "advance_rate": "the advance rate on what is financeable",
    "supplier_limit": "your supplier limit",
    "buyer_limit": "the buyer's limit",
    "pair_limit": "the limit for you and this buyer",
    "concentration_cap": "the concentration cap on this buyer",
}


def binding_label(code: str | None) -> str:
    return CAP_LABELS.get(code or "", (code or "").replace("_", " "))


def remaining_supplier_limit(headrooms: list[dict[str, Any]]) -> dict[str, int]:
    """Per currency, what the supplier limit still leaves (financing's ``supplier_limit``
    cap, the same on every order of the currency); a currency without one has no limit."""
    found: dict[str, int] = {}
    for room in headrooms:
        for cap in room.get("caps", []):
            if cap["code"] == "supplier_limit":
                found[str(room["currency"])] = int(cap["available"])
    return found


def open_offer(advance: dict[str, Any], now: datetime) -> bool:
    return advance["state"] == "offered" and parse_moment(advance["expires_at"]) > now


def expected_repayment(advance: dict[str, Any]) -> datetime:
    """When the releases are expected to have repaid the offer (financing's
    ``expected_repayment_at``: its quote time plus the ``term_days`` the fee is charged for)."""
    return parse_moment(advance["expected_repayment_at"])


def desk(
    orders: list[dict[str, Any]], advances: list[dict[str, Any]], now: datetime
) -> list[DeskRow]:
    """The supplier's running orders (newest first, as listed), each with its offer or its
    live advance."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    for a in advances:
        by_order.setdefault(a["order_id"], []).append(a)
    rows = []
    for order in orders:
        if order["status"] in ("completed", "cancelled"):
            continue
        mine = by_order.get(order["order_id"], [])
        live = next((a for a in mine if a["state"] in LIVE), None)
        offer = next((a for a in mine if open_offer(a, now)), None) if live is None else None
        rows.append(
            DeskRow(
                order=order,
                offer=offer,
                live=live,
                expected_repayment=expected_repayment(offer) if offer else None,
            )
        )
    return rows
