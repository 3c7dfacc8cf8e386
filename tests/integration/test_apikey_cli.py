"""``tradeflow apikey create|list|revoke|rotate`` against the session's identity database."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
import sqlalchemy as sa
from click.testing import Result
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from services.cli import app
from shared.identity.keys import find_active
from shared.identity.tables import api_keys
from shared.settings import Settings

pytestmark = pytest.mark.integration


def env(settings: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "TRADEFLOW_DATABASE_PREFIX": settings.database_prefix,
        "TRADEFLOW_ENVIRONMENT": "test",
    }


async def tradeflow(settings: Settings, *args: str) -> Result:
    """The CLI runs its own event loop, so it runs in a thread beside the tests' loop."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env(settings))


async def valid(identity: AsyncEngine, raw: str) -> bool:
    async with identity.begin() as conn:
        return await find_active(conn, raw) is not None


async def test_the_operator_creates_lists_rotates_and_revokes_keys(
    migrated: Settings, identity: AsyncEngine
) -> None:
    tenant = f"cli-{uuid.uuid4().hex[:6]}"
    created = await tradeflow(
        migrated, "apikey", "create", "--tenant", tenant, "--scope", "supplier",
        "--name", "portal", "--party", "supplier-9",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    raw = created.stdout.strip()  # the key alone on stdout, for scripts
    assert re.fullmatch(r"tf_[A-Za-z0-9_-]+", raw)
    key_id = re.search(r"key_[0-9a-f]+", created.stderr)
    assert key_id is not None and await valid(identity, raw)
    async with identity.connect() as conn:
        row = (await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id[0]))).one()
    assert (row.party_id, row.created_by) == ("supplier-9", f"cli:{row.created_by[4:]}")

    listed = await tradeflow(migrated, "apikey", "list", "--tenant", tenant)
    assert listed.exit_code == 0 and key_id[0] in listed.stdout
    assert raw not in listed.output and raw[-4:] in listed.stdout

    rotated = await tradeflow(migrated, "apikey", "rotate", key_id[0], "--overlap", "0")
    assert rotated.exit_code == 0, rotated.output
    successor = rotated.stdout.strip()
    assert successor != raw and await valid(identity, successor)
    assert not await valid(identity, raw)  # overlap 0: refused at once

    new_id = re.search(r"issued (key_[0-9a-f]+)", rotated.stderr)
    assert new_id is not None
    revoked = await tradeflow(migrated, "apikey", "revoke", new_id[1])
    assert revoked.exit_code == 0, revoked.output
    assert not await valid(identity, successor)

    again = await tradeflow(migrated, "apikey", "rotate", new_id[1])
    assert again.exit_code == 1 and "api_key_inactive" in again.output
    unknown = await tradeflow(migrated, "apikey", "revoke", "key_nope")
    assert unknown.exit_code == 1 and "api_key_not_found" in unknown.output
    bad = await tradeflow(migrated, "apikey", "rotate", key_id[0], "--overlap", "soon")
    assert bad.exit_code == 2 and "overlap" in bad.output


async def test_the_platforms_own_tenant_id_cannot_be_given_to_a_tenant(
    migrated: Settings, identity: AsyncEngine
) -> None:
    """Events the platform files under its own tenant id (the legacy chain's checkpoints) would
    reach a tenant of that name: its webhooks, its lists. So no key is issued for it."""
    refused = await tradeflow(
        migrated, "apikey", "create", "--tenant", "tradeflow", "--scope", "platform",
        "--name", "squatter",
    )  # fmt: skip
    assert refused.exit_code != 0 and "reserved_tenant" in refused.output
    async with identity.connect() as conn:
        issued = await conn.scalar(
            sa.select(sa.func.count()).where(api_keys.c.tenant_id == "tradeflow")
        )
    assert issued == 0
