"""The ledger's own revisions of the Stripe books and the break workflow go down to
ledger_0006 and up again, with data in the tables they add."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from shared.db import asyncpg_dsn, make_engine
from shared.migrations import alembic_config, upgrade
from shared.settings import Settings
from tests.conftest import TEST_DB_PREFIX, _created, recreate_database
from tests.support.schema import Schema, describe, differences

pytestmark = pytest.mark.integration


def _own(settings: Settings) -> Settings:
    _created["settings"] = settings
    return settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}ledgerdown_"})


async def _schema(url: str) -> Schema:
    engine = make_engine(url)
    try:
        return await describe(engine)
    finally:
        await engine.dispose()


def _dsn(url: str) -> str:
    return asyncpg_dsn(make_url(url).render_as_string(hide_password=False))


async def test_0008_and_0007_go_down_with_a_worked_date_mismatch_break_and_up_again(
    settings: Settings,
) -> None:
    db = _own(settings)
    url = await recreate_database(db, "ledger")
    await asyncio.to_thread(upgrade, "ledger", db)
    fresh = await _schema(url)
    pg = await asyncpg.connect(_dsn(url))
    try:
        brk = await pg.fetchval(
            "INSERT INTO recon_breaks (tenant_id, kind, object_id, currency, owner,"
            " first_seen_at, last_seen_at, first_run_id, last_run_id)"
            " VALUES ('t', 'date_mismatch', 'ch_1', 'USD', 'finance', now(), now(), 1, 1)"
            " RETURNING id"
        )
        await pg.execute(
            "INSERT INTO break_comments (tenant_id, break_id, author, body, created_at)"
            " VALUES ('t', $1, 'apikey:a', 'looking', now())",
            brk,
        )
        await pg.execute(
            "INSERT INTO recon_breaks (tenant_id, kind, object_id, currency, owner,"
            " first_seen_at, last_seen_at, first_run_id, last_run_id)"
            " VALUES ('t', 'stripe_disagrees', 'o1', 'USD', 'payments-ops', now(), now(), 1, 1)"
        )
        await pg.execute(
            "INSERT INTO stripe_accounts (tenant_id, stripe_account_id, set_by)"
            " VALUES ('t', 'acct_1', 'apikey:a')"
        )
        await pg.execute(
            "INSERT INTO stripe_balance_transactions (balance_txn_id, tenant_id, type,"
            " source_id, currency, amount, fee, created, run_id)"
            " VALUES ('txn_1', 't', 'payout', 'po_1', 'USD', -100, 0, now(), 1)"
        )
        await pg.execute(
            "INSERT INTO break_assignments (break_id, tenant_id, assignee, assigned_by,"
            " assigned_at) VALUES ($1, 't', 'apikey:a', 'apikey:b', now())",
            brk,
        )
    finally:
        await pg.close()
    cfg = alembic_config("ledger", url)
    await asyncio.to_thread(command.downgrade, cfg, "ledger_0007")
    await asyncio.to_thread(command.downgrade, cfg, "ledger_0006")
    pg = await asyncpg.connect(_dsn(url))
    try:
        assert await pg.fetchval("SELECT to_regclass('break_comments')") is None
        assert await pg.fetchval("SELECT to_regclass('stripe_balance_transactions')") is None
        assert await pg.fetchval("SELECT count(*) FROM recon_breaks") == 0
    finally:
        await pg.close()
    await asyncio.to_thread(upgrade, "ledger", db)
    assert differences(await _schema(url), fresh) == {}
