"""Journal export: documented columns, minor units, spreadsheet-safe CSV, and JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.adapters.export import COLUMNS
from tests.integration.ledger.conftest import Api
from tests.integration.ledger.helpers import allow_adjustments, funded, post

AT = datetime(2026, 5, 5, tzinfo=UTC)


async def test_csv_and_json_carry_the_same_rows(api: Api, ledger: AsyncEngine) -> None:
    await allow_adjustments(api.client, api.identity, api.tenant, "JPY")
    event = funded(api.tenant, "o1", 123_456, 123_456, at=AT, currency="JPY")
    await post(ledger, event)
    await api.client.post(
        "/v1/ledger/adjustments",
        json={"reason": "=HYPERLINK(\"http://evil\")", "posted_at": AT.isoformat(), "lines": [
            {"account": "suspense", "currency": "JPY", "debit": 7},
            {"account": "bank", "currency": "JPY", "credit": 7}]},
    )  # fmt: skip
    r = await api.client.get("/v1/ledger/export", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for spreadsheets
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS
    first = rows[0]
    assert (first["account_code"], first["debit"], first["credit"], first["currency"]) == (
        "stripe_clearing", "123456", "0", "JPY",
    )  # fmt: skip
    assert first["minor_unit_exponent"] == "0" and first["source_event_id"] == str(event.id)
    assert first["posted_at"] == "2026-05-05T00:00:00+00:00"
    assert rows[2]["reason"].startswith("'=")  # a formula is text, never run

    js = (await api.client.get("/v1/ledger/export", params={"format": "json"})).json()
    assert js["columns"] == list(COLUMNS)
    assert [(x["account_code"], x["debit"], x["credit"]) for x in js["rows"]] == [
        (x["account_code"], int(x["debit"]), int(x["credit"])) for x in rows
    ]
    later = await api.client.get(
        "/v1/ledger/export", params={"format": "json", "from": "2026-05-06T00:00:00Z"}
    )
    # no posting after May 6th: only the opening balances of the range
    assert {(x["kind"], x["account_code"]) for x in later.json()["rows"]} == {
        ("opening_balance", "stripe_clearing"), ("opening_balance", "escrow_held"),
        ("opening_balance", "suspense"), ("opening_balance", "bank"),
    }  # fmt: skip
