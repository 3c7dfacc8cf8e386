"""Defects a second review found, on the real API, PostgreSQL and resolver."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.webhooks.adapters import tables
from services.webhooks.domain.model import Attempt
from services.webhooks.service_layer import commands, deliveries
from tests.integration.webhooks.conftest import Hooks

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "host",
    [
        "a" * 64 + ".example.com",  # a DNS label holds at most 63 octets
        "a..example.com",  # an empty label
        "\u200b.example.com",  # a label that IDNA maps to nothing
    ],
)
async def test_a_host_idna_cannot_encode_is_url_not_allowed_not_500(
    hooks: Hooks, host: str
) -> None:
    r = await hooks.post(
        "/v1/webhook-endpoints", {"url": f"https://{host}/hook", "enabled_events": ["*"]}
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "url_not_allowed"


async def test_concurrent_claims_never_lease_one_delivery_twice(hooks: Hooks) -> None:
    """Two workers claiming at once: the lease check must be on the row each locks, or a
    claim whose snapshot predates another's commit leases (and sends) the row again."""
    endpoints = [await hooks.endpoint(f"/ok/race{i}") for i in range(4)]
    for _ in range(50):
        for e in endpoints:
            assert (await hooks.post(f"/v1/webhook-endpoints/{e['id']}/test")).status_code == 202
    now = hooks.clock.now()
    claims: list[str] = []

    async def claimer() -> None:
        for _ in range(40):
            got = await deliveries.claim(
                hooks.container.unit_of_work(), now, 2, 1_000, timedelta(seconds=60)
            )
            claims.extend(c.delivery.id for c in got)

    await asyncio.gather(*(claimer() for _ in range(8)))
    for e in endpoints:  # their deliveries with them: no later test's worker sends them
        r = await hooks.client.delete(f"/v1/webhook-endpoints/{e['id']}", headers=hooks.platform)
        assert r.status_code == 200
    assert len(claims) == len(set(claims)), "a delivery was leased twice while its lease held"


async def test_a_range_redelivery_is_bounded_after_choosing_the_failed_events(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound on a range applied before ``only_failed``: the first N events of the
    range were taken, then filtered, so failed events past them were silently never sent
    again; and a range over the bound was cut short with ``has_more: false``."""
    endpoint = await hooks.endpoint("/ok/range")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    since = hooks.clock.now()
    made = []
    for _ in range(3):
        made.append((await hooks.post(f"{path}/test")).json()["id"])
        hooks.clock.advance(timedelta(seconds=1))
    async with hooks.engine.begin() as conn:
        for delivery_id, status in zip(made, ("succeeded", "succeeded", "failed"), strict=True):
            await conn.execute(
                tables.deliveries.update()
                .where(tables.deliveries.c.id == delivery_id)
                .values(status=status, next_attempt_at=None)
            )
    monkeypatch.setattr(commands, "MAX_RANGE_EVENTS", 2)
    window = {"since": since.isoformat(), "until": hooks.clock.now().isoformat()}
    try:
        r = await hooks.post(f"{path}/redeliver", window)
        assert r.status_code == 202, r.text
        assert [d["redelivery_of"] for d in r.json()["data"]] == [made[2]]
        r = await hooks.post(f"{path}/redeliver", {**window, "only_failed": False})
        assert r.status_code == 422, r.text  # 3 events, over the bound of 2: nothing queued
        assert r.json()["error"]["code"] == "invalid_range"
        log = (await hooks.deliveries(endpoint["id"])).json()["data"]
        assert len(log) == 4
    finally:
        await hooks.client.delete(path, headers=hooks.platform)


@pytest.mark.parametrize(
    "window",
    [
        {"since": "0001-01-01T00:00:00+23:59", "until": "0001-01-01T01:00:00+23:59"},
        {"since": "9999-12-31T00:00:00-23:59", "until": "9999-12-31T01:00:00-23:59"},
    ],
)
async def test_a_range_outside_what_utc_can_hold_is_a_typed_422_not_500(
    hooks: Hooks, window: dict[str, str]
) -> None:
    """Valid aware datetimes whose UTC instant is before year 1 or after 9999."""
    endpoint = await hooks.endpoint("/ok/range-edge")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    try:
        r = await hooks.post(f"{path}/redeliver", window)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"
    finally:
        await hooks.client.delete(path, headers=hooks.platform)


async def test_a_refused_name_does_not_tell_the_tenant_its_internal_address(
    hooks: Hooks,
) -> None:
    """The worker resolves with the platform's own (split-horizon) DNS: echoing what an
    internal name resolves to maps Tradeflow's network for any tenant, at registration and
    in the delivery log."""
    internal = f"db-{uuid.uuid4().hex[:6]}.corp.example.com"
    hooks.resolver.pinned[internal] = [ipaddress.ip_address("10.20.30.40")]
    r = await hooks.post(
        "/v1/webhook-endpoints", {"url": f"https://{internal}/", "enabled_events": ["*"]}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "url_not_allowed"
    assert "10.20.30.40" not in r.text and "private address" in r.text
    host = f"rebind-{uuid.uuid4().hex[:6]}.example.com"
    hooks.resolver.pinned[host] = [ipaddress.ip_address("93.184.215.14")]
    created = await hooks.post(
        "/v1/webhook-endpoints", {"url": f"https://{host}/hook", "enabled_events": ["*"]}
    )
    endpoint = created.json()
    hooks.resolver.pinned[host] = [ipaddress.ip_address("10.20.30.41")]
    try:
        assert (await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")).status_code
        assert await hooks.worker.deliver_due() == 1
        (delivery,) = (await hooks.deliveries(endpoint["id"])).json()["data"]
        (attempt,) = delivery["attempts"]
        assert attempt["error"].startswith("url_not_allowed")
        assert "10.20.30.41" not in attempt["error"] and "private address" in attempt["error"]
    finally:
        await hooks.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=hooks.platform)


async def test_one_tenants_backlog_leaves_slots_for_other_tenants(hooks: Hooks) -> None:
    """The claim bounded each endpoint but not each tenant: a tenant with a few dead (or
    slow) endpoints and an older backlog took every slot of a worker, and every other
    tenant's deliveries waited behind it."""
    mine = [await hooks.endpoint(f"/slow/tenant{i}") for i in range(3)]
    for e in mine:
        for _ in range(4):
            assert (await hooks.post(f"/v1/webhook-endpoints/{e['id']}/test")).status_code == 202
    hooks.clock.advance(timedelta(seconds=1))
    theirs = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": hooks.receiver.url("/ok/other-tenant"), "enabled_events": ["*"]},
        who=hooks.other_tenant,
    )
    other_id = theirs.json()["id"]
    assert (
        await hooks.post(f"/v1/webhook-endpoints/{other_id}/test", who=hooks.other_tenant)
    ).status_code == 202
    worker = hooks.worker  # as bootstrap built it, on a small machine: 8 slots
    worker.concurrency, worker.per_tenant = 8, 4
    assert await worker.claim() == 5  # 4 of the tenant's (its share), 1 of the other's
    await worker.drain()
    assert len(hooks.receiver.at("/ok/other-tenant")) == 1
    assert sum(len(hooks.receiver.at(f"/slow/tenant{i}")) for i in range(3)) == 4


async def test_a_tenant_registers_a_bounded_number_of_endpoints(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No bound: each event fanned out to as many endpoints as a tenant registered, all
    possibly one victim's URL (Tradeflow as an amplifier), and the table grew without end."""
    monkeypatch.setattr(commands, "MAX_ENDPOINTS_PER_TENANT", 2, raising=False)
    await hooks.endpoint("/ok/cap1")
    await hooks.endpoint("/ok/cap2")
    r = await hooks.post(
        "/v1/webhook-endpoints", {"url": hooks.receiver.url("/ok/cap3"), "enabled_events": ["*"]}
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "too_many_endpoints"
    listed = (await hooks.client.get("/v1/webhook-endpoints", headers=hooks.platform)).json()
    assert len(listed["data"]) == 2
    other = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": hooks.receiver.url("/ok/cap-other"), "enabled_events": ["*"]},
        who=hooks.other_tenant,
    )
    assert other.status_code == 201  # the bound is each tenant's


async def test_recording_an_attempt_locks_the_endpoint_before_the_delivery(hooks: Hooks) -> None:
    """Deleting an endpoint locks it, then its deliveries (the cascade). Recording an attempt
    locked the delivery, then the endpoint: the opposite order, so a delete racing a record
    deadlocked and PostgreSQL aborted one (the DELETE answered 500). While the endpoint is
    locked, a record must wait without holding its delivery."""
    endpoint = await hooks.endpoint("/ok/lock-order")
    assert (await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")).status_code == 202
    (claimed,) = await deliveries.claim(
        hooks.container.unit_of_work(), hooks.clock.now(), 10, 10, timedelta(seconds=60)
    )
    attempt = Attempt(
        delivery_id=claimed.delivery.id, number=1, at=hooks.clock.now(),
        status_code=200, latency_ms=1, response_excerpt="ok", error=None,
    )  # fmt: skip
    E, D = tables.endpoints, tables.deliveries
    async with hooks.engine.connect() as deleter, hooks.engine.connect() as probe:
        await deleter.begin()
        await deleter.execute(sa.select(E.c.id).where(E.c.id == endpoint["id"]).with_for_update())
        recording = asyncio.create_task(
            deliveries.record(
                hooks.container.unit_of_work(),
                claimed,
                attempt,
                hooks.container.policy,
                hooks.clock.now(),
            )
        )
        await asyncio.sleep(0.5)  # the record is now waiting on the endpoint's lock
        await probe.begin()
        held = sa.select(D.c.id).where(D.c.id == claimed.delivery.id)
        try:
            free = (await probe.execute(held.with_for_update(nowait=True))).first() is not None
        except sa.exc.DBAPIError:  # lock not available: the record holds it
            free = False
        await probe.rollback()
        await deleter.rollback()
        after = await asyncio.wait_for(recording, 10)
    assert free, "the record held the delivery while it waited for the endpoint"
    assert after is not None and after.status == "succeeded"
