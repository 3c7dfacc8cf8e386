"""What a database's schema is, read from PostgreSQL's catalogs, to compare two databases.

Everything the migrations create in the ``public`` schema, each as the server renders it:
relations (with kind and persistence: an UNLOGGED table is not a logged one), columns in
order (type, NOT NULL, default, identity, generated), constraints, indexes, triggers,
functions, sequences, views and enum types; and the rows of ``alembic_version``. Names of
objects the server named itself (``outbox_pkey``, ``outbox_seq_seq``) are part of it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

Schema = dict[str, list[tuple[Any, ...]]]

_PUBLIC = "(SELECT oid FROM pg_namespace WHERE nspname = 'public')"

QUERIES = {
    "relations": f"""
        SELECT relname, relkind, relpersistence FROM pg_class
        WHERE relnamespace = {_PUBLIC} AND relkind IN ('r', 'p', 'v', 'm', 'S', 'f')""",
    # The position among the columns still there, not attnum (a dropped column keeps its).
    "columns": f"""
        SELECT c.relname,
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
               a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
               a.attcollation::regcollation::text
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = {_PUBLIC} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": f"""
        SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = {_PUBLIC}""",
    "indexes": f"""
        SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c
        WHERE c.relnamespace = {_PUBLIC} AND c.relkind IN ('i', 'I')""",
    "triggers": f"""
        SELECT t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = {_PUBLIC} AND NOT t.tgisinternal""",
    "functions": f"""
        SELECT proname, pg_get_function_identity_arguments(oid), pg_get_functiondef(oid)
        FROM pg_proc WHERE pronamespace = {_PUBLIC}""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value,
               increment_by, cycle, cache_size
        FROM pg_sequences WHERE schemaname = 'public'""",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
    "enums": f"""
        SELECT t.typname, e.enumsortorder, e.enumlabel FROM pg_enum e
        JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = {_PUBLIC}""",
}


async def describe(engine: AsyncEngine) -> Schema:
    """The schema of ``engine``'s database; two databases have the same schema when their
    descriptions are equal (``alembic_version`` under its own key, ``versions``)."""
    schema: Schema = {}
    async with engine.connect() as conn:
        for name, query in QUERIES.items():
            rows = await conn.execute(sa.text(query))
            schema[name] = sorted((tuple(r) for r in rows), key=repr)
        schema["versions"] = []
        found = await conn.execute(sa.text("SELECT to_regclass('public.alembic_version')"))
        if found.scalar_one() is not None:
            versions = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            schema["versions"] = sorted((tuple(r) for r in versions), key=repr)
    return schema


def without_versions(schema: Schema) -> Schema:
    return {k: v for k, v in schema.items() if k != "versions"}


def differences(left: Schema, right: Schema) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """What only one of two descriptions has, per kind; empty when they are equal (readable
    in an assertion, unlike two whole descriptions)."""
    found: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for kind in left.keys() | right.keys():
        a, b = set(left.get(kind, [])), set(right.get(kind, []))
        if a != b:
            found[kind] = {
                "left only": sorted(a - b, key=repr),
                "right only": sorted(b - a, key=repr),
            }
    return found
