"""Service databases created by the migrations of before, when each service carried its own
copy of the backbone migrations (tests/integration/backbone_per_service), against the
migrations of now: they upgrade to exactly the schema a fresh database gets, running only
what they had not run (their old revision ids renamed to the backbone branch's), and the
code of before can take them back once the ids are renamed back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from alembic import command

from shared.db import make_engine
from shared.migrations import alembic_config, upgrade
from shared.settings import SERVICES, Settings
from tests.conftest import TEST_DB_PREFIX, _created, recreate_database
from tests.integration import backbone_per_service
from tests.support.schema import Schema, describe, differences, without_versions

pytestmark = pytest.mark.integration


def databases(settings: Settings, name: str) -> Settings:
    """Databases of this module's own, under a prefix of their own."""
    _created["settings"] = settings
    return settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}{name}_"})


async def schema_of(settings: Settings, service: str) -> Schema:
    engine = make_engine(settings.service_database_url(service))
    try:
        return await describe(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def fresh(settings: Settings) -> dict[str, Schema]:
    """Each service's schema as a new database gets it from the migrations of now."""
    own = databases(settings, "fresh")
    for svc in SERVICES:
        await recreate_database(own, svc)
        await asyncio.to_thread(upgrade, svc, own)
    return {svc: await schema_of(own, svc) for svc in SERVICES}


async def build_as_before(settings: Settings, service: str, revision: str = "heads") -> None:
    url = await recreate_database(settings, service)
    cfg = backbone_per_service.config(service, url)
    await asyncio.to_thread(command.upgrade, cfg, revision)


@pytest.mark.parametrize("service", SERVICES)
async def test_the_frozen_layout_builds_what_a_fresh_database_gets(
    settings: Settings, fresh: dict[str, Schema], service: str
) -> None:
    """The fixture is true to the migrations of before: the same tables, columns, indexes,
    constraints, triggers and functions, down to the names the server chose."""
    before = databases(settings, "before")
    await build_as_before(before, service)
    built = without_versions(await schema_of(before, service))
    assert differences(built, without_versions(fresh[service])) == {}


OWN = {
    "escrow": [f"escrow_{n:04d}" for n in range(2, 8)],
    "ledger": [f"ledger_{n:04d}" for n in range(2, 11)],
    "financing": ["financing_0002", "financing_0003", "financing_0004", "financing_0005"],
}


def backbone(first: int) -> list[str]:
    return [f"backbone_{n:04d}" for n in range(first, 6)]


@dataclass(frozen=True)
class Stop:
    """Where a database made by the migrations of before can stand."""

    revision: str  # of before; {svc}: the service
    # What the migrations of now still run there, given the service's own revisions.
    still_to_run: Callable[[list[str]], list[str]]
    setup: str | None = None  # what makes the database as the code of its day left it


STOPS = {
    "migrated": Stop("heads", lambda own: []),
    "before the keys moved": Stop("{svc}_backbone_0003", lambda own: [*backbone(4), *own]),
    "at its first own revision": Stop("{svc}_0002", lambda own: [*backbone(2), *own[1:]]),
    # {svc}_0001 ran before parked_subjects existed: backbone_0002 creates it.
    "at a backbone without parking": Stop(
        "{svc}_0001", lambda own: [*backbone(2), *own], "DROP TABLE parked_subjects"
    ),
}


def ran(caplog: pytest.LogCaptureFixture) -> set[str]:
    """The revisions Alembic ran (it logs "Running <step>" for each)."""
    return {r.args[0].revision.revision for r in caplog.records if r.msg == "Running %s"}


async def execute(settings: Settings, service: str, statement: str) -> None:
    engine = make_engine(settings.service_database_url(service))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("stop", STOPS)
@pytest.mark.parametrize("service", SERVICES)
async def test_a_database_made_before_upgrades_to_the_schema_of_a_fresh_one(
    settings: Settings,
    fresh: dict[str, Schema],
    service: str,
    stop: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    at = STOPS[stop]
    before = databases(settings, "upgraded")
    await build_as_before(before, service, at.revision.format(svc=service))
    if at.setup:
        await execute(before, service, at.setup)
    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    caplog.clear()  # only the upgrade's steps (see the rollback test below)
    await asyncio.to_thread(upgrade, service, before)
    assert ran(caplog) == set(at.still_to_run(OWN[service]))
    # The same schema, and the same revisions in alembic_version.
    assert differences(await schema_of(before, service), fresh[service]) == {}


# docs/operations.md, "Migrations": what makes the code of before run on the database again.
RENAME_BACK = """UPDATE alembic_version SET version_num = CASE version_num
    WHEN 'backbone_0001' THEN '{svc}_0001' ELSE '{svc}_' || version_num END
WHERE version_num LIKE 'backbone_%'"""


@pytest.mark.parametrize("service", SERVICES)
async def test_the_code_of_before_takes_an_upgraded_database_back_once_its_ids_are_renamed(
    settings: Settings, fresh: dict[str, Schema], service: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = databases(settings, "rollback")
    await build_as_before(db, service)
    held_before = (await schema_of(db, service))["versions"]
    await asyncio.to_thread(upgrade, service, db)
    await execute(db, service, RENAME_BACK.format(svc=service))
    assert (await schema_of(db, service))["versions"] == held_before

    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    # Only what runs from here: when an earlier test left INFO on (the services' logging
    # setup), the build and upgrade above were captured too, and the set was never empty.
    caplog.clear()
    url = db.service_database_url(service)
    await asyncio.to_thread(command.upgrade, backbone_per_service.config(service, url), "heads")
    assert ran(caplog) == set()  # at its heads: nothing to run, no revision it does not know
    await asyncio.to_thread(upgrade, service, db)  # and forward again
    assert ran(caplog) == set()
    assert differences(await schema_of(db, service), fresh[service]) == {}


@pytest.mark.parametrize("service", ["escrow", "financing"])  # ledger_0006 is irreversible
async def test_a_fresh_database_downgrades_to_nothing_and_upgrades_back(
    settings: Settings, fresh: dict[str, Schema], service: str
) -> None:
    """The written-out backbone revisions undo what they did, as their copies did."""
    db = databases(settings, "roundtrip")
    url = await recreate_database(db, service)
    await asyncio.to_thread(upgrade, service, db)
    await asyncio.to_thread(command.downgrade, alembic_config(service, url), "base")
    emptied = await schema_of(db, service)
    assert [r[0] for r in emptied["relations"]] == ["alembic_version"]
    assert emptied["versions"] == []
    await asyncio.to_thread(upgrade, service, db)
    assert differences(await schema_of(db, service), fresh[service]) == {}
