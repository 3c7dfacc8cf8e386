"""Webhooks hardening: a record fenced by its lease, destination ports, DNS on its own
bounded executor."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.webhooks.adapters.resolver import SystemResolver
from services.webhooks.domain.errors import UrlNotAllowed
from services.webhooks.domain.ssrf import check_url
from services.webhooks.service_layer import deliveries, events
from tests.unit.webhooks.fakes import FakeSender, FakeWebhooksUnitOfWork
from tests.unit.webhooks.test_use_cases import LEASE, NOW, POLICY, endpoint, event


async def test_a_record_after_another_worker_re_leased_the_delivery_writes_nothing() -> None:
    """Worker A's record is late (a database outage): its lease ran out and worker B
    claimed the delivery again. A's record must not land under B's lease; B's does."""
    uow = FakeWebhooksUnitOfWork()
    await endpoint(uow)
    await events.fan_out(uow, [event()], NOW)
    (a,) = await deliveries.claim(uow, NOW, 10, 4, LEASE)
    later = NOW + LEASE + LEASE / 2
    (b,) = await deliveries.claim(uow, later, 10, 4, LEASE)
    sent_a = await deliveries.send(a, FakeSender(200), lambda: NOW)
    sent_b = await deliveries.send(b, FakeSender(200), lambda: later)
    assert await deliveries.record(uow, a, sent_a, POLICY, later) is None  # fenced
    assert await deliveries.record(uow, b, sent_b, POLICY, later) is not None
    (only,) = uow.deliveries.attempts[a.delivery.id]
    assert only.at == sent_b.at


@pytest.mark.parametrize("url", ["https://hooks.example.com:22/in", "https://h.example.com:6379/"])
def test_a_port_outside_the_allowed_ones_is_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed, match="port"):
        check_url(url)


def test_the_standard_ports_and_the_configured_ones_are_allowed() -> None:
    for url in (
        "https://a.example.com/",
        "https://a.example.com:8443/x",
        "https://a.example.com:443",
    ):
        check_url(url)
    check_url("https://a.example.com:9443/", allowed_ports=frozenset({9443}))
    # A developer's receiver on any loopback port, only with loopback allowed (a setting).
    check_url("http://127.0.0.1:54321/hook", allow_loopback=True)
    with pytest.raises(UrlNotAllowed):
        check_url("https://127.0.0.1:54321/hook")


async def test_dns_runs_on_its_own_executor_not_the_loops_default_one() -> None:
    """The loop's shared default pool is saturated (another part of the process is stuck
    in it): a lookup must still be answered, on the resolver's own threads."""
    loop = asyncio.get_running_loop()
    stuck = threading.Event()
    shared = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(shared)
    blocker = loop.run_in_executor(None, stuck.wait)
    try:
        resolver = SystemResolver(timeout=2.0)
        assert await resolver.resolve("127.0.0.1", 443)
    finally:
        stuck.set()
        await blocker


async def test_a_lookup_that_never_answers_times_out_and_others_are_bounded() -> None:
    hang = threading.Event()

    def never(host: str, port: int, *a: object, **k: object) -> list[object]:
        hang.wait(5)
        return []

    resolver = SystemResolver(timeout=0.2, threads=1, getaddrinfo=never)
    try:
        with pytest.raises(UrlNotAllowed, match="does not resolve"):
            await resolver.resolve("slow.example.com", 443)
        # The one thread is still held by the hung lookup: the next one waits at most
        # the timeout, too, instead of queueing without a bound.
        with pytest.raises(UrlNotAllowed):
            await asyncio.wait_for(resolver.resolve("other.example.com", 443), 1.0)
    finally:
        hang.set()
        resolver.close()
    assert socket  # the real resolver's default is socket.getaddrinfo
