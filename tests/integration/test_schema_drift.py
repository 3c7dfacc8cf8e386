"""The table definitions the code queries through agree with what the migrations build.

The code reads and writes through SQLAlchemy tables (shared/db.py's backbone, each
service's adapters/tables.py, shared/identity/tables.py); the databases are built by the
Alembic revisions, which never read those definitions. For each database, a fresh one
migrated to head is compared with its definitions by Alembic's autogenerate comparison:
tables, columns, types, nullability, server defaults, indexes, unique constraints and
foreign keys. Any difference fails. Autogenerate does not look at an index's WHERE or
INCLUDE, nor at UNLOGGED: for those the definitions are created in an empty database and
its indexes and tables compared, as the server renders them, with the migrated one's.
(CHECK constraints, triggers and functions are in the migrations only; the tests of what
they refuse cover them.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from services.escrow.adapters.tables import ESCROW
from services.financing.adapters.tables import FINANCING
from services.ledger.adapters.tables import LEDGER
from shared.db import BACKBONE, make_engine
from shared.identity.tables import IDENTITY as IDENTITY_TABLES
from shared.migrations import upgrade
from shared.settings import IDENTITY, Settings
from tests.conftest import TEST_DB_PREFIX, _created, recreate_database
from tests.support.schema import Schema, describe
from tests.support.schema import differences as schema_differences

pytestmark = pytest.mark.integration

DEFINITIONS = {
    IDENTITY: [IDENTITY_TABLES],
    "escrow": [BACKBONE, ESCROW],
    "ledger": [BACKBONE, LEDGER],
    "financing": [BACKBONE, FINANCING],
}


def _named(obj: Any) -> str:
    table = getattr(obj, "table", None)
    name = getattr(obj, "name", None) or str(getattr(obj, "columns", obj))
    return f"{table.name}.{name}" if isinstance(table, sa.Table) else str(name)


def readable(diff: Any) -> str:
    """One difference: ``add_*`` is in the definitions only, ``remove_*`` in the database
    only; ``modify_*`` shows the database's then the definitions' side."""
    if isinstance(diff, list):  # one column's modifications
        return "; ".join(readable(d) for d in diff)
    op = diff[0]
    if op.startswith("modify_"):
        _, _schema, table, column, _existing, in_db, in_code = diff
        shown = [
            getattr(getattr(v, "arg", v), "text", getattr(v, "arg", v)) for v in (in_db, in_code)
        ]
        return f"{op} {table}.{column}: database {shown[0]!r}, definitions {shown[1]!r}"
    if op in ("add_column", "remove_column"):
        return f"{op} {diff[2]}.{diff[3].name}"
    return f"{op} {_named(diff[1])}"


def differences(conn: Connection, metadata: list[sa.MetaData]) -> list[str]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return [readable(d) for d in compare_metadata(context, metadata)]


def databases(settings: Settings, name: str) -> Settings:
    """Databases of this module's own, under a prefix of their own."""
    _created["settings"] = settings
    return settings.model_copy(update={"database_prefix": f"{TEST_DB_PREFIX}{name}_"})


@pytest.fixture(scope="module")
async def fresh(settings: Settings) -> Settings:
    """A database of each component, migrated to head."""
    own = databases(settings, "drift")
    for component in DEFINITIONS:
        await recreate_database(own, component)
        await asyncio.to_thread(upgrade, component, own)
    return own


async def described(settings: Settings, component: str) -> Schema:
    engine = make_engine(settings.service_database_url(component))
    try:
        return await describe(engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("component", DEFINITIONS)
async def test_the_table_definitions_are_what_the_migrations_build(
    fresh: Settings, component: str
) -> None:
    engine = make_engine(fresh.service_database_url(component))
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(differences, DEFINITIONS[component])
    finally:
        await engine.dispose()
    assert not found, "\n".join(["definitions and migrated database differ:", *found])


def indexes_and_tables(schema: Schema) -> Schema:
    """Every index as the server renders it (columns, INCLUDE, WHERE), and every table with
    its persistence; Alembic's own table left out."""
    return {
        "indexes": [i for i in schema["indexes"] if not i[0].startswith("alembic_version")],
        "tables": [
            (r[0], r[2]) for r in schema["relations"] if r[1] == b"r" and r[0] != "alembic_version"
        ],
    }


@pytest.mark.parametrize("component", DEFINITIONS)
async def test_the_table_definitions_create_the_indexes_the_migrations_build(
    settings: Settings, fresh: Settings, component: str
) -> None:
    created = databases(settings, "created")
    engine = make_engine(await recreate_database(created, component))
    try:
        async with engine.begin() as conn:
            for metadata in DEFINITIONS[component]:
                await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    from_definitions = indexes_and_tables(await described(created, component))
    from_migrations = indexes_and_tables(await described(fresh, component))
    assert schema_differences(from_definitions, from_migrations) == {}
