"""Service databases created by the migrations of before, when each service carried its own
copy of the backbone migrations (tests/integration/backbone_per_service), against the
migrations of now."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command

from shared.db import make_engine
from shared.migrations import upgrade
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
