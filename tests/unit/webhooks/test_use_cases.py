"""Every webhooks use case against the in-memory unit of work: the happy path, a refusal
that commits nothing, and the delivery cycle (claim, send, record) with retries."""

from __future__ import annotations

import ipaddress
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from services.webhooks.domain.backoff import RetrySchedule
from services.webhooks.domain.errors import (
    EndpointDisabled,
    InvalidEventPattern,
    InvalidRange,
    UrlNotAllowed,
)
from services.webhooks.domain.model import DisablePolicy
from services.webhooks.service_layer import commands, deliveries, events
from services.webhooks.service_layer.commands import Caller, EndpointChanges, EndpointSpec
from services.webhooks.service_layer.errors import DeliveryNotFound, EndpointNotFound
from services.webhooks.service_layer.ports import Policy
from services.webhooks.service_layer.unit_of_work import Page
from shared.events import Envelope
from tests.unit.webhooks.fakes import FakeResolver, FakeSender, FakeWebhooksUnitOfWork

NOW = datetime.now(UTC)
ME, THEM = Caller("t-me", "platform-key"), Caller("t-them", "their-key")
POLICY = Policy(
    schedule=RetrySchedule((10, 20)), disable=DisablePolicy(3, timedelta(0)), rand=lambda: 0.5
)
LEASE = timedelta(seconds=60)


def event(tenant: str = ME.tenant_id, kind: str = "escrow.funded") -> Envelope:
    return Envelope(
        type=kind, version=1, source="escrow", tenant_id=tenant, subject="ord_1",
        correlation_id=uuid.uuid4(), data={"order_id": "ord_1"},
    )  # fmt: skip


async def endpoint(
    uow: FakeWebhooksUnitOfWork, patterns: list[str] | None = None, who: Caller = ME
):
    spec = EndpointSpec("https://hooks.example.com/in", patterns or ["escrow.*"], "d", {"k": "v"})
    return await commands.create_endpoint(uow, FakeResolver(), POLICY, who, spec, NOW)


async def cycle(uow: FakeWebhooksUnitOfWork, sender: FakeSender, now: datetime) -> int:
    claimed = await deliveries.claim(uow, now, 10, 4, LEASE)
    for c in claimed:
        attempt = await deliveries.send(c, sender, lambda: now)
        await deliveries.record(uow, c, attempt, POLICY, now)
    return len(claimed)


async def test_create_endpoint_and_read_it_back() -> None:
    uow = FakeWebhooksUnitOfWork()
    seen = []
    spec = EndpointSpec("https://hooks.example.com/in", ["escrow.*"])
    e = await commands.create_endpoint(uow, FakeResolver(), POLICY, ME, spec, NOW, seen.append)
    assert seen == [e] and uow.commits == 1 and e.secret.startswith("whsec_")
    assert await commands.get_endpoint(uow, ME.tenant_id, e.id) == e
    with pytest.raises(EndpointNotFound):
        await commands.get_endpoint(uow, THEM.tenant_id, e.id)


async def test_refusals_commit_nothing() -> None:
    uow = FakeWebhooksUnitOfWork()
    bad_dns = FakeResolver({"hooks.example.com": [ipaddress.ip_address("10.0.0.1")]})
    with pytest.raises(UrlNotAllowed):
        spec = EndpointSpec("https://hooks.example.com/in", ["*"])
        await commands.create_endpoint(uow, bad_dns, POLICY, ME, spec, NOW)
    with pytest.raises(InvalidEventPattern):
        spec = EndpointSpec("https://hooks.example.com/in", ["escrow.nope"])
        await commands.create_endpoint(uow, FakeResolver(), POLICY, ME, spec, NOW)
    assert uow.commits == 0 and not uow.endpoints.rows


async def test_update_list_delete() -> None:
    uow = FakeWebhooksUnitOfWork()
    first, second = await endpoint(uow), await endpoint(uow)
    await endpoint(uow, who=THEM)
    page, more = await commands.list_endpoints(uow, ME.tenant_id, Page(limit=1))
    assert [e.id for e in page] == [second.id] and more
    page, more = await commands.list_endpoints(uow, ME.tenant_id, Page(1, second.id))
    assert [e.id for e in page] == [first.id] and not more

    changed = await commands.update_endpoint(
        uow, FakeResolver(), POLICY, ME, first.id,
        EndpointChanges(enabled_events=["*"], enabled=False), NOW,
    )  # fmt: skip
    assert changed.enabled_events == ("*",) and not changed.enabled
    assert changed.disabled_reason == "disabled by platform-key"
    with pytest.raises(EndpointNotFound):
        await commands.update_endpoint(
            uow, FakeResolver(), POLICY, THEM, first.id, EndpointChanges(description="x"), NOW
        )
    await commands.delete_endpoint(uow, ME, first.id)
    with pytest.raises(EndpointNotFound):
        await commands.delete_endpoint(uow, ME, first.id)


async def test_fan_out_makes_one_delivery_per_matching_enabled_endpoint() -> None:
    uow = FakeWebhooksUnitOfWork()
    wants = await endpoint(uow, ["escrow.*"])
    await endpoint(uow, ["ledger.*"])
    disabled = await endpoint(uow, ["*"])
    await commands.update_endpoint(
        uow, FakeResolver(), POLICY, ME, disabled.id, EndpointChanges(enabled=False), NOW
    )
    theirs = await endpoint(uow, ["*"], who=THEM)
    made = await events.fan_out(uow, [event(), event(THEM.tenant_id)], NOW)
    assert sorted(d.endpoint_id for d in made) == sorted([wants.id, theirs.id])
    mine = next(d for d in made if d.endpoint_id == wants.id)
    assert set(mine.payload) == {
        "specversion", "id", "type", "source", "time", "subject", "tenant", "version",
        "datacontenttype", "data",
    }  # fmt: skip


async def test_a_delivery_is_signed_sent_and_recorded() -> None:
    uow = FakeWebhooksUnitOfWork()
    e = await endpoint(uow)
    (d,) = await events.fan_out(uow, [event()], NOW)
    sender = FakeSender(200)
    assert await cycle(uow, sender, NOW) == 1
    ((url, body, headers),) = sender.sent
    assert url == e.url and headers["webhook-id"] == d.event_id
    # Signed at the use case's clock (NOW), not the wall clock verify() would compare with.
    signed_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    assert signed_at == NOW.replace(microsecond=0)
    text = body if isinstance(body, str) else body.decode()
    expected = Webhook(e.secret).sign(d.event_id, signed_at, text)
    assert expected in headers["webhook-signature"].split(" ")
    assert json.loads(body) == d.payload and d.payload["type"] == "escrow.funded"
    ((logged, attempts),) = (await commands.list_deliveries(uow, ME.tenant_id, e.id, Page()))[0]
    assert logged.status == "succeeded" and attempts[0].status_code == 200
    assert await cycle(uow, sender, NOW + timedelta(days=1)) == 0


async def test_failures_back_off_then_fail_and_disable_with_a_notice() -> None:
    uow = FakeWebhooksUnitOfWork()
    e = await endpoint(uow)
    await events.fan_out(uow, [event()], NOW)
    sender = FakeSender(503)
    assert await cycle(uow, sender, NOW) == 1
    assert await cycle(uow, sender, NOW + timedelta(seconds=9)) == 0
    assert await cycle(uow, sender, NOW + timedelta(seconds=10)) == 1
    assert await cycle(uow, sender, NOW + timedelta(seconds=29)) == 0
    assert await cycle(uow, sender, NOW + timedelta(seconds=30)) == 1  # third and last
    (d,) = uow.deliveries.rows.values()
    assert d.status == "failed" and d.attempts == 3
    stored = uow.endpoints.rows[e.id]
    assert not stored.enabled and stored.consecutive_failures == 3
    assert uow.outbox.types() == ["webhooks.endpoint_disabled"]
    assert uow.outbox.envelopes[0].data["endpoint_id"] == e.id


async def test_a_stale_record_writes_nothing() -> None:
    uow = FakeWebhooksUnitOfWork()
    await endpoint(uow)
    await events.fan_out(uow, [event()], NOW)
    (claimed,) = await deliveries.claim(uow, NOW, 10, 4, LEASE)
    attempt = await deliveries.send(claimed, FakeSender(200), lambda: NOW)
    assert await deliveries.record(uow, claimed, attempt, POLICY, NOW) is not None
    assert await deliveries.record(uow, claimed, attempt, POLICY, NOW) is None


async def test_per_endpoint_limit_leaves_room_for_others() -> None:
    uow = FakeWebhooksUnitOfWork()
    busy, other = await endpoint(uow), await endpoint(uow, ["*"])
    await events.fan_out(uow, [event() for _ in range(5)], NOW)
    claimed = await deliveries.claim(uow, NOW, 100, 2, LEASE)
    by_endpoint = [c.delivery.endpoint_id for c in claimed]
    assert by_endpoint.count(busy.id) == 2 and by_endpoint.count(other.id) == 2
    assert await deliveries.claim(uow, NOW, 100, 2, LEASE) == []  # leased: not again


async def test_redeliver_one_and_a_range_and_test_events() -> None:
    uow = FakeWebhooksUnitOfWork()
    e = await endpoint(uow)
    (d,) = await events.fan_out(uow, [event()], NOW)
    again = await commands.redeliver(uow, ME, e.id, d.id, NOW)
    assert again.event_id == d.event_id and again.redelivery_of == d.id and again.id != d.id
    with pytest.raises(DeliveryNotFound):
        await commands.redeliver(uow, ME, e.id, "wd_nope", NOW)
    with pytest.raises(EndpointNotFound):
        await commands.redeliver(uow, THEM, e.id, d.id, NOW)
    window = (NOW - timedelta(minutes=1), NOW + timedelta(minutes=1))
    assert await commands.redeliver_range(uow, ME, e.id, *window, NOW) == []  # none failed
    everything = await commands.redeliver_range(uow, ME, e.id, *window, NOW, only_failed=False)
    assert [x.event_id for x in everything] == [d.event_id]
    with pytest.raises(InvalidRange):
        await commands.redeliver_range(uow, ME, e.id, window[1], window[0], NOW)
    test = await commands.send_test(uow, ME, e.id, NOW)
    assert test.event_type == "webhook.test" and test.payload["data"]["endpoint_id"] == e.id
    await commands.update_endpoint(
        uow, FakeResolver(), POLICY, ME, e.id, EndpointChanges(enabled=False), NOW
    )
    commits = uow.commits
    with pytest.raises(EndpointDisabled):
        await commands.send_test(uow, ME, e.id, NOW)
    assert uow.commits == commits


async def test_rotate_secret_keeps_the_old_one_for_the_overlap() -> None:
    uow = FakeWebhooksUnitOfWork()
    e = await endpoint(uow)
    rotated = await commands.rotate_secret(uow, POLICY, ME, e.id, NOW)
    assert rotated.secrets_at(NOW) == [rotated.secret, e.secret]
    assert rotated.previous_secret_expires_at == NOW + POLICY.secret_overlap
    with pytest.raises(EndpointNotFound):
        await commands.rotate_secret(uow, POLICY, THEM, e.id, NOW)
