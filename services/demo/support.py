"""What the demo trade needs around the APIs: keys, waiting, Stripe signatures, figures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.identity.keys import create_api_key
from shared.money import Money
from shared.runtime import identity_engine
from shared.settings import Settings

T = TypeVar("T")
TOTAL, CURRENCY = 12_500_000, "USD"
DEPOSIT_WINDOW_SECONDS = 20


class DemoFailed(RuntimeError):
    pass


async def create_keys(settings: Settings, tenant: str) -> dict[str, dict[str, str]]:
    """One key per scope for the demo tenant, valid on every service; the supplier's is bound."""
    raw: dict[str, str] = {}
    engine = identity_engine(settings)
    try:
        async with engine.begin() as conn:
            for scope in ("platform", "finance", "supplier"):
                # The supplier portal's key acts for the Shenzhen supplier only.
                party = "supplier-shenzhen" if scope == "supplier" else None
                issued = await create_api_key(
                    conn, tenant, [scope], f"demo-{scope}", actor="demo", party_id=party
                )
                raw[scope] = issued.raw
    finally:
        await engine.dispose()
    return {s: {"Authorization": f"Bearer {k}"} for s, k in raw.items()}


async def until(what: str, probe: Callable[[], Awaitable[T | None]], within: float = 90) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = await probe()
        if result is not None:
            return result
        await asyncio.sleep(0.5)
    raise DemoFailed(f"timed out waiting for {what}")


def stripe_signed(payload: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={sig}", "Content-Type": "application/json"}


def amount(minor: int) -> str:
    """Minor units as a column figure: 1234567 -> '12,345.67' (the currency is in the title)."""
    major = Money(abs(minor), CURRENCY).format().split()[0]
    whole, _, cents = major.partition(".")
    sign = "-" if minor < 0 else ""
    return f"{sign}{int(whole):,}.{cents}" if cents else f"{sign}{int(whole):,}"
