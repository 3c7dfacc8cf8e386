"""The trades of a chaos run, driven over the services' public HTTP APIs only.

Five kinds, mixed at random, each in USD, EUR, JPY or KWD (three decimals):
- ``full``: 30/40/30 released in order; some milestones by the buyer's acceptance, some by
  their inspection window lapsing (the durable timer releases them);
- ``advance``: the supplier takes an advance on the funded order, the releases repay it;
- ``dispute``: the buyer disputes the shipment milestone, finance splits it to the cent;
- ``cancel``: cancelled before shipment (sometimes after the deposit was released), the rest
  refunded through Stripe;
- ``recourse``: an advance, then cancellation: the refund leaves the advance unpaid, which
  financing turns into a recourse claim on the supplier.
A trade records what it did (ids, the advance's principal, the split, which milestones lapsed);
``verify.py`` derives from that alone what every figure must be at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from shared.money import allocate
from tests.chaos.client import Service

T = TypeVar("T")

KINDS = {"full": 35, "advance": 25, "dispute": 15, "cancel": 15, "recourse": 10}
# Totals in minor units: USD/EUR cents, yen, fils (3 decimals).
TOTALS = {
    "USD": (100_000, 25_000_000),
    "EUR": (100_000, 25_000_000),
    "JPY": (100_000, 30_000_000),
    "KWD": (300_000, 80_000_000),
}
FEE_BPS = 150
FIXED_FEES = {"USD": 2_500, "EUR": 2_000, "JPY": 300, "KWD": 2_000}
LAPSE_WINDOW = 2  # seconds: an inspection window the timer closes
LONG_WINDOW = 86_400  # a window nobody waits for: the buyer accepts inside it
SUPPLIERS = 5
WEBHOOK_SECRET = "whsec_tradeflow_dev"


class TradeFailed(RuntimeError):
    pass


@dataclass
class Tenant:
    tenant_id: str
    platform: dict[str, str]
    finance: dict[str, str]
    suppliers: dict[str, dict[str, str]]  # supplier id -> its bound key's header


@dataclass
class Trade:
    n: int
    kind: str
    tenant: Tenant
    currency: str
    total: int
    amounts: list[int]
    supplier_id: str
    order_id: str | None = None
    milestone_ids: list[str] = field(default_factory=list)
    lapsed: list[str] = field(default_factory=list)  # released by the inspection-window timer
    advance_id: str | None = None
    principal: int | None = None
    split_release: int | None = None
    deposit_released_before_cancel: bool = False
    error: str | None = None
    done: bool = False


@dataclass
class Apis:
    escrow: Service
    ledger: Service
    financing: Service


async def eventually(
    what: str, probe: Callable[[], Awaitable[T | None]], within: float, first: float = 0.0
) -> T:
    """Poll ``probe`` until it returns something, after ``first`` seconds, backing off."""
    deadline = time.monotonic() + within
    await asyncio.sleep(first)
    pause = 0.4
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TradeFailed(f"timed out after {within:.0f}s waiting for {what}")
        await asyncio.sleep(pause * random.uniform(0.7, 1.3))
        pause = min(pause * 1.5, 3.0)


def plan(n: int, tenant: Tenant, rng: random.Random) -> Trade:
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    currency = rng.choice(list(TOTALS))
    low, high = TOTALS[currency]
    total = rng.randint(low, high)
    supplier = rng.choice(list(tenant.suppliers))
    return Trade(n, kind, tenant, currency, total, allocate(total, [30, 40, 30]), supplier)


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """A webhook body and header signed the way Stripe signs them."""
    body = json.dumps(event).encode()
    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={sig}", "Content-Type": "application/json"}


class Driver:
    def __init__(self, apis: Apis, rng: random.Random, wait: float) -> None:
        self.api, self.rng, self.wait = apis, rng, wait

    async def _ok(self, r: httpx.Response, *ok: int) -> Any:
        if r.status_code not in (ok or (200, 201)):
            raise TradeFailed(
                f"{r.request.method} {r.request.url.path} -> {r.status_code}: {r.text[:400]}"
            )
        return r.json()

    async def order(self, t: Trade) -> Any:
        r = await self.api.escrow.call("GET", f"/v1/orders/{t.order_id}", t.tenant.platform)
        return await self._ok(r)

    async def escrow_post(self, t: Trade, path: str, who: dict[str, str], body: Any) -> Any:
        r = await self.api.escrow.call("POST", f"/v1/orders/{t.order_id}{path}", who, json=body)
        return await self._ok(r)

    # --- steps ----------------------------------------------------------------------------
    async def create(self, t: Trade, windows: list[int]) -> None:
        kinds = ["contract", "shipment", "delivery"]
        milestones: list[dict[str, Any]] = [
            {"name": f"{k} #{t.n}", "amount": a, "kind": k, "inspection_window_seconds": w}
            for k, a, w in zip(kinds, t.amounts, windows, strict=True)
        ]
        milestones[2]["evidence_required"] = ["delivery", "inspection"]
        body = {
            "buyer_id": f"buyer-{t.n % 37}",
            "supplier_id": t.supplier_id,
            "supplier_account_id": f"acct_1{t.supplier_id.replace('-', '')}",
            "currency": t.currency,
            "total": t.total,
            "milestones": milestones,
        }
        r = await self.api.escrow.call("POST", "/v1/orders", t.tenant.platform, json=body)
        order = await self._ok(r, 201)
        t.order_id = order["order_id"]
        t.milestone_ids = [m["milestone_id"] for m in order["milestones"]]

    async def fund(self, t: Trade) -> None:
        funding = await self.escrow_post(t, "/fund", t.tenant.platform, {})
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": funding["stripe_payment_intent_id"],
                    "object": "payment_intent",
                    "amount": funding["amount"],
                    "amount_received": funding["amount"],
                    "currency": t.currency.lower(),
                    "latest_charge": f"ch_{uuid.uuid4().hex[:14]}",
                    "metadata": {"order_id": t.order_id, "payment_id": funding["payment_id"]},
                }
            },
        }
        # Stripe delivers at least once: now and then the same event comes twice.
        for _ in range(2 if self.rng.random() < 0.25 else 1):
            body, headers = signed(event)
            r = await self.api.escrow.call(
                "POST", "/v1/webhooks/stripe", headers, content=body, idempotent=False
            )
            await self._ok(r, 200)

        async def funded() -> Any:
            o = await self.order(t)
            return o if o["status"] == "funded" else None

        await eventually("funding", funded, self.wait)

    async def released(self, t: Trade, index: int) -> Any:
        mid = t.milestone_ids[index]

        async def paid() -> Any:
            o = await self.order(t)
            m = next(m for m in o["milestones"] if m["milestone_id"] == mid)
            pending = [p for p in o["payouts"] if p["status"] == "pending"]
            return o if m["status"] in ("released", "refunded") and not pending else None

        lapsing = mid in t.lapsed
        return await eventually(
            f"milestone {index} released", paid, self.wait, first=LAPSE_WINDOW if lapsing else 0.0
        )

    async def accept(self, t: Trade, index: int) -> None:
        mid = t.milestone_ids[index]
        await self.escrow_post(t, f"/milestones/{mid}/accept", t.tenant.platform, {})

    async def evidence(self, t: Trade, index: int, *evidence: dict[str, Any]) -> None:
        mid = t.milestone_ids[index]
        for ev in evidence:
            await self.escrow_post(
                t,
                f"/milestones/{mid}/evidence",
                t.tenant.suppliers[t.supplier_id],
                {"evidence": ev},
            )

    async def ship(self, t: Trade) -> None:
        await self.evidence(
            t,
            1,
            {
                "kind": "shipment",
                "document": "bill_of_lading",
                "number": f"MAEU-{t.n}",
                "carrier": "Maersk",
                "tracking": f"MSKU{t.n}",
            },
        )

    async def deliver(self, t: Trade) -> None:
        await self.evidence(
            t,
            2,
            {"kind": "delivery", "delivered_at": "2026-11-20T10:00:00Z", "received_by": "Dock 4"},
            {"kind": "inspection", "inspector": "SGS", "report_id": f"SGS-{t.n}", "passed": True},
        )

    async def release(self, t: Trade, index: int, lapse: bool) -> None:
        """Release milestone ``index`` by acceptance, or wait for its window to lapse."""
        if lapse:
            t.lapsed.append(t.milestone_ids[index])
        else:
            await self.accept(t, index)
        await self.released(t, index)

    async def completed(self, t: Trade, status: str) -> Any:
        async def final() -> Any:
            o = await self.order(t)
            busy = [p for p in (*o["payouts"], *o["refunds"]) if p["status"] == "pending"]
            return o if o["status"] == status and not busy else None

        return await eventually(f"order {status}", final, self.wait)

    async def advance(self, t: Trade) -> None:
        key = t.tenant.suppliers[t.supplier_id]

        async def offer() -> Any:
            r = await self.api.financing.call(
                "POST", "/v1/quotes", key, json={"order_id": t.order_id}
            )
            if r.status_code == 201:
                return r.json()
            body = (
                r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            )
            reasons = [
                x["code"]
                for x in ((body.get("error") or {}).get("details") or {}).get("reasons", [])
            ]
            if r.status_code == 409 and (body.get("error") or {}).get("code") == (
                "order_not_yet_known"
            ):
                return None  # financing has not read the order's creation yet
            if r.status_code == 422 and set(reasons) <= {"order_unknown", "order_not_funded"}:
                return None  # financing has not read escrow's events yet (its funding)
            raise TradeFailed(f"quote -> {r.status_code}: {r.text[:300]}")

        quote = await eventually("an advance offer", offer, self.wait)
        t.advance_id, t.principal = quote["advance_id"], quote["principal"]
        r = await self.api.financing.call(
            "POST", f"/v1/advances/{t.advance_id}/accept", key, json={}
        )
        await self._ok(r, 200)

        async def disbursed() -> Any:
            r = await self.api.financing.call("GET", f"/v1/advances/{t.advance_id}", key)
            a = await self._ok(r, 200)
            if a["state"] in ("cancelled", "rejected", "expired"):
                raise TradeFailed(f"advance {a['state']}: {a['reasons']}")
            return a if a["stripe_transfer_id"] else None

        await eventually("the lien saga and the disbursement", disbursed, self.wait)

        async def lien_placed() -> Any:
            o = await self.order(t)
            return o if o["lien"] and o["lien"]["advance_id"] == t.advance_id else None

        await eventually("escrow's lien", lien_placed, self.wait)

    async def cancel(self, t: Trade) -> None:
        await self.escrow_post(t, "/cancel", t.tenant.platform, {"reason": f"chaos {t.n}"})
        await self.completed(t, "cancelled")

    # --- trades -----------------------------------------------------------------------------
    async def run(self, t: Trade) -> None:
        try:
            await getattr(self, f"trade_{t.kind}")(t)
            t.done = True
        except Exception as exc:  # recorded, reported, and fails the run
            t.error = f"{type(exc).__name__}: {exc}"

    async def trade_full(self, t: Trade) -> None:
        lapse = [self.rng.random() < 0.5, False, self.rng.random() < 0.5]
        await self.create(t, [LAPSE_WINDOW if x else LONG_WINDOW for x in lapse])
        await self.fund(t)
        await self.release(t, 0, lapse[0])
        await self.ship(t)
        await self.release(t, 1, False)
        await self.deliver(t)
        await self.release(t, 2, lapse[2])
        await self.completed(t, "completed")

    async def trade_advance(self, t: Trade) -> None:
        # The deposit waits for the buyer: the lien must be in place before the first release.
        lapse_final = self.rng.random() < 0.5
        await self.create(
            t, [LONG_WINDOW, LONG_WINDOW, LAPSE_WINDOW if lapse_final else LONG_WINDOW]
        )
        await self.fund(t)
        await self.advance(t)
        await self.release(t, 0, False)
        await self.ship(t)
        await self.release(t, 1, False)
        await self.deliver(t)
        await self.release(t, 2, lapse_final)
        await self.completed(t, "completed")

    async def trade_dispute(self, t: Trade) -> None:
        await self.create(t, [LONG_WINDOW] * 3)
        await self.fund(t)
        await self.release(t, 0, False)
        await self.ship(t)
        shipment = t.milestone_ids[1]
        o = await self.escrow_post(
            t,
            f"/milestones/{shipment}/disputes",
            t.tenant.platform,
            {"reason": "short shipment", "evidence": [f"photo-{t.n}"]},
        )
        dispute = next(d for d in o["disputes"] if d["milestone_id"] == shipment)
        t.split_release = self.rng.randint(1, t.amounts[1] - 1)
        await self.escrow_post(
            t,
            f"/disputes/{dispute['dispute_id']}/resolve",
            t.tenant.finance,
            {"outcome": "split", "release_amount": t.split_release},
        )
        await self.released(t, 1)
        await self.deliver(t)
        await self.release(t, 2, False)
        await self.completed(t, "completed")

    async def trade_cancel(self, t: Trade) -> None:
        await self.create(t, [LONG_WINDOW] * 3)
        await self.fund(t)
        if self.rng.random() < 0.5:
            await self.release(t, 0, False)
            t.deposit_released_before_cancel = True
        await self.cancel(t)

    async def trade_recourse(self, t: Trade) -> None:
        await self.create(t, [LONG_WINDOW] * 3)
        await self.fund(t)
        await self.advance(t)
        await self.cancel(t)
