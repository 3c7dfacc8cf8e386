"""A closed period takes no postings; a late event lands in the open period, keeping its date."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import allow_adjustments, funded, post

MAY_END = datetime(2026, 6, 1, tzinfo=UTC)


async def _close(api: Api, through: datetime) -> int:
    r = await api.client.post(
        "/v1/ledger/periods/close", json={"through": through.isoformat(), "reason": "May books"}
    )
    return r.status_code


async def test_late_event_posts_into_the_open_period(api: Api, ledger: AsyncEngine) -> None:
    assert await _close(api, MAY_END) == 201
    late = funded(api.tenant, "o1", 2_500, 2_500, at=MAY_END - timedelta(days=3))
    await post(ledger, late)
    tx = (
        await api.client.get("/v1/ledger/transactions", params={"source_event_id": str(late.id)})
    ).json()
    assert datetime.fromisoformat(tx["posted_at"]) == MAY_END
    assert datetime.fromisoformat(tx["original_date"]) == MAY_END - timedelta(days=3)
    held = tx["postings"][1]["account_id"]
    may = await api.client.get(
        f"/v1/ledger/accounts/{held}/balance",
        params={"as_of": (MAY_END - timedelta(microseconds=1)).isoformat()},
    )
    assert may.json()["balance"] == 0  # the closed May is unchanged


async def test_staff_posting_dated_in_a_closed_period_is_refused(api: Api) -> None:
    await allow_adjustments(api.client, api.identity, api.tenant)
    assert await _close(api, MAY_END) == 201
    body = {
        "reason": "back-dated fix",
        "posted_at": (MAY_END - timedelta(days=1)).isoformat(),
        "lines": [
            {"account": "suspense", "currency": "USD", "debit": 10},
            {"account": "bank", "currency": "USD", "credit": 10},
        ],
    }
    r = await api.client.post("/v1/ledger/adjustments", json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "period_closed"
    ok = await api.client.post(
        "/v1/ledger/adjustments", json={**body, "posted_at": MAY_END.isoformat()}
    )
    assert ok.status_code == 201


async def test_closes_only_move_forward_and_only_over_the_past(api: Api) -> None:
    assert await _close(api, MAY_END) == 201
    assert await _close(api, MAY_END - timedelta(days=31)) == 409
    assert await _close(api, api.clock.now() + timedelta(days=1)) == 409
    history = (await api.client.get("/v1/ledger/periods")).json()
    assert [(h["closed_by"], h["reason"]) for h in history] == [("apikey:alice", "May books")]


# A hand-written row's place in its tenant's book: right after the last one.
NEXT_IN_BOOK = (
    "(SELECT coalesce(max(book_seq), 0) + 1 FROM journal_transactions WHERE tenant_id = :t)"
)


async def test_the_database_refuses_a_back_dated_row(api: Api, ledger: AsyncEngine) -> None:
    assert await _close(api, MAY_END) == 201
    with pytest.raises(DBAPIError, match="falls in a period closed through"):
        async with ledger.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO journal_transactions (id, seq, tenant_id, posted_at,"
                    " source_event_id, source_type, kind, memo, prev_hash, hash, book_seq)"
                    " VALUES (:id, :seq, :t, :at, :id, 'test', 'event', '', 'x', 'y',"
                    f" {NEXT_IN_BOOK})"
                ),
                {"id": uuid.uuid4(), "seq": 10**13 + uuid.uuid4().int % 10**9, "t": api.tenant,
                 "at": MAY_END - timedelta(days=1)},
            )  # fmt: skip
