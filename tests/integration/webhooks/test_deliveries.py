"""Webhooks end to end: events from Kafka to a real HTTP receiver, verified with the
``standardwebhooks`` library; retries on schedule, auto-disable, SSRF, rotation, redelivery."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.webhooks.bootstrap import DEFINITION
from shared.db import outbox
from shared.events import Envelope
from tests.conftest import create_topic
from tests.integration.webhooks.conftest import Hooks
from tests.support.consumers import consumer_of, run_to_end

pytestmark = pytest.mark.integration


def escrow_event(tenant: str, kind: str = "escrow.funded", **data: Any) -> Envelope:
    order = f"ord_{uuid.uuid4().hex[:8]}"
    return Envelope(
        type=kind,
        version=1,
        source="escrow",
        tenant_id=tenant,
        subject=order,
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
        data={"order_id": order, "amount": 30_000, "currency": "USD", **data},
    )


async def publish_and_consume(hooks: Hooks, *envelopes: Envelope) -> None:
    """The envelopes on a topic of the test's own, through the service's consumer."""
    topic = f"{hooks.settings.topic_prefix}.escrow-{uuid.uuid4().hex[:8]}"
    await create_topic(hooks.settings.kafka_bootstrap_servers, topic, partitions=2)
    producer = hooks.container.runtime.producer
    for env in envelopes:
        key, value, headers = env.to_kafka()
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    (spec,) = DEFINITION.consumers(hooks.container)
    consumer = consumer_of(
        spec,
        hooks.engine,
        hooks.settings.kafka_bootstrap_servers,
        producer,
        topic,
        name=f"webhooks-test-{uuid.uuid4().hex[:8]}",
    )
    assert await run_to_end(consumer, len(envelopes)) == len(envelopes)


def verify(secret: str, received: Any) -> dict[str, Any]:
    return dict(Webhook(secret).verify(received.body, received.headers))


async def test_an_event_reaches_the_endpoints_that_want_it_signed(hooks: Hooks) -> None:
    wants_escrow = await hooks.endpoint("/ok/escrow", ["escrow.*"])
    wants_ledger = await hooks.endpoint("/ok/ledger", ["ledger.chain_checkpoint"])
    assert wants_escrow["secret"].startswith("whsec_")
    funded = escrow_event(hooks.tenant)
    other_tenants = escrow_event(f"o-{hooks.tenant}")
    await publish_and_consume(hooks, funded, other_tenants)

    assert await hooks.worker.deliver_due() == 1
    (got,) = hooks.receiver.at("/ok/escrow")
    assert not hooks.receiver.at("/ok/ledger")
    event = verify(wants_escrow["secret"], got)
    assert got.headers["webhook-id"] == str(funded.id)
    assert event == {
        "specversion": "1.0",
        "id": str(funded.id),
        "type": "escrow.funded",
        "source": "escrow",
        "time": funded.occurred_at.isoformat(),
        "subject": funded.subject,
        "tenant": hooks.tenant,
        "version": 1,
        "datacontenttype": "application/json",
        "data": funded.data,
    }
    assert (
        "correlation_id" not in got.body.decode()
        and str(funded.correlation_id) not in got.body.decode()
    )
    with pytest.raises(WebhookVerificationError):
        verify(wants_ledger["secret"], got)

    log = (await hooks.deliveries(wants_escrow["id"])).json()
    (delivery,) = log["data"]
    assert delivery["status"] == "succeeded" and delivery["event_id"] == str(funded.id)
    (attempt,) = delivery["attempts"]
    assert attempt["attempt"] == 1 and attempt["status_code"] == 200
    assert attempt["response_excerpt"] == "thanks" and attempt["latency_ms"] >= 0
    assert log["has_more"] is False


async def test_a_failing_endpoint_is_retried_on_schedule_then_disabled(hooks: Hooks) -> None:
    failing = await hooks.endpoint("/fail", ["escrow.*"])
    await publish_and_consume(hooks, escrow_event(hooks.tenant))
    path = f"/v1/webhook-endpoints/{failing['id']}"

    assert await hooks.worker.deliver_due() == 1
    assert await hooks.worker.deliver_due() == 0  # not due again before the schedule says
    for wait in (1, 2):  # the schedule's first waits: attempts 2 and 3
        hooks.clock.advance(timedelta(seconds=wait - 0.5))
        assert await hooks.worker.deliver_due() == 0
        hooks.clock.advance(timedelta(seconds=0.5))
        assert await hooks.worker.deliver_due() == 1
    assert len(hooks.receiver.at("/fail")) == 3

    endpoint = (await hooks.client.get(path, headers=hooks.platform)).json()
    assert endpoint["status"] == "disabled" and "3 consecutive" in endpoint["disabled_reason"]
    async with hooks.engine.connect() as conn:
        notices = (
            (
                await conn.execute(
                    sa.select(outbox.c.envelope).where(
                        outbox.c.envelope["type"].astext == "webhooks.endpoint_disabled",
                        outbox.c.envelope["subject"].astext == failing["id"],
                    )
                )
            )
            .scalars()
            .all()
        )
    (notice,) = notices
    assert notice["data"]["consecutive_failures"] == 3 and notice["tenant_id"] == hooks.tenant
    hooks.clock.advance(timedelta(seconds=10))
    assert await hooks.worker.deliver_due() == 0  # a disabled endpoint is sent nothing

    enabled = await hooks.client.patch(path, json={"enabled": True}, headers=hooks.platform)
    assert enabled.status_code == 200 and enabled.json()["status"] == "enabled"
    assert await hooks.worker.deliver_due() == 1  # the 4th and last attempt
    (delivery,) = (await hooks.deliveries(failing["id"])).json()["data"]
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 4
    assert [a["status_code"] for a in delivery["attempts"]] == [500] * 4
    assert all(len(a["response_excerpt"].encode()) <= 1_024 for a in delivery["attempts"])


async def test_ssrf_refused_at_registration(hooks: Hooks) -> None:
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "file:///etc/passwd",
        "https://user:pw@example.com/hook",
    ):
        r = await hooks.post("/v1/webhook-endpoints", {"url": url, "enabled_events": ["*"]})
        assert r.status_code == 422, url
        assert r.json()["error"]["code"] == "url_not_allowed", url
    hooks.resolver.pinned["internal.example.com"] = [ipaddress.ip_address("10.1.2.3")]
    r = await hooks.post(
        "/v1/webhook-endpoints", {"url": "https://internal.example.com/", "enabled_events": ["*"]}
    )
    assert r.status_code == 422 and "private address" in r.json()["error"]["message"]
    assert "10.1.2.3" not in r.json()["error"]["message"]  # internal DNS is not told
    r = await hooks.post(
        "/v1/webhook-endpoints",
        {"url": hooks.receiver.url("/ok"), "enabled_events": ["escrow.nope"]},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_event_pattern"


async def test_ssrf_refused_at_delivery_after_dns_changed(hooks: Hooks) -> None:
    """DNS rebinding: public at registration, private when the worker connects."""
    host = f"rebind-{uuid.uuid4().hex[:6]}.example.com"
    hooks.resolver.pinned[host] = [ipaddress.ip_address("93.184.215.14")]
    r = await hooks.post(
        "/v1/webhook-endpoints", {"url": f"https://{host}/hook", "enabled_events": ["*"]}
    )
    assert r.status_code == 201, r.text
    endpoint = r.json()
    hooks.resolver.pinned[host] = [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("10.0.0.7"),
    ]
    assert (await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")).status_code == 202
    assert await hooks.worker.deliver_due() == 1
    (delivery,) = (await hooks.deliveries(endpoint["id"])).json()["data"]
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None and attempt["error"].startswith("url_not_allowed")
    assert "private address" in attempt["error"] and "10.0.0.7" not in attempt["error"]


async def test_a_rotated_secret_overlaps_with_the_old_one(hooks: Hooks) -> None:
    created = await hooks.endpoint("/ok/rotation")
    path = f"/v1/webhook-endpoints/{created['id']}"
    rotated = (
        await hooks.post(f"{path}/rotate-secret", {"expire_previous_after_seconds": 60})
    ).json()
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_expires_at"]
    assert "secret" not in (await hooks.client.get(path, headers=hooks.platform)).json()

    await hooks.post(f"{path}/test")
    await hooks.worker.deliver_due()
    (during,) = hooks.receiver.at("/ok/rotation")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(created["secret"], during)["type"] == "webhook.test"
    assert verify(rotated["secret"], during)["data"]["endpoint_id"] == created["id"]

    hooks.clock.advance(timedelta(seconds=61))
    await hooks.post(f"{path}/test")
    await hooks.worker.deliver_due()
    after = hooks.receiver.at("/ok/rotation")[1]
    verify(rotated["secret"], after)
    with pytest.raises(WebhookVerificationError):
        verify(created["secret"], after)


async def test_redelivery_of_one_delivery_and_of_a_range(hooks: Hooks) -> None:
    endpoint = await hooks.endpoint("/ok/redeliver", ["escrow.*"])
    first, second = escrow_event(hooks.tenant), escrow_event(hooks.tenant)
    since = hooks.clock.now() - timedelta(seconds=1)
    await publish_and_consume(hooks, first, second)
    await hooks.worker.deliver_due()
    log = (await hooks.deliveries(endpoint["id"])).json()["data"]
    one = next(d for d in log if d["event_id"] == str(first.id))
    path = f"/v1/webhook-endpoints/{endpoint['id']}"

    again = await hooks.post(f"{path}/deliveries/{one['id']}/redeliver")
    assert again.status_code == 202 and again.json()["redelivery_of"] == one["id"]
    await hooks.worker.deliver_due()
    ids = [r.headers["webhook-id"] for r in hooks.receiver.at("/ok/redeliver")]
    assert sorted(ids) == sorted([str(first.id), str(second.id), str(first.id)])

    window = {
        "since": since.isoformat(),
        "until": (hooks.clock.now() + timedelta(seconds=1)).isoformat(),
    }
    nothing_failed = await hooks.post(f"{path}/redeliver", window)
    assert nothing_failed.status_code == 202 and nothing_failed.json()["data"] == []
    everything = await hooks.post(f"{path}/redeliver", {**window, "only_failed": False})
    assert {d["event_id"] for d in everything.json()["data"]} == {str(first.id), str(second.id)}
    await hooks.worker.deliver_due()
    assert len(hooks.receiver.at("/ok/redeliver")) == 5
    backwards = await hooks.post(
        f"{path}/redeliver", {"since": window["until"], "until": window["since"]}
    )
    assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_range"


async def test_another_tenants_endpoint_is_none(hooks: Hooks) -> None:
    mine = await hooks.endpoint("/ok/mine")
    path = f"/v1/webhook-endpoints/{mine['id']}"
    other = hooks.other_tenant
    assert (await hooks.client.get(path, headers=other)).status_code == 404
    assert (await hooks.deliveries(mine["id"], other)).status_code == 404
    patched = await hooks.client.patch(path, json={"description": "x"}, headers=other)
    assert patched.status_code == 404
    assert patched.json()["error"]["code"] == "webhook_endpoint_not_found"
    assert (await hooks.post(f"{path}/test", who=other)).status_code == 404
    assert (await hooks.post(f"{path}/rotate-secret", who=other)).status_code == 404
    deleted = await hooks.client.delete(path, headers={**other, "Idempotency-Key": "x1"})
    assert deleted.status_code == 404
    listed = (await hooks.client.get("/v1/webhook-endpoints", headers=other)).json()
    assert mine["id"] not in {e["id"] for e in listed["data"]}
    assert (await hooks.client.get(path, headers=hooks.platform)).status_code == 200
    assert (await hooks.client.delete(path, headers=hooks.platform)).json()["deleted"] is True
    assert (await hooks.client.get(path, headers=hooks.platform)).status_code == 404


async def test_a_slow_endpoint_delays_no_other(hooks: Hooks) -> None:
    slow = await hooks.endpoint("/slow", ["escrow.*"])
    fast = await hooks.endpoint("/ok/fast", ["escrow.*"])
    await publish_and_consume(hooks, *(escrow_event(hooks.tenant) for _ in range(3)))
    stop = asyncio.Event()
    running = asyncio.create_task(hooks.worker.run(stop))
    loop = asyncio.get_running_loop()
    started = loop.time()
    while len(hooks.receiver.at("/ok/fast")) < 3 and loop.time() - started < 10:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert len(hooks.receiver.at("/ok/fast")) == 3
    assert loop.time() - started < 1.0  # while /slow holds its requests for 5 s
    stop.set()
    await running
    log = (await hooks.deliveries(slow["id"])).json()["data"]
    assert {a["error"] for d in log for a in d["attempts"]} == {"timeout"}  # read timeout 1 s
    assert len((await hooks.deliveries(fast["id"])).json()["data"]) == 3


async def test_a_redirect_is_a_failed_attempt_never_followed(hooks: Hooks) -> None:
    endpoint = await hooks.endpoint("/redirect")
    await hooks.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")
    await hooks.worker.deliver_due()
    (delivery,) = (await hooks.deliveries(endpoint["id"])).json()["data"]
    assert delivery["attempts"][0]["status_code"] == 302 and delivery["status"] == "pending"
    assert len(hooks.receiver.received) == 1


async def test_list_pagination(hooks: Hooks) -> None:
    made = [(await hooks.endpoint(f"/ok/page{i}"))["id"] for i in range(3)]
    first = (await hooks.client.get("/v1/webhook-endpoints?limit=2", headers=hooks.platform)).json()
    assert [e["id"] for e in first["data"]] == made[::-1][:2] and first["has_more"] is True
    rest = (
        await hooks.client.get(
            f"/v1/webhook-endpoints?limit=2&starting_after={first['data'][-1]['id']}",
            headers=hooks.platform,
        )
    ).json()
    assert made[0] in [e["id"] for e in rest["data"]]
    bad = await hooks.client.get(
        "/v1/webhook-endpoints?starting_after=we_nope", headers=hooks.platform
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"


async def test_an_answer_with_nul_bytes_is_recorded(hooks: Hooks) -> None:
    """PostgreSQL text cannot hold NUL: the excerpt must not make the attempt unrecordable."""
    nul = await hooks.endpoint("/nul", ["escrow.*"])
    await publish_and_consume(hooks, escrow_event(hooks.tenant))
    assert await hooks.worker.deliver_due() == 1
    (delivery,) = (await hooks.deliveries(nul["id"])).json()["data"]
    assert delivery["status"] == "succeeded"
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["response_excerpt"] == "ok\ufffd\ufffddone"


async def test_the_excerpt_is_the_answer_as_sent_not_its_compressed_bytes(hooks: Hooks) -> None:
    zipped = await hooks.endpoint("/gzip", ["escrow.*"])
    await publish_and_consume(hooks, escrow_event(hooks.tenant))
    assert await hooks.worker.deliver_due() == 1
    (delivery,) = (await hooks.deliveries(zipped["id"])).json()["data"]
    (attempt,) = delivery["attempts"]
    assert attempt["response_excerpt"].startswith("received, thank you received")
