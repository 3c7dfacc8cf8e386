"""Keys stored in the services' own api_keys tables (before identity) survive the move.

``upgrade`` copies them into identity (idempotently; one key copied from three services is
one key, revoked if any copy was) and the backbone revision then drops the old table,
refusing when the copy did not happen or the table changed after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.identity.keys import find_active, hash_key
from shared.identity.legacy import CopiedKeys, copy_legacy_keys, legacy_key_id
from shared.identity.tables import api_keys
from shared.migrations import LEGACY_KEYS_COPIED, alembic_config, upgrade
from shared.settings import SERVICES, Settings
from tests.conftest import TEST_DB_PREFIX, _created, recreate_database

pytestmark = pytest.mark.integration

BEFORE_THE_MOVE = "backbone_0003"  # the backbone as it was when keys lived here
LEGACY = """CREATE TABLE api_keys (
    key_hash text PRIMARY KEY, tenant_id text NOT NULL, scopes text[] NOT NULL,
    {party} name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz)"""

ACME = "tf_acme_backend_0123456789abcdef"  # on all three services, as `tradeflow apikey` made it
OLD = "tf_acme_retired_0123456789abcdef"  # revoked on ledger only
PORTAL = "tf_acme_portal_s1_0123456789abc"  # a supplier key, ledger only


@pytest.fixture
async def legacy(settings: Settings) -> AsyncIterator[Settings]:
    """Service databases of their own, as the code before identity left them, with keys."""
    _created["settings"] = settings
    own = settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}legacy_"})
    await recreate_database(own, "identity")
    for svc in SERVICES:
        await recreate_database(own, svc)
        await asyncio.to_thread(upgrade, svc, own, BEFORE_THE_MOVE)
        engine = make_engine(own.service_database_url(svc))
        async with engine.begin() as conn:
            # financing's table predates party_id (backbone_0003): the copy copes.
            party = "" if svc == "financing" else "party_id text,"
            await conn.execute(sa.text(LEGACY.format(party=party)))
            rows = [(ACME, "acme", ["platform"], None, "acme-backend", None)]
            rows.append((OLD, "acme", ["platform"], None, "retired", None))
            if svc == "ledger":
                rows[1] = (OLD, "acme", ["platform"], None, "retired", datetime.now(UTC))
                rows.append((PORTAL, "acme", ["supplier"], "s1", "portal", None))
            for raw, tenant, scopes, party_id, name, revoked in rows:
                values = {"h": hash_key(raw), "t": tenant, "s": scopes, "n": name, "r": revoked}
                cols = "key_hash, tenant_id, scopes, name, revoked_at"
                args = ":h, :t, :s, :n, :r"
                if party:
                    cols, args, values["p"] = f"{cols}, party_id", f"{args}, :p", party_id
                await conn.execute(
                    sa.text(f"INSERT INTO api_keys ({cols}) VALUES ({args})"), values
                )
        await engine.dispose()
    yield own


async def has_table(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(sa.text("SELECT to_regclass('public.api_keys') IS NOT NULL"))
        return bool(found.scalar_one())


async def test_migrate_copies_the_keys_into_identity_then_drops_the_old_tables(
    legacy: Settings,
) -> None:
    for svc in SERVICES:
        await asyncio.to_thread(upgrade, svc, legacy)
    identity = make_engine(legacy.identity_database_url)
    engines = {svc: make_engine(legacy.service_database_url(svc)) for svc in SERVICES}
    try:
        for engine in engines.values():
            assert not await has_table(engine)
        async with identity.begin() as conn:
            rows = {r.key_hash: r for r in await conn.execute(sa.select(api_keys))}
            assert set(rows) == {hash_key(ACME), hash_key(OLD), hash_key(PORTAL)}
            acme = rows[hash_key(ACME)]
            assert (acme.key_id, acme.tenant_id, acme.scopes, acme.name) == (
                legacy_key_id(hash_key(ACME)), "acme", ["platform"], "acme-backend",
            )  # fmt: skip
            assert acme.created_by == "import:escrow" and acme.hint is None
            assert rows[hash_key(PORTAL)].party_id == "s1"
            assert rows[hash_key(OLD)].revoked_at is not None  # revoked on one service: revoked
            assert await find_active(conn, ACME) is not None
            assert await find_active(conn, PORTAL) is not None
            assert await find_active(conn, OLD) is None
        for svc in SERVICES:  # migrating again changes nothing
            await asyncio.to_thread(upgrade, svc, legacy)
        async with identity.connect() as conn:
            count = await conn.execute(sa.select(sa.func.count()).select_from(api_keys))
            assert count.scalar_one() == 3
    finally:
        await identity.dispose()
        for engine in engines.values():
            await engine.dispose()


async def test_the_copy_is_idempotent(legacy: Settings) -> None:
    await asyncio.to_thread(upgrade, "identity", legacy)
    service = make_engine(legacy.service_database_url("ledger"))
    identity = make_engine(legacy.identity_database_url)
    try:
        async with service.connect() as source, identity.begin() as target:
            first = await copy_legacy_keys(source, target, "ledger")
            second = await copy_legacy_keys(source, target, "ledger")
        assert (first.new, second.new) == (3, 0) and first.seen == second.seen
    finally:
        await service.dispose()
        await identity.dispose()


async def test_the_old_table_is_not_dropped_without_the_copy(legacy: Settings) -> None:
    url = legacy.service_database_url("escrow")
    # Alembic run some other way than shared.migrations.upgrade: nothing was copied.
    with pytest.raises(RuntimeError, match="tradeflow migrate"):
        await asyncio.to_thread(command.upgrade, alembic_config("escrow", url), "heads")
    # A copy that missed a key (created after it, by an old process still running).
    cfg = alembic_config("escrow", url)
    cfg.attributes[LEGACY_KEYS_COPIED] = CopiedKeys(1, frozenset({(hash_key(ACME), False)}))
    with pytest.raises(RuntimeError, match="changed after the copy"):
        await asyncio.to_thread(command.upgrade, cfg, "heads")
    engine = make_engine(url)
    try:
        assert await has_table(engine)  # the keys are still there
    finally:
        await engine.dispose()
