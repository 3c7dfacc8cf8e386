"""Every ledger write registers, with its commit, the answer it gives: a retry after the
process died between the commit and the answer's storage gets that answer, and runs nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import allow_adjustments, funded, post
from tests.integration.ledger.test_reconciliation import report
from tests.support.lost_answers import lose_answers, replayed_as_first

pytestmark = pytest.mark.integration


async def twice(
    api: Api, monkeypatch: pytest.MonkeyPatch, path: str, **kw: object
) -> httpx.Response:
    headers = {"Idempotency-Key": uuid.uuid4().hex, **kw.pop("headers", {})}  # type: ignore[dict-item]
    with monkeypatch.context() as patch:
        lose_answers(patch)
        first = await api.client.post(path, headers=headers, **kw)  # type: ignore[arg-type]
    retry = await api.client.post(path, headers=headers, **kw)  # type: ignore[arg-type]
    replayed_as_first(first, retry)
    return first


async def test_adjustment_reversal_and_period_close(
    api: Api, ledger: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await allow_adjustments(api.client, api.identity, api.tenant)
    adjustment = {
        "reason": "Stripe fee on ch_7 not booked",
        "lines": [
            {"account": "psp_fee_expense", "currency": "USD", "debit": 42},
            {"account": "stripe_clearing", "currency": "USD", "credit": 42},
        ],
    }
    tx = await twice(api, monkeypatch, "/v1/ledger/adjustments", json=adjustment)
    assert tx.status_code == 201
    reversed_ = await twice(
        api, monkeypatch, f"/v1/ledger/transactions/{tx.json()['id']}/reverse",
        json={"reason": "booked twice"},
    )  # fmt: skip
    assert reversed_.status_code == 201 and reversed_.json()["reverses"] == tx.json()["id"]
    closed = await twice(
        api, monkeypatch, "/v1/ledger/periods/close",
        json={"through": "2026-05-31T23:59:59Z", "reason": "May"},
    )  # fmt: skip
    assert closed.status_code == 201


async def test_reconciliation_run_and_break_work(
    api: Api, ledger: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await post(ledger, funded(api.tenant, "A", 10_000, 10_000, stripe_charge_id="ch_A"))
    run = await twice(
        api, monkeypatch, "/v1/ledger/reconciliation/runs", params={"source": "csv"},
        content=report(("ch_A", "charge", "100.00"), ("ch_X", "charge", "5.00"), tenant=api.tenant).encode(),
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert run.status_code == 201 and run.json()["missing_in_ledger"] == 1
    breaks = (await api.client.get("/v1/ledger/reconciliation/breaks")).json()["data"]
    bid = next(b["id"] for b in breaks if b["object_id"] == "ch_X")
    path = f"/v1/ledger/reconciliation/breaks/{bid}"
    assigned = await twice(api, monkeypatch, f"{path}/assign", json={"owner": "carol"})
    assert assigned.status_code == 200 and assigned.json()["owner"] == "carol"
    resolved = await twice(api, monkeypatch, f"{path}/resolve", json={"resolution": "refunded"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
