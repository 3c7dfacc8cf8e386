"""Tamper evidence and the audit, each on a database of its own (they break it on purpose)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.ledger.adapters.audit import audit
from services.ledger.adapters.chain import verify_chains
from services.ledger.entrypoints.cli import app
from tests.integration.ledger.conftest import ScratchLedger
from tests.integration.ledger.helpers import funded, post, refunded, released


async def _book(engine: AsyncEngine) -> None:
    for n in range(3):
        order = f"o{n}"
        await post(engine, funded("t1", order, 10_000, 10_000), funded("t2", order, 500, 500))
        await post(
            engine, released("t1", order, 4_000, 100, 0, 6_000), refunded("t1", order, 1_000, 5_000)
        )


async def _tamper(engine: AsyncEngine, sql: str) -> None:
    """What someone with the table owner's rights could do: switch the guard off, edit."""
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE postings DISABLE TRIGGER postings_append_only"))
        await conn.execute(sa.text(sql))
        await conn.execute(sa.text("ALTER TABLE postings ENABLE TRIGGER postings_append_only"))


async def _cli(engine: AsyncEngine, *args: str) -> tuple[int, str]:
    url = engine.url.render_as_string(hide_password=False)
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--database-url", url])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


async def test_verify_finds_the_first_altered_transaction(scratch_ledger: ScratchLedger) -> None:
    engine = await scratch_ledger("tamper")
    await _book(engine)
    async with engine.connect() as conn:
        clean = {r.book: r for r in await verify_chains(conn)}
    assert {b: (r.ok, r.checked) for b, r in clean.items()} == {
        "legacy": (True, 0), "tenant:t1": (True, 9), "tenant:t2": (True, 3),
    }  # fmt: skip
    code, output = await _cli(engine, "verify", "--no-checkpoints")
    assert code == 0 and "tenant:t1: 9 transactions" in output and "tenant:t2: 3" in output, output

    # A balanced edit (both sides of t1's fourth transaction, journal seq 5) passes every
    # sum; only t1's chain can tell, and t2's book is untouched by it.
    await _tamper(engine, "UPDATE postings SET amount = amount * 2 WHERE seq = 5")
    async with engine.connect() as conn:
        reports = {r.book: r for r in await verify_chains(conn)}
        checks = {c.name: c.ok for c in await audit(conn)}
    t1 = reports["tenant:t1"]
    assert t1.broken is not None and t1.broken.seq == 4 and t1.checked == 3
    assert "altered" in t1.broken.reason
    assert reports["tenant:t2"].ok
    code, output = await _cli(engine, "verify", "--no-checkpoints")
    assert code == 1 and "tenant:t1: first broken link: seq 4" in output
    code, output = await _cli(engine, "verify", "--no-checkpoints", "--tenant", "t2")
    assert code == 0, output
    assert [name for name, ok in checks.items() if not ok] == [
        "hash chains intact (6 links verified in 2 books)"
    ]


async def test_audit_names_every_broken_invariant(scratch_ledger: ScratchLedger) -> None:
    engine = await scratch_ledger("audit")
    await _book(engine)
    code, output = await _cli(engine, "audit")
    assert code == 0, output
    # one escrow-held credit turned into a debit: unbalanced, and the escrow goes negative
    await _tamper(
        engine,
        "UPDATE postings SET amount = -amount WHERE seq = 1 AND line = 2",
    )
    code, output = await _cli(engine, "audit")
    assert code == 1
    for failed in (
        "✗ every transaction balances per currency",
        "✗ trial balance is zero per tenant and currency",
        "✗ no escrow holds a negative balance",
        "✗ hash chains intact (3 links verified in 2 books)",
    ):
        assert failed in output
    assert "✓ every transaction has at least two postings" in output


async def test_audit_finds_a_posting_moved_to_another_tenants_account(
    scratch_ledger: ScratchLedger,
) -> None:
    """Same code, sub-ledger and currency in another tenant's books: the hash (which names
    the account by code) still holds and every transaction still balances; the audit must
    see that the posting's tenant is not its account's."""
    engine = await scratch_ledger("moved")
    await _book(engine)
    await _tamper(
        engine,
        "UPDATE postings p SET account_id = other.id FROM accounts mine, accounts other"
        " WHERE p.account_id = mine.id AND mine.tenant_id = 't1' AND other.tenant_id = 't2'"
        " AND other.code = mine.code AND other.subledger = mine.subledger"
        " AND other.currency = mine.currency AND p.seq = 1",
    )
    async with engine.connect() as conn:
        failed = [c for c in await audit(conn) if not c.ok]
    assert "postings agree with their transaction and account" in [c.name for c in failed]
