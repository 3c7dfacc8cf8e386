"""Journal export, one row per posting, as CSV or JSON (docs/ledger.md, "Export").

Columns are fixed and documented; amounts are integer minor units in separate debit and
credit columns (with the currency's exponent beside them), timestamps ISO 8601 in UTC. The
CSV starts with a UTF-8 byte-order mark and neutralises text that a spreadsheet would run
as a formula, so it opens cleanly in Excel, LibreOffice or Google Sheets.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger.domain.chart import account
from shared.money import exponent

COLUMNS = (
    "transaction_id", "seq", "posted_at", "original_date", "recorded_at", "line",
    "account_code", "account_number", "account_name", "subledger", "currency",
    "minor_unit_exponent", "debit", "credit", "source_event_id", "source_type", "kind",
    "memo", "external_ref", "actor", "reason", "tenant_id", "book_seq", "prev_hash", "hash",
)  # fmt: skip

_ROWS = sa.text("""
SELECT j.id, j.seq, j.posted_at, j.original_date, j.recorded_at, p.line, a.code,
       a.subledger, p.currency, p.amount, j.source_event_id, j.source_type, j.kind, j.memo,
       p.external_ref, j.actor, j.reason, j.tenant_id, j.book_seq, j.prev_hash, j.hash
FROM journal_transactions j JOIN postings p ON p.transaction_id = j.id
JOIN accounts a ON a.id = p.account_id
WHERE (j.tenant_id = :tenant OR CAST(:tenant AS text) IS NULL)
  AND j.posted_at >= :start AND j.posted_at < :end
ORDER BY j.tenant_id, j.posted_at, j.seq, p.line
""")


def _ts(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def _row(r: Any) -> dict[str, Any]:
    spec = account(r.code)
    return {
        "transaction_id": str(r.id), "seq": r.seq, "posted_at": _ts(r.posted_at),
        "original_date": _ts(r.original_date), "recorded_at": _ts(r.recorded_at),
        "line": r.line, "account_code": r.code, "account_number": spec.number,
        "account_name": spec.name, "subledger": r.subledger, "currency": r.currency,
        "minor_unit_exponent": exponent(r.currency), "debit": max(r.amount, 0),
        "credit": max(-r.amount, 0), "source_event_id": str(r.source_event_id),
        "source_type": r.source_type, "kind": r.kind, "memo": r.memo,
        "external_ref": r.external_ref or "", "actor": r.actor or "", "reason": r.reason or "",
        "tenant_id": r.tenant_id, "book_seq": r.book_seq if r.book_seq is not None else "",
        "prev_hash": r.prev_hash, "hash": r.hash,
    }  # fmt: skip


async def rows(
    conn: AsyncConnection, tenant_id: str | None, start: datetime, end: datetime
) -> AsyncIterator[dict[str, Any]]:
    """One tenant's postings (its book), or with None every tenant's, book after book."""
    result = await conn.stream(_ROWS, {"tenant": tenant_id, "start": start, "end": end})
    async for r in result:
        yield _row(r)


def _cell(value: Any) -> Any:
    # A leading = + - @ makes spreadsheets evaluate text as a formula (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def as_csv(source: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writeheader()
    count = 0
    async for row in source:
        writer.writerow({k: _cell(v) for k, v in row.items()})
        count += 1
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def as_json(source: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    yield '{"columns":' + json.dumps(COLUMNS) + ',"rows":['
    first = True
    async for row in source:
        yield ("" if first else ",") + json.dumps(row, ensure_ascii=False)
        first = False
    yield "]}"
