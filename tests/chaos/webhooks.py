"""The outbound webhooks under the faults: a real receiver, registered by every chaos tenant,
and the checks on what it received.

The receiver is an aiohttp server on 127.0.0.1 inside the chaos runner (the stack allows
loopback targets: stack.service_env), one path per tenant. It records every request, verifies
its signature with the ``standardwebhooks`` library and the secret its tenant was given, and
answers 500 to a small share of the first attempts at an event so that the delivery worker's
retries are exercised too (the run's retry schedule is seconds: stack.WEBHOOK_RETRY_SCHEDULE).

After the drain, every escrow and financing event of a tenant (from the outbox tables, as
delivery.py reads them) must have reached that tenant's endpoint at least once with a valid
signature and been answered 2xx; nothing may have reached another tenant's endpoint; the
delivery log must hold no delivery pending or failed. Duplicates are allowed (at least once)
and counted.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.chaos.client import Service
from tests.chaos.delivery import Rows
from tests.chaos.stack import Infra, connect
from tests.chaos.stats import spread
from tests.chaos.trades import Tenant
from tests.chaos.verify import Findings

EVENTS = ["escrow.*", "financing.*"]  # every public event of the trades
SOURCES = ("escrow", "financing")
FAIL_FIRST_SHARE = 0.05  # first attempts answered 500: the worker must retry them


@dataclass(frozen=True)
class Received:
    tenant: str  # whose endpoint (the path) it reached
    event_id: str  # webhook-id
    payload_tenant: str | None
    valid: bool  # the signature verified with that tenant's secret
    status: int  # what the receiver answered
    lag: float | None = None  # seconds from the event's occurred_at to its arrival here


@dataclass
class Receiver:
    """A platform's receiver for every chaos tenant: ``/hooks/<tenant id>``."""

    rng: random.Random
    fail_first_share: float = FAIL_FIRST_SHARE
    port: int = 0
    secrets: dict[str, Webhook] = field(default_factory=dict)  # tenant -> its verifier
    received: list[Received] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _runner: web.ServerRunner | None = None

    def url(self, tenant: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{tenant}"

    async def start(self) -> None:
        self._runner = web.ServerRunner(web.Server(self.handle), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        tenant = request.path.removeprefix("/hooks/")
        headers = {k.lower(): v for k, v in request.headers.items()}
        event_id = headers.get("webhook-id", "")
        verifier = self.secrets.get(tenant)
        payload: Any = None
        if verifier is not None:
            try:
                payload = verifier.verify(body, headers)
            except WebhookVerificationError:
                payload = None
        status = 200 if payload is not None else 400
        first = (tenant, event_id) not in self._seen
        self._seen.add((tenant, event_id))
        if status == 200 and first and self.rng.random() < self.fail_first_share:
            status = 500
        valid = isinstance(payload, dict)
        lag = None
        if valid and status == 200 and isinstance(payload.get("time"), str):
            lag = (datetime.now(UTC) - datetime.fromisoformat(payload["time"])).total_seconds()
        self.received.append(
            Received(
                tenant,
                event_id,
                payload.get("tenant") if valid else None,
                payload is not None,
                status,
                lag,
            )
        )
        return web.Response(status=status, text="ok" if status == 200 else "no")


async def register(webhooks: Service, tenant: Tenant, receiver: Receiver) -> str:
    """The tenant's endpoint, pointing at the receiver; its secret kept for verifying."""
    r = await webhooks.call(
        "POST",
        "/v1/webhook-endpoints",
        tenant.platform,
        json={
            "url": receiver.url(tenant.tenant_id),
            "enabled_events": EVENTS,
            "description": "chaos run receiver",
        },
    )
    assert r.status_code == 201, r.text
    receiver.secrets[tenant.tenant_id] = Webhook(r.json()["secret"])
    return str(r.json()["id"])


def check_received(
    produced: Rows, tenants: list[str], received: list[Received], f: Findings
) -> dict[str, Any]:
    """Every tenant's escrow and financing event delivered to its endpoint (signed, answered
    2xx) at least once; nothing at another tenant's; duplicates counted."""
    owner = {
        str(r["event_id"]): r["tenant_id"] for s in SOURCES for r in produced[s] if r["tenant_id"]
    }
    expected = {e: t for e, t in owner.items() if t in tenants}
    delivered: Counter[tuple[str, str]] = Counter()
    invalid = crossed = foreign = 0
    first_lag: dict[str, float] = {}
    for r in received:
        if not r.valid:
            invalid += 1
            continue
        if r.event_id not in owner:
            foreign += 1
            continue
        if owner[r.event_id] != r.tenant or r.payload_tenant != r.tenant:
            crossed += 1
            continue
        if 200 <= r.status < 300:
            delivered[(r.tenant, r.event_id)] += 1
            if r.lag is not None:
                first_lag.setdefault(r.event_id, r.lag)
    missing = Counter(t for e, t in expected.items() if not delivered[(t, e)])  # by tenant
    if missing:
        f.fail(f"webhooks: events never delivered to their tenant's endpoint: {dict(missing)}")
    if invalid:
        f.fail(f"webhooks: {invalid} deliveries whose signature did not verify")
    if crossed:
        f.fail(f"webhooks: {crossed} deliveries of another tenant's event")
    if foreign:
        f.fail(f"webhooks: {foreign} deliveries of an event no escrow or financing outbox holds")
    return {
        # From the event's occurred_at to the first copy answered 2xx here (trades included:
        # the worker keeping up with them or not).
        "delivery_lag_seconds": spread(list(first_lag.values())),
        "events_expected": len(expected),
        "events_delivered": sum(1 for e, t in expected.items() if delivered[(t, e)]),
        "requests_received": len(received),
        "answered_500": sum(1 for r in received if r.status == 500),
        "duplicates": sum(n - 1 for n in delivered.values() if n > 1),
        "events_delivered_twice_or_more": sum(1 for n in delivered.values() if n > 1),
        "invalid_signatures": invalid,
        "cross_tenant": crossed,
        "foreign": foreign,
    }


async def check_log(infra: Infra, f: Findings) -> dict[str, Any]:
    """The webhooks service's delivery log after the drain: nothing pending or failed for
    good, nothing parked, its own outbox (endpoint_disabled notices) published."""
    conn = await connect(infra, "webhooks")
    try:
        statuses = {
            r["status"]: r["n"]
            for r in await conn.fetch(
                "SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status"
            )
        }
        attempts = await conn.fetchval("SELECT count(*) FROM webhook_attempts")
        latency = await conn.fetchrow(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,"
            " max(latency_ms) AS max FROM webhook_attempts"
        )
        retried = await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE attempts > 1")
        disabled = await conn.fetchval("SELECT count(*) FROM webhook_endpoints WHERE NOT enabled")
        parked = await conn.fetch("SELECT consumer, subject, reason FROM parked_subjects")
        unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    finally:
        await conn.close()
    for status in ("pending", "failed"):
        if statuses.get(status):
            f.fail(f"webhooks: {statuses[status]} deliveries {status} after the drain")
    if disabled:
        f.fail(f"webhooks: {disabled} endpoints disabled")
    for p in parked:
        f.fail(f"webhooks: {p['consumer']} parked {p['subject']}: {p['reason'][:200]}")
    if unsent:
        f.fail(f"webhooks: {unsent} outbox rows never published")
    return {
        "log": {s: statuses.get(s, 0) for s in ("succeeded", "pending", "failed")},
        "attempts": attempts,
        "attempt_latency_ms": dict(latency) if latency is not None else {},
        "deliveries_retried": retried,
    }


async def check(
    infra: Infra, produced: Rows, tenants: list[str], receiver: Receiver, f: Findings
) -> None:
    figures = check_received(produced, tenants, receiver.received, f)
    figures.update(await check_log(infra, f))
    f.figures["webhooks"] = figures
