"""The tamper-evident hash chains over journal transactions: one chain per book.

A book is one tenant's journal (docs/ledger.md, "Books"). Its transactions are numbered
1, 2, 3... (``book_seq``) and transaction n stores
``hash_n = sha256(hash_{n-1} || "\\n" || canonical_n)`` where
``canonical_n`` is the compact, key-sorted JSON of everything that gives the transaction its
meaning: id, sequence number, tenant, dates, source, kind, actor, reason, memo, what it
reverses, and its postings in line order (account code, sub-ledger, currency, signed amount,
external ref), and its position in the book (``book_seq``). Changing, adding or removing
any of that -- or any earlier transaction of the book -- changes every later hash. The first
transaction of a book chains from ``GENESIS``.

Journals written before books existed form one legacy chain across all tenants, numbered by
``seq``, whose canonical form has no ``book_seq`` key; it is verified as it was written and
never grows (``LEGACY_BOOK``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring as _string  # what json.dumps(ensure_ascii=False) uses
from typing import Protocol
from uuid import UUID

GENESIS = "0" * 64
LEGACY_BOOK = "legacy"  # the pre-books chain, across tenants


def book_of(tenant_id: str) -> str:
    """A book's name: ``tenant:<id>`` (the prefix keeps it apart from ``legacy``)."""
    return f"tenant:{tenant_id}"


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
    book_seq: int | None = None  # the position in the tenant's book; None in the legacy chain

    @property
    def position(self) -> int:
        """Its place in its chain: ``book_seq`` in a book, ``seq`` in the legacy chain."""
        return self.seq if self.book_seq is None else self.book_seq


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
    book_seq: int | None = None,
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
    book = "" if book_seq is None else f'"book_seq":{int(book_seq)},'
    return (
        f'{{"actor":{_text(actor)},{book}"id":"{id}","kind":{_string(kind)},"memo":{_string(memo)},'
        f'"original_date":{_ts(original_date)},"posted_at":{_ts(posted_at)},"postings":[{lines}],'
        f'"reason":{_text(reason)},"reverses":{_text(None if reverses is None else str(reverses))},'
        f'"seq":{int(seq)},"source_event_id":"{source_event_id}","source_type":{_string(source_type)},'
        f'"tenant":{_string(tenant_id)}}}'
    ).encode()


def canonical(tx: ChainedTransaction) -> bytes:
    return canonical_of(
        tx.id, tx.seq, tx.tenant_id, tx.posted_at, tx.original_date, tx.source_event_id,
        tx.source_type, tx.kind, tx.actor, tx.reason, tx.memo, tx.reverses, tx.postings,
        tx.book_seq,
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
    expected: int, prev_hash: str, tx: ChainedTransaction, stored_prev: str, stored_hash: str
) -> BrokenLink | None:
    """Why this stored link does not follow from the previous one, or None when it does.
    ``expected`` is the position the link must have in its chain."""
    if tx.position != expected:
        return BrokenLink(expected, tx.id, f"sequence jumps from {expected - 1} to {tx.position}")
    if stored_prev != prev_hash:
        return BrokenLink(
            tx.position, tx.id, "previous-hash does not match the preceding transaction"
        )
    if link(prev_hash, tx) != stored_hash:
        return BrokenLink(
            tx.position, tx.id, "content does not match its hash (altered after posting)"
        )
    return None


@dataclass(frozen=True, slots=True)
class ChainReport:
    """One chain, walked from genesis: how far it held, and the first link that did not."""

    book: str
    checked: int
    head: str  # the hash of the last link that held
    head_seq: int  # its position
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None


@dataclass(frozen=True, slots=True)
class BookHead:
    """A book's last position and hash (``tenant_id`` None: the legacy chain)."""

    book: str
    tenant_id: str | None
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Published:
    """A book's head as a ``ledger.chain_checkpoint`` put it on Kafka."""

    book: str
    seq: int
    hash: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Check:
    """One ledger invariant checked on the live database, with offenders named."""

    name: str
    ok: bool
    details: list[str] = field(default_factory=list)
