"""Stripe webhook events -> escrow decisions. Pure mapping; I/O lives in http/webhooks.py.

Every mapping is idempotent and tolerant of order: a success counted once, a late failure
ignored, our own refunds recognised by the ``refund_id`` in their metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.escrow.domain.disputes import open_chargeback
from services.escrow.domain.errors import CurrencyMismatch
from services.escrow.domain.funding import record_funding, record_funding_failure
from services.escrow.domain.model import Escrow
from services.escrow.domain.refunds import complete_refund, record_external_refund
from services.escrow.domain.rules import Decision
from shared.events import EventModel

HANDLED = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
)


def payment_intent_of(event: dict[str, Any]) -> str | None:
    obj = event["data"]["object"]
    if event["type"].startswith("payment_intent."):
        return str(obj["id"])
    pi = obj.get("payment_intent")
    return str(pi) if pi else None


def order_of(event: dict[str, Any]) -> str | None:
    order_id = (event["data"]["object"].get("metadata") or {}).get("order_id")
    return str(order_id) if order_id else None


def _payment_id(e: Escrow, pi_id: str) -> str | None:
    return next((p.payment_id for p in e.payments if p.stripe_payment_intent_id == pi_id), None)


def _same_currency(e: Escrow, obj: dict[str, Any]) -> None:
    currency = str(obj.get("currency") or e.currency).upper()
    if currency != e.currency:
        raise CurrencyMismatch(f"{obj.get('id')} is in {currency}, the order in {e.currency}")


def decision_for(event: dict[str, Any], now: datetime) -> Callable[[Escrow], Decision]:
    kind, obj = event["type"], event["data"]["object"]
    pi_id = payment_intent_of(event) or ""

    def succeeded(e: Escrow) -> Decision:
        _same_currency(e, obj)
        payment_id = (obj.get("metadata") or {}).get("payment_id") or _payment_id(e, pi_id)
        amount = int(obj.get("amount_received") or obj["amount"])
        return record_funding(
            e,
            payment_id or f"pi:{pi_id}",
            amount,
            "stripe",
            now,
            stripe_payment_intent_id=pi_id,
            stripe_charge_id=obj.get("latest_charge"),
        )

    def failed(e: Escrow) -> Decision:
        payment_id = (obj.get("metadata") or {}).get("payment_id") or _payment_id(e, pi_id)
        error = obj.get("last_payment_error") or {}
        reason = str(error.get("code") or error.get("message") or "payment_failed")
        return record_funding_failure(e, payment_id or "", reason)

    def refunded(e: Escrow) -> Decision:
        events: list[EventModel] = []
        for refund in (obj.get("refunds") or {}).get("data", []):
            ours = (refund.get("metadata") or {}).get("refund_id")
            if ours:
                e, booked = complete_refund(e, ours, refund["id"])
            else:
                payment_id = _payment_id(e, pi_id)
                if payment_id is None:
                    continue
                _same_currency(e, refund)
                e, booked = record_external_refund(
                    e, payment_id, refund["id"], int(refund["amount"])
                )
            events += booked
        return e, events

    def disputed(e: Escrow) -> Decision:
        _same_currency(e, obj)
        amount, reason = int(obj["amount"]), str(obj.get("reason"))
        return open_chargeback(e, str(obj["id"]), amount, reason, _payment_id(e, pi_id))

    return {
        "payment_intent.succeeded": succeeded,
        "payment_intent.payment_failed": failed,
        "charge.refunded": refunded,
        "charge.dispute.created": disputed,
    }[kind]
