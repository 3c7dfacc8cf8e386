"""When the chaos run is over: the system is quiet when nothing is left to publish, to fire
or to consume, no webhook left to deliver, and nothing progressed between two looks. Checks before that would find the
books "wrong" while they are still being written, or pass on books that are not done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.settings import ALL_SERVICES, SERVICES, WEBHOOKS
from tests.chaos.stack import Infra, connect


def consumer_groups(prefix: str) -> dict[str, list[str]]:
    topic = {s: f"{prefix}.{s}.events" for s in SERVICES}
    return {
        f"{prefix}.escrow.liens": [topic["financing"]],
        f"{prefix}.financing.escrow-events": [topic["escrow"]],
        f"{prefix}.ledger-postings": [topic["escrow"], topic["financing"]],
        # The webhooks dispatcher reads every service's topic, its own included.
        f"{prefix}.webhooks.dispatch": [f"{prefix}.{s}.events" for s in ALL_SERVICES],
    }


class CannotLook(RuntimeError):
    """A look at the system that could not see all it must (a topic without partitions)."""


async def partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, from the broker itself. (A consumer's metadata would
    know none of them: it only learns the topics it subscribes to or is assigned.)"""
    out = []
    for topic in await admin.describe_topics(topics):
        if topic["error_code"] or not topic["partitions"]:
            raise CannotLook(f"topic {topic['topic']}: error {topic['error_code']}, no partitions")
        out += [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
    return out


async def lag(bootstrap: str, groups: dict[str, list[str]]) -> dict[str, int]:
    """Records not yet committed by each consumer group, over all partitions of its topics
    (a partition the group never committed counts from 0)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await probe.start()
    try:
        out = {}
        for group, topics in groups.items():
            tps = await partitions(admin, topics)
            ends = await probe.end_offsets(tps)
            committed = await admin.list_consumer_group_offsets(group)
            out[group] = sum(
                ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps
            )
        return out
    finally:
        await probe.stop()
        await admin.close()


@dataclass(frozen=True)
class Look:
    """One look at the system: what is visibly moving, and counters that change whenever
    anything progresses (rows produced, events consumed, timers fired)."""

    busy: list[str]
    progress: tuple[int, ...] = ()


BUSY = {
    "unsent": "outbox rows unsent",
    "due": "timers due",
    "retrying": "timers failed and waiting to retry",
}
# A webhook delivery not yet succeeded or failed for good: due, leased, or waiting to retry.
PENDING_DELIVERIES = "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
ATTEMPTS = "SELECT count(*) FROM webhook_attempts"


async def look(infra: Infra, prefix: str) -> Look:
    """Unsent outbox rows, due or retrying timers, consumer lag and webhook deliveries
    pending; and the progress made."""
    busy = []
    progress: list[int] = []
    for service in ALL_SERVICES:
        conn = await connect(infra, service)
        try:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM outbox) AS produced,"
                " (SELECT count(*) FROM outbox WHERE sent_at IS NULL) AS unsent,"
                " (SELECT count(*) FROM inbox) AS consumed,"
                " (SELECT count(*) FROM timers WHERE fired_at IS NOT NULL) AS fired,"
                " (SELECT count(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
                "  AND due_at <= now()) AS due,"
                " (SELECT count(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
                "  AND attempts > 0) AS retrying"
            )
            if service == WEBHOOKS:
                pending, attempts = (
                    await conn.fetchval(PENDING_DELIVERIES),
                    await conn.fetchval(ATTEMPTS),
                )
                progress.append(attempts)
                if pending:
                    busy.append(f"webhooks: {pending} deliveries pending")
        finally:
            await conn.close()
        assert row is not None
        progress += [row["produced"], row["consumed"], row["fired"]]
        busy += [f"{service}: {row[what]} {label}" for what, label in BUSY.items() if row[what]]
    for group, behind in (await lag(infra.kafka, consumer_groups(prefix))).items():
        if behind:
            busy.append(f"{group}: {behind} records behind")
    return Look(busy, tuple(progress))


async def settle(
    take: Callable[[], Awaitable[Look]], within: float, pause: float = 2.0
) -> tuple[float, list[str]]:
    """Seconds until quiet, and what was still moving if never. Quiet: two looks ``pause``
    apart that both see nothing moving and no progress between them. (One look is not
    atomic: an event applied between its outbox read and its lag read hides from it.)"""
    started = time.monotonic()
    previous: Look | None = None
    busy: list[str] = []
    while time.monotonic() - started < within:
        try:
            seen = await take()
        except (OSError, asyncpg.PostgresError, KafkaError, CannotLook) as exc:
            seen = Look([f"cannot look: {exc!r}"])
        busy = seen.busy
        if not busy and seen == previous:
            return time.monotonic() - started, []
        previous = None if busy else seen
        await asyncio.sleep(pause)
    return time.monotonic() - started, busy


async def wait_quiet(infra: Infra, prefix: str, within: float) -> tuple[float, list[str]]:
    return await settle(lambda: look(infra, prefix), within)
