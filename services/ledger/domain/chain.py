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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring as _string  # what json.dumps(ensure_ascii=False) uses
from typing import Protocol
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


class PostingLike(Protocol):
    """What the chain hashes of a posting: a ``ChainedPosting`` or a draft's ``Line``."""

    @property
    def code(self) -> str: ...
    @property
    def subledger(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def external_ref(self) -> str | None: ...


def _ts(value: datetime | None) -> str:
    if value is None:
        return "null"
    return '"' + value.astimezone(UTC).isoformat(timespec="microseconds") + '"'


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def canonical_of(
    id: UUID, seq: int, tenant_id: str, posted_at: datetime, original_date: datetime | None,
    source_event_id: UUID, source_type: str, kind: str, actor: str | None, reason: str | None,
    memo: str, reverses: UUID | None, postings: Iterable[PostingLike],
) -> bytes:  # fmt: skip
    """The canonical bytes: exactly ``json.dumps(body, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` of the body described in the module docstring (keys in sorted
    order, strings escaped by the json module's own encoder), written out by hand because
    the generic encoder was a third of the posting engine's time. The unit tests hold it
    to the json.dumps definition byte for byte."""
    lines = ",".join(
        f"[{_string(p.code)},{_string(p.subledger)},{_string(p.currency)},{int(p.amount)},"
        f"{_text(p.external_ref)}]"
        for p in postings
    )
    return (
        f'{{"actor":{_text(actor)},"id":"{id}","kind":{_string(kind)},"memo":{_string(memo)},'
        f'"original_date":{_ts(original_date)},"posted_at":{_ts(posted_at)},"postings":[{lines}],'
        f'"reason":{_text(reason)},"reverses":{_text(None if reverses is None else str(reverses))},'
        f'"seq":{int(seq)},"source_event_id":"{source_event_id}","source_type":{_string(source_type)},'
        f'"tenant":{_string(tenant_id)}}}'
    ).encode()


def canonical(tx: ChainedTransaction) -> bytes:
    return canonical_of(
        tx.id, tx.seq, tx.tenant_id, tx.posted_at, tx.original_date, tx.source_event_id,
        tx.source_type, tx.kind, tx.actor, tx.reason, tx.memo, tx.reverses, tx.postings,
    )  # fmt: skip


def link_bytes(prev_hash: str, canonical_bytes: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical_bytes).hexdigest()


def link(prev_hash: str, tx: ChainedTransaction) -> str:
    return link_bytes(prev_hash, canonical(tx))


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
