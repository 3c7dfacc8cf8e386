"""The database's own guards: the held >= 0 CHECK constraint and optimistic versioning."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from services.escrow.adapters import repository
from services.escrow.adapters.tables import escrows
from services.escrow.domain.errors import InvariantViolation
from shared.unit_of_work import Conflict
from tests.integration.escrow.conftest import Api
from tests.unit.escrow.builders import T0, funded, new_order

pytestmark = pytest.mark.integration


async def test_the_check_constraint_refuses_held_below_zero_even_bypassing_the_domain(
    api: Api,
) -> None:
    escrow = funded(new_order())
    async with api.engine.begin() as conn:
        await repository.add(conn, escrow, T0)
    with pytest.raises(IntegrityError, match="escrows_held_non_negative"):
        async with api.engine.begin() as conn:
            await conn.execute(
                escrows.update()
                .where(escrows.c.order_id == escrow.order_id)
                .values(released=100_001)
            )
    async with api.engine.begin() as conn:
        saved = await repository.get(conn, escrow.order_id)
        assert saved is not None
        broken = saved.model_copy(update={"refunded": 100_001})  # what a buggy command might do
        with pytest.raises(InvariantViolation):
            await repository.save(conn, broken, T0)


async def test_a_stale_version_is_a_concurrent_modification(api: Api) -> None:
    escrow = new_order()
    async with api.engine.begin() as conn:
        await repository.add(conn, escrow, T0)
    async with api.engine.begin() as conn:
        read = await repository.get(conn, escrow.order_id)
    assert read is not None and read.version == 1
    async with api.engine.begin() as conn:
        await repository.save(conn, read.model_copy(update={"status": "cancelled"}), T0)
    with pytest.raises(Conflict):
        async with api.engine.begin() as conn:
            await repository.save(conn, read.model_copy(update={"funded": 5}), T0)
    async with api.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(escrows).where(escrows.c.order_id == escrow.order_id))
        ).one()
    assert (row.version, row.status, row.funded) == (2, "cancelled", 0)
