"""Books: one hash chain per tenant, appended in parallel, checked against Kafka checkpoints."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.accounts import account_ids
from services.ledger.adapters.chain import verify_chains
from services.ledger.adapters.checkpoints import check_published, read_published
from services.ledger.adapters.posting import driver
from services.ledger.bootstrap import LedgerContainer, consumers
from services.ledger.domain.chain import GENESIS, canonical_of, link_bytes
from services.ledger.domain.journal import Line
from services.ledger.entrypoints.consumers import post_events
from services.ledger.entrypoints.timers import publish_checkpoints
from services.runner import build_consumer
from shared.clock import ManualClock
from shared.db import make_engine
from shared.events import Envelope
from shared.events.ledger import ChainCheckpoint
from shared.migrations import upgrade
from shared.outbox import OutboxRelay
from shared.runtime import Runtime
from shared.settings import Settings
from shared.topics import partition_for
from tests.conftest import TEST_DB_PREFIX, create_topic, recreate_database
from tests.integration.ledger.conftest import ScratchLedger
from tests.integration.ledger.helpers import funded, natural, post, released
from tests.support.consumers import Recorded

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _batch(tenant: str, n: int, tag: str = "") -> list:  # type: ignore[type-arg]
    return [funded(tenant, f"o{tag}{i}", 1_000 + i, 1_000 + i) for i in range(n)]


async def _positions(engine: AsyncEngine, tenant: str) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT book_seq FROM journal_transactions WHERE tenant_id = :t ORDER BY book_seq"
            ),
            {"t": tenant},
        )
        return list(rows.scalars())


async def test_a_tenant_posts_while_another_tenants_book_is_locked(ledger: AsyncEngine) -> None:
    """Appends of different books never wait on each other; appends to one book do."""
    a, b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    async with ledger.connect() as holder:
        await holder.begin()
        await post_events(holder, _batch(a, 3))  # a's book stays locked until this commits
        async with ledger.begin() as other:
            await other.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
            await post_events(other, _batch(b, 2))  # no wait: another book
        with pytest.raises(asyncpg.LockNotAvailableError):  # the posting engine speaks asyncpg
            async with ledger.begin() as same:
                await same.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
                await post_events(same, _batch(a, 1, tag="x"))
        await holder.commit()
    assert await _positions(ledger, a) == [1, 2, 3]
    assert await _positions(ledger, b) == [1, 2]


async def test_concurrent_batches_of_one_book_and_of_many_keep_every_chain(
    scratch_ledger: ScratchLedger,
) -> None:
    engine = await scratch_ledger("books_race")
    tenants = ["t1", "t2", "t3"]

    async def writer(w: int) -> None:
        for round_ in range(6):
            batch = [e for t in tenants for e in _batch(t, 3, tag=f"{w}-{round_}-")]
            await post(engine, *batch)

    await asyncio.gather(*(writer(w) for w in range(4)))
    async with engine.connect() as conn:
        reports = {r.book: r for r in await verify_chains(conn)}
    for t in tenants:
        assert reports[f"tenant:{t}"].ok and reports[f"tenant:{t}"].checked == 4 * 6 * 3
        assert await _positions(engine, t) == list(range(1, 73))


async def test_the_database_refuses_a_gap_or_a_row_outside_any_book(ledger: AsyncEngine) -> None:
    tenant = f"g-{uuid.uuid4().hex[:8]}"
    await post(ledger, *_batch(tenant, 2))
    row = (
        "INSERT INTO journal_transactions (id, seq, tenant_id, posted_at, source_event_id,"
        " source_type, kind, memo, prev_hash, hash, book_seq)"
        " VALUES (:id, nextval('journal_seq'), :t, :at, :id, 'test', 'event', '', 'x', 'y', :b)"
    )
    for book_seq, why in ((4, "would get positions 4..4"), (None, "no place in a book")):
        with pytest.raises(DBAPIError, match=why):
            async with ledger.begin() as conn:
                params = {"id": uuid.uuid4(), "t": tenant, "at": NOW, "b": book_seq}
                await conn.execute(sa.text(row), params)
    with pytest.raises(DBAPIError, match="journal_book"):  # a position taken twice
        async with ledger.begin() as conn:
            await conn.execute(sa.text(row), {"id": uuid.uuid4(), "t": tenant, "at": NOW, "b": 2})


async def _checkpoint(engine: AsyncEngine, topic: str, producer: AIOKafkaProducer) -> int:
    async with engine.begin() as conn:
        staged = await publish_checkpoints(conn, topic, datetime.now(UTC))
    while await OutboxRelay(engine, producer).relay_once():
        pass
    return staged


async def _tamper(engine: AsyncEngine, *statements: str) -> None:
    """The table owner's rights: the append-only guards switched off, rows rewritten."""
    async with engine.begin() as conn:
        for table in ("journal_transactions", "postings"):
            await conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for sql in statements:
            await conn.execute(sa.text(sql))
        for table in ("journal_transactions", "postings"):
            await conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))


async def test_checkpoints_on_kafka_catch_a_tail_cut_off_or_rewritten_with_its_head(
    scratch_ledger: ScratchLedger, settings: Settings, producer: AIOKafkaProducer, unique_topic: str
) -> None:
    """Rewriting a book end to end (rows and head row) leaves every link valid: only what
    Kafka already holds tells."""
    engine = await scratch_ledger("checkpoints")
    await create_topic(settings.kafka_bootstrap_servers, unique_topic)
    await post(engine, *_batch("t1", 4), *_batch("t2", 2))
    assert await _checkpoint(engine, unique_topic, producer) == 2
    assert await _checkpoint(engine, unique_topic, producer) == 0  # nothing moved since
    await post(engine, released("t1", "o0", 500, 10, 0, 500))
    assert await _checkpoint(engine, unique_topic, producer) == 1  # only t1 moved
    published = await read_published(settings.kafka_bootstrap_servers, unique_topic)
    assert {b: p.seq for b, p in published.items()} == {"tenant:t1": 5, "tenant:t2": 2}
    async with engine.connect() as conn:
        assert await check_published(conn, published) == []

    # Cut t1's last transaction off, and move its head back to match: the chain verifies.
    await _tamper(
        engine,
        "DELETE FROM postings WHERE tenant_id = 't1' AND seq = (SELECT seq FROM"
        " journal_transactions WHERE tenant_id = 't1' AND book_seq = 5)",
        "DELETE FROM journal_transactions WHERE tenant_id = 't1' AND book_seq = 5",
        "UPDATE books SET (head_seq, head_hash) = (4, (SELECT hash FROM journal_transactions"
        " WHERE tenant_id = 't1' AND book_seq = 4)) WHERE tenant_id = 't1'",
    )
    async with engine.connect() as conn:
        assert all(r.ok for r in await verify_chains(conn))
        (problem,) = await check_published(conn, published)
    assert problem.startswith("tenant:t1: checkpointed at seq 5") and "cut off" in problem

    # Rewrite t2's second transaction and re-hash it (its head row too): links hold again.
    await _tamper(engine, "UPDATE postings SET amount = amount * 2 WHERE tenant_id = 't2' AND"
                          " seq = (SELECT seq FROM journal_transactions WHERE tenant_id = 't2'"
                          " AND book_seq = 2)")  # fmt: skip
    async with engine.connect() as conn:
        (broken,) = [r for r in await verify_chains(conn) if not r.ok]
        assert broken.book == "tenant:t2" and broken.broken is not None
        row = (
            await conn.execute(
                sa.text(
                    "SELECT j.*, array_agg(a.code ORDER BY p.line) AS codes,"
                    " array_agg(a.subledger ORDER BY p.line) AS subs,"
                    " array_agg(p.amount ORDER BY p.line) AS amounts,"
                    " array_agg(p.external_ref ORDER BY p.line) AS refs"
                    " FROM journal_transactions j JOIN postings p ON p.transaction_id = j.id"
                    " JOIN accounts a ON a.id = p.account_id"
                    " WHERE j.tenant_id = 't2' AND j.book_seq = 2 GROUP BY j.id"
                )
            )
        ).one()
    lines = [
        Line(code, "USD", amount, sub, ref)
        for code, sub, amount, ref in zip(row.codes, row.subs, row.amounts, row.refs, strict=True)
    ]
    forged = link_bytes(row.prev_hash, canonical_of(
        row.id, row.seq, row.tenant_id, row.posted_at, row.original_date, row.source_event_id,
        row.source_type, row.kind, row.actor, row.reason, row.memo, row.reverses, lines, 2,
    ))  # fmt: skip
    await _tamper(
        engine,
        f"UPDATE journal_transactions SET hash = '{forged}' WHERE id = '{row.id}'",
        f"UPDATE books SET head_hash = '{forged}' WHERE tenant_id = 't2'",
    )
    async with engine.connect() as conn:
        assert all(r.ok for r in await verify_chains(conn))
        problems = await check_published(conn, published)
    assert any(p.startswith("tenant:t2: seq 2 hashes to") and "rewritten" in p for p in problems)


async def test_a_journal_from_before_books_keeps_its_chain_and_books_start_beside_it(
    settings: Settings,
) -> None:
    """A database migrated to ledger_0005 with a global chain across tenants: after the
    books revision that chain still verifies as written, is closed at its head, and new
    postings go to per-tenant books."""
    own = settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}legacy_books_"})
    await recreate_database(own, "ledger")
    await asyncio.to_thread(upgrade, "ledger", own, "ledger_0005")
    engine = make_engine(own.service_database_url("ledger"), pool_size=2)
    try:
        async with engine.begin() as conn:
            pg = await driver(conn)
            prev = GENESIS
            for seq, tenant in enumerate(["t1", "t2", "t1"], start=1):
                ids = await account_ids(
                    pg, [(tenant, "bank", "USD", ""), (tenant, "suspense", "USD", "")]
                )
                lines = [Line("bank", "USD", 100), Line("suspense", "USD", -100)]
                tx, src = uuid.uuid4(), uuid.uuid4()
                digest = link_bytes(prev, canonical_of(tx, seq, tenant, NOW, None, src, "old",
                                                       "event", None, None, "", None, lines))  # fmt: skip
                await pg.execute(
                    "INSERT INTO journal_transactions (id, seq, tenant_id, posted_at,"
                    " source_event_id, source_type, kind, memo, prev_hash, hash)"
                    " VALUES ($1, $2, $3, $4, $5, 'old', 'event', '', $6, $7)",
                    tx, seq, tenant, NOW, src, prev, digest,
                )  # fmt: skip
                for n, ln in enumerate(lines, start=1):
                    await pg.execute(
                        "INSERT INTO postings (transaction_id, line, seq, tenant_id, account_id,"
                        " currency, amount, posted_at) VALUES ($1, $2, $3, $4, $5, 'USD', $6, $7)",
                        tx, n, seq, tenant, ids[(tenant, ln.code, "USD", "")], ln.amount, NOW,
                    )  # fmt: skip
                prev = digest
        await asyncio.to_thread(upgrade, "ledger", own)
        await post(engine, *_batch("t1", 2), *_batch("t3", 1))
        async with engine.connect() as conn:
            reports = {r.book: (r.ok, r.checked) for r in await verify_chains(conn)}
            legacy = (
                await conn.execute(sa.text("SELECT head_seq, head_hash FROM legacy_chain"))
            ).one()
            seqs = (await conn.execute(sa.text("SELECT min(seq) FROM journal_transactions"
                                                " WHERE book_seq IS NOT NULL"))).scalar()  # fmt: skip
        assert reports == {"legacy": (True, 3), "tenant:t1": (True, 2), "tenant:t3": (True, 1)}
        assert (legacy.head_seq, legacy.head_hash) == (3, prev)
        assert seqs == 4  # the journal-wide order goes on after the legacy rows
    finally:
        await engine.dispose()


def _on_partition(partition: int, tag: str) -> str:
    """A tenant name the tenant partitioner puts on ``partition`` of 6."""
    return next(t for n in range(1_000) if partition_for(t := f"{tag}-{n}", range(6)) == partition)


def _orders(tenant: str, stage: int, count: int) -> list[list[Envelope]]:
    """Per order, in order: funded, then two releases."""
    return [
        [
            funded(tenant, o := f"s{stage}o{i}", 1_000, 1_000),
            released(tenant, o, 400, 4, 0, 600, milestone_id="m1"),
            released(tenant, o, 600, 6, 0, 0, milestone_id="m2"),
        ]
        for i in range(count)
    ]


async def _send(producer: AIOKafkaProducer, topic: str, orders: dict[int, list[list[Envelope]]]) -> int:  # fmt: skip
    """Each order's events to the given partition, orders interleaved; returns how many."""
    pending = []
    for step in range(3):
        for partition, per_order in orders.items():
            for envs in per_order:
                key, value, headers = envs[step].to_kafka()
                send = producer.send(
                    topic, value=value, key=key, headers=headers, partition=partition
                )
                pending.append(await send)
    await asyncio.gather(*pending)
    return len(pending)


async def test_two_consumers_of_one_group_keep_every_book_whole_through_rebalances(
    scratch_ledger: ScratchLedger, settings: Settings, producer: AIOKafkaProducer
) -> None:
    """The ledger's consumer as the product builds it, twice in one group: tenants on
    partitions of either member, and one tenant whose orders sit on a partition of each (so
    both members append to its book at once). A member joins mid-stream, the other leaves
    later; every event is posted once, every book is contiguous and verifies."""
    engine = await scratch_ledger("books_group")
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}-g{uuid.uuid4().hex[:6]}"})  # fmt: skip
    for topic in (own.topic("escrow"), own.topic("financing"), own.dlq_topic):
        await create_topic(own.kafka_bootstrap_servers, topic, partitions=6)
    solo = {p: _on_partition(p, f"solo{p}") for p in (0, 2, 3, 5)}
    both = _on_partition(1, "both")

    sent: Counter[str] = Counter()

    def stage(n: int, orders: int) -> dict[int, list[list[Envelope]]]:
        out = {p: _orders(t, n, orders) for p, t in solo.items()}
        out[1] = _orders(both, n, orders)[::2] + _orders(both, n + 10, orders)[::2]
        out[4] = _orders(both, n, orders)[1::2] + _orders(both, n + 10, orders)[1::2]
        sent.update(e.tenant_id for per_order in out.values() for o in per_order for e in o)
        return out

    runtime = Runtime("ledger", own, engine, producer, ManualClock(), engine)
    (spec,) = consumers(LedgerContainer(runtime))
    assert spec.batch_handler is not None
    handed = {"a": Recorded(spec.batch_handler), "b": Recorded(spec.batch_handler)}
    members = {
        m: build_consumer(replace(spec, batch_handler=r), LedgerContainer(runtime))
        for m, r in handed.items()
    }
    stops = {m: asyncio.Event() for m in members}
    tasks: dict[str, asyncio.Task[None]] = {}

    async def join(m: str) -> None:
        await members[m].start()
        tasks[m] = asyncio.create_task(members[m].run(stops[m]))

    async def leave(m: str) -> None:
        stops[m].set()
        await tasks[m]
        await members[m].stop()

    async def posted_at_least(n: int) -> None:
        for _ in range(600):
            if await _journal_count(engine) >= n:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"fewer than {n} journal transactions after 60 s")

    total = await _send(producer, own.topic("escrow"), stage(1, 120))
    try:
        await join("a")
        await posted_at_least(100)
        await join("b")  # a rebalance while a is posting
        for _ in range(600):  # b's share of the partitions
            if members["b"].consumer.assignment():
                break
            await asyncio.sleep(0.1)
        total += await _send(producer, own.topic("escrow"), stage(2, 30))  # both post "both"
        await posted_at_least(total)
        total += await _send(producer, own.topic("escrow"), stage(3, 30))
        await leave("a")  # and another: b takes every partition
        await posted_at_least(total)
    finally:
        for m in tasks:
            if not stops[m].is_set():
                await leave(m)

    async with engine.connect() as conn:
        counts = (await conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT source_event_id),"
            " (SELECT count(*) FROM inbox), (SELECT count(*) FROM parked_subjects)"
            " FROM journal_transactions"))).one()  # fmt: skip
        reports = {r.book: r for r in await verify_chains(conn)}
    assert tuple(counts) == (total, total, total, 0)  # once each, nothing set aside
    assert set(sent) == {*solo.values(), both}
    for tenant, n in sent.items():
        assert reports[f"tenant:{tenant}"].ok and reports[f"tenant:{tenant}"].checked == n
        assert await _positions(engine, tenant) == list(range(1, n + 1))
        assert await natural(engine, tenant, "platform_fee_revenue") == 10 * n // 3
    by_member = {m: {e.tenant_id for batch in r.handed for e in batch} for m, r in handed.items()}
    assert both in by_member["a"] and both in by_member["b"]  # one book, two writers


async def _journal_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(sa.text("SELECT count(*) FROM journal_transactions"))).scalar_one()
        )


async def test_checkpoints_are_read_back_past_a_partition_whose_records_expired(
    settings: Settings, producer: AIOKafkaProducer, unique_topic: str
) -> None:
    """Retention empties a partition that no tenant wrote to for a while: its end offset
    stays where it was, and no record will ever reach it. The reader waited for one until
    its deadline and called every checkpoint unreadable (``verify`` failed for good)."""
    await create_topic(settings.kafka_bootstrap_servers, unique_topic, partitions=2)
    checkpoint = Envelope.wrap(
        ChainCheckpoint(book="tenant:t1", seq=3, hash="a" * 64),
        source="ledger", tenant_id="t1", subject="tenant:t1",
    )  # fmt: skip
    key, value, headers = checkpoint.to_kafka()
    await producer.send_and_wait(unique_topic, value, key=key, headers=headers, partition=0)
    expired = TopicPartition(unique_topic, 1)
    sent = await producer.send_and_wait(unique_topic, b"old", key=b"k", partition=1)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:  # what retention does to old segments
        await admin.delete_records({expired: RecordsToDelete(before_offset=sent.offset + 1)})
    finally:
        await admin.close()
    published = await read_published(settings.kafka_bootstrap_servers, unique_topic, within=10)
    assert {b: p.seq for b, p in published.items()} == {"tenant:t1": 3}
