"""The role deploy/local/postgres.sh sets up can do what the tests and benchmarks ask of it."""

from __future__ import annotations

import pytest

from shared.settings import Settings
from tests.conftest import _admin

pytestmark = pytest.mark.integration


async def test_the_role_may_end_an_autovacuum_worker_in_a_database_it_drops(
    settings: Settings,
) -> None:
    """``DROP DATABASE ... WITH (FORCE)`` terminates every other backend in the database,
    autovacuum workers included, which belong to no role: without pg_signal_backend it
    failed with "must be a member of the role whose process is being terminated" whenever
    autovacuum was busy on a fresh database's rows (a test's setup, a benchmark's cleanup)."""
    admin = await _admin(settings)
    try:
        assert await admin.fetchval("SELECT pg_has_role('pg_signal_backend', 'MEMBER')")
    finally:
        await admin.close()
