"""Verifying a book that grows while it is walked, against a stand-in connection."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from services.ledger.adapters.chain import verify_book
from services.ledger.domain.chain import GENESIS, ChainedPosting, ChainedTransaction, link

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LINES = [ChainedPosting("stripe_clearing", "", "USD", 100, None),
         ChainedPosting("escrow_held", "o1", "USD", -100, None)]  # fmt: skip


class _Result(list[Any]):
    def first(self) -> Any:
        return self[0] if self else None


class _LiveBook:
    """Tenant t1's book of two transactions; a third commits (rows and head together)
    right after the walk's read that found no more rows, as a busy consumer's would."""

    def __init__(self, *, cut_off: bool = False) -> None:
        self.rows: list[SimpleNamespace] = []
        self.head = (0, GENESIS)
        for _ in range(2):
            self.append()
        self.pending = 0 if cut_off else 1
        if cut_off:  # the third row is gone, its head stayed
            self.append()
            self.rows.pop()

    def append(self) -> None:
        n, prev = self.head[0] + 1, self.head[1]
        tx = ChainedTransaction(
            uuid4(), 100 + n, "t1", NOW, None, uuid4(), "escrow.funded", "event", None, None,
            "", None, LINES, n,
        )  # fmt: skip
        digest = link(prev, tx)
        self.rows.append(SimpleNamespace(**{
            f: getattr(tx, f) for f in ("id", "seq", "tenant_id", "posted_at", "original_date",
            "source_event_id", "source_type", "kind", "actor", "reason", "memo", "reverses",
            "book_seq")}, prev_hash=prev, hash=digest))  # fmt: skip
        self.head = (n, digest)

    async def execute(self, query: Any, params: dict[str, Any]) -> _Result:
        sql = str(query)
        if "FROM books" in sql:
            return _Result([SimpleNamespace(head_seq=self.head[0], head_hash=self.head[1])])
        if "FROM postings" in sql:
            return _Result(
                SimpleNamespace(transaction_id=i, code=p.code, subledger=p.subledger,
                                currency=p.currency, amount=p.amount, external_ref=None)
                for i in params["ids"] for p in LINES
            )  # fmt: skip
        found = _Result(r for r in self.rows if r.book_seq > params["after"])
        if not found and self.pending:
            self.pending -= 1
            self.append()
        return found


async def test_a_book_appended_to_while_it_is_walked_verifies() -> None:
    """The walk's last read found no more rows, the head read after it named one more: it
    was reported as a tail cut off, a false tamper alarm on any busy book."""
    report = await verify_book(_LiveBook(), "t1")  # type: ignore[arg-type]
    assert report.ok, report.broken
    assert (report.checked, report.head_seq) == (3, 3)


async def test_a_tail_cut_off_below_its_head_is_still_found() -> None:
    report = await verify_book(_LiveBook(cut_off=True), "t1")  # type: ignore[arg-type]
    assert report.broken is not None and "transactions are missing" in report.broken.reason
