"""The tamper-evident hash chain over journal transactions.

Transaction n stores ``hash_n = sha256(hash_{n-1} || "\\n" || canonical_n)`` where
``canonical_n`` is the compact, key-sorted JSON of everything that gives the transaction its
meaning: id, sequence number, tenant, dates, source, kind, actor, reason, memo, what it
reverses, and its postings in line order (account code, sub-ledger, currency, signed amount,
external ref). Changing, adding or removing any of that -- or any earlier transaction --
changes every later hash. The first transaction chains from ``GENESIS``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainedPosting:
    code: str
    subledger: str
    currency: str
    amount: int
    external_ref: str | None


@dataclass(frozen=True, slots=True)
class ChainedTransaction:
    """The hashed content of one journal transaction, as stored."""

    id: UUID
    seq: int
    tenant_id: str
    posted_at: datetime
    original_date: datetime | None
    source_event_id: UUID
    source_type: str
    kind: str
    actor: str | None
    reason: str | None
    memo: str
    reverses: UUID | None
    postings: Sequence[ChainedPosting]


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(tx: ChainedTransaction) -> bytes:
    body: dict[str, Any] = {
        "id": str(tx.id),
        "seq": tx.seq,
        "tenant": tx.tenant_id,
        "posted_at": _ts(tx.posted_at),
        "original_date": _ts(tx.original_date),
        "source_event_id": str(tx.source_event_id),
        "source_type": tx.source_type,
        "kind": tx.kind,
        "actor": tx.actor,
        "reason": tx.reason,
        "memo": tx.memo,
        "reverses": str(tx.reverses) if tx.reverses else None,
        "postings": [
            [p.code, p.subledger, p.currency, p.amount, p.external_ref] for p in tx.postings
        ],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, tx: ChainedTransaction) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(tx)).hexdigest()


@dataclass(frozen=True, slots=True)
class BrokenLink:
    seq: int
    transaction_id: UUID | None
    reason: str


def check_link(
    expected_seq: int, prev_hash: str, tx: ChainedTransaction, stored_prev: str, stored_hash: str
) -> BrokenLink | None:
    """Why this stored link does not follow from the previous one, or None when it does."""
    if tx.seq != expected_seq:
        return BrokenLink(
            expected_seq, tx.id, f"sequence jumps from {expected_seq - 1} to {tx.seq}"
        )
    if stored_prev != prev_hash:
        return BrokenLink(tx.seq, tx.id, "previous-hash does not match the preceding transaction")
    if link(prev_hash, tx) != stored_hash:
        return BrokenLink(tx.seq, tx.id, "content does not match its hash (altered after posting)")
    return None
