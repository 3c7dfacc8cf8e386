"""Journal export, one row per posting, as CSV or JSON (docs/ledger.md, "Export").

Columns are fixed and documented; amounts are integer minor units in separate debit and
credit columns (with the currency's exponent beside them), timestamps ISO 8601 in UTC. The
CSV starts with a UTF-8 byte-order mark and neutralises text that a spreadsheet would run
as a formula, so it opens cleanly in Excel, LibreOffice or Google Sheets.

A range that starts after the beginning opens with one ``opening_balance`` row per account
holding a balance at its start, so the rows of an account sum to its closing balance. Every
posting row carries what its transaction's link in the hash chain hashed (and the link:
``book``, ``book_seq``, ``prev_hash``, ``hash``), so ``tools/verify_ledger_export.py``
recomputes the chain from the file alone.
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

from services.ledger.domain.chain import LEGACY_BOOK, book_of
from services.ledger.domain.chart import account
from shared.money import exponent

COLUMNS = (
    "transaction_id", "seq", "posted_at", "original_date", "recorded_at", "line",
    "account_code", "account_number", "account_name", "subledger", "currency",
    "minor_unit_exponent", "debit", "credit", "source_event_id", "source_type", "kind",
    "memo", "external_ref", "actor", "reason", "tenant_id", "book_seq", "prev_hash", "hash",
    "reverses", "book",
)  # fmt: skip
OPENING = "opening_balance"  # the kind of an opening balance row

_ROWS = sa.text("""
SELECT j.id, j.seq, j.posted_at, j.original_date, j.recorded_at, p.line, a.code,
       a.subledger, p.currency, p.amount, j.source_event_id, j.source_type, j.kind, j.memo,
       p.external_ref, j.actor, j.reason, j.tenant_id, j.book_seq, j.prev_hash, j.hash,
       j.reverses
FROM journal_transactions j JOIN postings p ON p.transaction_id = j.id
JOIN accounts a ON a.id = p.account_id
WHERE (j.tenant_id = :tenant OR CAST(:tenant AS text) IS NULL)
  AND j.posted_at >= :start AND j.posted_at < :end
ORDER BY j.tenant_id, j.posted_at, j.seq, p.line
""")
_OPENING = sa.text("""
SELECT a.tenant_id, a.code, a.subledger, a.currency, sum(p.amount)::bigint AS amount
FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE (a.tenant_id = :tenant OR CAST(:tenant AS text) IS NULL) AND p.posted_at < :start
GROUP BY a.tenant_id, a.code, a.subledger, a.currency
HAVING sum(p.amount) <> 0
ORDER BY a.tenant_id, a.code, a.subledger, a.currency
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
        "reverses": str(r.reverses) if r.reverses is not None else "",
        "book": book_of(r.tenant_id) if r.book_seq is not None else LEGACY_BOOK,
    }  # fmt: skip


def _opening(r: Any, start: datetime) -> dict[str, Any]:
    spec = account(r.code)
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row.update({
        "posted_at": _ts(start), "account_code": r.code, "account_number": spec.number,
        "account_name": spec.name, "subledger": r.subledger, "currency": r.currency,
        "minor_unit_exponent": exponent(r.currency), "debit": max(r.amount, 0),
        "credit": max(-r.amount, 0), "kind": OPENING, "memo": "opening balance",
        "tenant_id": r.tenant_id, "book": book_of(r.tenant_id),
    })  # fmt: skip
    return row


async def rows(
    conn: AsyncConnection, tenant_id: str | None, start: datetime, end: datetime
) -> AsyncIterator[dict[str, Any]]:
    """One tenant's postings (its book), or with None every tenant's, book after book;
    first the opening balances at ``start`` (none from the beginning)."""
    params = {"tenant": tenant_id, "start": start, "end": end}
    for r in await conn.execute(_OPENING, params):
        yield _opening(r, start)
    result = await conn.stream(_ROWS, params)
    async for r in result:
        yield _row(r)


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    # A leading = + - @ makes spreadsheets evaluate text as a formula (CSV injection); the
    # prefix "'" is also added to text that starts with quotes before one, so a reader can
    # take exactly one "'" off wherever quotes precede a formula character and get the text
    # back (tools/verify_ledger_export.py does, to recompute the hashes).
    if isinstance(value, str) and value.lstrip("'")[:1] in FORMULA:
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
