"""Transactional outbox: events are written in the same transaction as the state change,
and a relay publishes them to Kafka afterwards.

Guarantees: nothing is published that was not committed (the relay only sees committed
rows), and nothing committed is lost (a row stays unsent until Kafka acknowledged it with
acks=all). A relay that dies between publishing and marking the rows sent publishes them
again on restart; consumers dedup by event id in their inbox, so the effect happens once.

Waking the relay: after a transaction that wrote outbox rows has committed, the process
sends ``NOTIFY`` on a connection of its own (``_Notifier``), at most one at a time per
database, a burst of commits meanwhile coalesced into one more. The NOTIFY used to ride in
the writer's own transaction; but PostgreSQL serializes the commits of all transactions that
notified, cluster-wide (a lock held from before the commit record until after it), so every
write of every service waited for the others' commits, WAL flush included. Now only the tiny
notifying transactions queue for that lock, and no business commit does. Should the process
die between its commit and the NOTIFY, the relay's polling (every 2 s) finds the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, Pool

from shared.db import OUTBOX_CHANNEL, asyncpg_dsn, outbox
from shared.events.envelope import Envelope
from shared.metrics import EVENTS_PUBLISHED
from shared.topics import partition_for

log = structlog.get_logger(__name__)

# One relay publishes at a time per database (pg_advisory_xact_lock), which keeps a
# subject's events in commit order even when several relay processes run for availability.
# Below the producer's max_request_size (1 MiB) with room for headers and batching.
MAX_EVENT_BYTES = 900_000

RELAY_LOCK_ID = 0x7472_6164_6566_6C6F  # "tradeflo"


class EventTooLarge(ValueError):
    """Refused at write time: a row the relay could never publish would block every later one."""


async def add_to_outbox(conn: AsyncConnection, topic: str, *envelopes: Envelope) -> None:
    """Stage events for publication inside the caller's transaction."""
    if not envelopes:
        return
    for env in envelopes:
        size = len(env.to_kafka()[1])
        if size > MAX_EVENT_BYTES:
            raise EventTooLarge(f"{env.type} {env.id} is {size} bytes (max {MAX_EVENT_BYTES})")
    await conn.execute(
        outbox.insert(),
        [
            {
                "event_id": env.id,
                "topic": topic,
                "key": env.subject,
                "envelope": env.model_dump(mode="json"),
            }
            for env in envelopes
        ],
    )
    # The relay is woken once (and if) this transaction has committed.
    sync = conn.sync_connection
    assert sync is not None  # it just executed the INSERT
    info = sync.connection.info
    info[_STATE], info[_NOTIFIER] = _WRITTEN, _notifier(conn.engine)


# A pooled connection's way to "wake the relay": outbox rows written in its transaction
# (_WRITTEN), then that transaction's COMMIT sent (_COMMITTING); once the commit is over
# (the connection begins its next transaction, or goes back to the pool), the relay is
# woken. A transaction rolled back wakes nothing (a savepoint rolled back, or a COMMIT that
# failed, may: a relay woken for nothing finds nothing).
_STATE, _NOTIFIER = "tradeflow_outbox_state", "tradeflow_outbox_notifier"
_WRITTEN, _COMMITTING = "written", "committing"


# An invalidated connection (cut by a restart) has lost its state with its DBAPI connection,
# and asking it for ``conn.connection`` would try to reconnect inside the dead transaction:
# a PendingRollbackError raised over the driver's error that says what happened.
@event.listens_for(Engine, "commit")
def _committing(conn: Connection) -> None:
    if conn.invalidated:
        return
    info = conn.connection.info
    if info.get(_STATE) == _WRITTEN:
        info[_STATE] = _COMMITTING


@event.listens_for(Engine, "rollback")
def _rolled_back(conn: Connection) -> None:
    if conn.invalidated:
        return
    info = conn.connection.info
    if info.get(_STATE) == _WRITTEN:
        info.pop(_STATE, None)
        info.pop(_NOTIFIER, None)


@event.listens_for(Engine, "begin")
def _next_transaction(conn: Connection) -> None:
    _wake_if_committed(conn.connection.info)


@event.listens_for(Pool, "checkin")
def _returned(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry | None) -> None:
    if record is not None:
        _wake_if_committed(record.info)


def _wake_if_committed(info: dict[Any, Any]) -> None:
    if info.get(_STATE) == _COMMITTING:
        info.pop(_STATE, None)
        notifier = info.pop(_NOTIFIER, None)
        if notifier is not None:
            notifier.poke()


class _Notifier:
    """Sends the relay's wake-up for one database: one NOTIFY at a time, in a transaction of
    its own; pokes that arrive while one is on its way are answered by one more."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._again = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a pool emptied at exit): the relay polls
            return
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._send())

    async def _send(self) -> None:
        while self._again:
            self._again = False
            try:
                async with self._engine.connect() as conn:
                    await conn.execute(sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")))
            except Exception as exc:  # the relay's polling finds the rows all the same
                log.warning("outbox.notify_failed", error=repr(exc))
                return


_notifiers: dict[AsyncEngine, _Notifier] = {}


def _notifier(engine: AsyncEngine) -> _Notifier:
    if engine not in _notifiers:
        _notifiers[engine] = _Notifier(engine)
    return _notifiers[engine]


def make_producer(bootstrap_servers: str, **overrides: Any) -> AIOKafkaProducer:
    """The idempotent, acks=all producer every Tradeflow publisher uses."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "compression_type": None,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def publish(producer: AIOKafkaProducer, topic: str, envelopes: Sequence[Envelope]) -> None:
    """Send a batch, each event to its tenant's partition, and wait until every record is
    acknowledged."""
    partitions = await producer.partitions_for(topic)
    pending = []
    for env in envelopes:
        key, value, headers = env.to_kafka()
        partition = partition_for(env.tenant_id, partitions)
        pending.append(
            await producer.send(topic, value=value, key=key, headers=headers, partition=partition)
        )
    await asyncio.gather(*pending)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 500,
        poll_interval: float = 2.0,
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        # Set once LISTEN is established and the backlog is drained (tests and health).
        self.listening = asyncio.Event()

    async def relay_once(self) -> int:
        """Publish one batch of unsent events; returns how many were published."""
        async with self.engine.begin() as conn:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(RELAY_LOCK_ID)))
            rows = (
                await conn.execute(
                    sa.select(outbox.c.seq, outbox.c.topic, outbox.c.envelope)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            by_topic: dict[str, list[Envelope]] = {}
            for row in rows:
                by_topic.setdefault(row.topic, []).append(Envelope.model_validate(row.envelope))
            await asyncio.gather(*(publish(self.producer, t, envs) for t, envs in by_topic.items()))
            await self._mark_sent(conn, [row.seq for row in rows])
        for topic_name, envs in by_topic.items():
            EVENTS_PUBLISHED.labels(topic_name).inc(len(envs))
        log.debug("outbox.published", count=len(rows))
        return len(rows)

    async def _mark_sent(self, conn: AsyncConnection, seqs: list[int]) -> None:
        await conn.execute(
            outbox.update().where(outbox.c.seq.in_(seqs)).values(sent_at=sa.func.now())
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set, woken by NOTIFY and, as a fallback, by polling."""
        listener: asyncpg.Connection | None = None
        try:
            while not stop.is_set():
                if listener is None or listener.is_closed():
                    listener = await self._listen()  # (re)connect, e.g. after a PG restart
                self._wake.clear()
                try:
                    published = await self.relay_once()
                except Exception:
                    log.exception("outbox.relay_failed")
                    published = 0
                    await asyncio.sleep(1.0)
                if published >= self.batch_size:
                    continue  # more are waiting
                if listener is not None:
                    self.listening.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._first(stop), timeout=self.poll_interval)
        finally:
            if listener is not None:
                await listener.close()

    async def _first(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            conn = await asyncpg.connect(asyncpg_dsn(str(self.engine.url.render_as_string(False))))
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
            return conn
        except Exception:
            log.exception("outbox.listen_failed_polling_only")
            return None
