#!/usr/bin/env python3
"""Verify a Tradeflow journal export (CSV or JSON) without Tradeflow: standard library only.

    python3 tools/verify_ledger_export.py journal.csv [--complete] [--head BOOK=SEQ:HASH]

What it checks, from the file alone (docs/ledger.md, "Export" and "Books"):

1. every transaction's ``hash`` is ``sha256(prev_hash + "\\n" + canonical)`` of what the
   file says of it (canonical: the key-sorted, compact JSON of its id, seq, book_seq,
   tenant, dates, source, kind, actor, reason, memo, reverses and postings in line order):
   a row altered anywhere fails here;
2. each transaction has >= 2 postings that sum to zero per currency, each row on one side
   (debit or credit, neither below zero), and the opening balances of a range export
   sum to zero per tenant and currency (they are in no chain);
3. within each book, every link follows from the one before it in the file: ``prev_hash``
   of position n+1 is the ``hash`` of position n, and position 1 chains from 64 zeros. A
   range export may leave out positions (a transaction dated outside the range): those
   gaps are listed; with ``--complete`` (an export of the whole journal) a gap is a failure;
4. with ``--head BOOK=SEQ:HASH`` (e.g. the head a ``ledger.chain_checkpoint`` published,
   or ``tradeflow ledger verify`` printed), that the book reaches that position with that
   hash: a tail cut off or rewritten contradicts it.

It prints, per account, the opening balance (the export's ``opening_balance`` rows), the
movements and the closing balance, in minor units. Exit code 0 when every check held, 1
when one failed, 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
LEGACY = "legacy"
OPENING = "opening_balance"
FORMULA = ("=", "+", "-", "@", "\t", "\r")
# Text columns that are null in the journal when the export shows them empty.
NULLABLE = ("actor", "reason", "external_ref", "original_date", "reverses")
TEXT = (
    "transaction_id", "posted_at", "original_date", "account_code", "subledger", "currency",
    "source_event_id", "source_type", "kind", "memo", "external_ref", "actor", "reason",
    "tenant_id", "prev_hash", "hash", "reverses", "book",
)  # fmt: skip


@dataclass
class Transaction:
    fields: dict[str, Any]
    postings: list[tuple[int, list[Any]]] = field(default_factory=list)  # (line, posting)


def read_rows(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    if text.lstrip().startswith("{"):
        return list(json.loads(text)["rows"])
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    for row in rows:  # undo the spreadsheet guard: one "'" before a formula character
        for k in TEXT:
            v = row.get(k) or ""
            if v.startswith("'") and v.lstrip("'")[:1] in FORMULA:
                row[k] = v[1:]
    return rows


def utc(value: str) -> str:
    """A timestamp as the chain hashes it: ISO 8601 in UTC with microseconds."""
    return datetime.fromisoformat(value).astimezone(UTC).isoformat(timespec="microseconds")


def canonical(t: Transaction) -> bytes:
    f = t.fields
    body: dict[str, Any] = {
        "actor": f["actor"], "id": f["transaction_id"], "kind": f["kind"], "memo": f["memo"],
        "original_date": utc(f["original_date"]) if f["original_date"] else None,
        "posted_at": utc(f["posted_at"]),
        "postings": [p for _, p in sorted(t.postings, key=lambda lp: lp[0])],
        "reason": f["reason"], "reverses": f["reverses"], "seq": int(f["seq"]),
        "source_event_id": f["source_event_id"], "source_type": f["source_type"],
        "tenant": f["tenant_id"],
    }  # fmt: skip
    if f["book"] != LEGACY:
        body["book_seq"] = int(f["book_seq"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, t: Transaction) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(t)).hexdigest()


HEADER = (
    "transaction_id", "seq", "posted_at", "original_date", "source_event_id", "source_type",
    "kind", "memo", "actor", "reason", "tenant_id", "book", "book_seq", "prev_hash", "hash",
    "reverses",
)  # fmt: skip


def group(rows: list[dict[str, Any]], problems: list[str]) -> dict[str, Transaction]:
    txs: dict[str, Transaction] = {}
    for n, row in enumerate(rows, start=1):
        if row["kind"] == OPENING:
            continue
        fields = {k: row.get(k, "") for k in HEADER}
        for k in NULLABLE:
            if k in fields and fields[k] in ("", None):
                fields[k] = None
        t = txs.setdefault(str(row["transaction_id"]), Transaction(fields))
        if t.fields != fields:
            problems.append(f"row {n}: transaction {row['transaction_id']} differs between rows")
        amount = sides(row, n, problems)
        ref = row["external_ref"] or None
        t.postings.append(
            (
                int(row["line"]),
                [row["account_code"], row["subledger"], row["currency"], amount, ref],
            )
        )
    return txs


def sides(row: dict[str, Any], n: int, problems: list[str]) -> int:
    """A row's signed amount. The chain hashes only that, so the sides are checked here:
    one of debit and credit is zero, neither below (a posting stated on both sides, e.g.
    debit 150 / credit 50 for 100, hashes the same but inflates both totals)."""
    debit, credit = int(row["debit"]), int(row["credit"])
    if debit < 0 or credit < 0 or (debit and credit):
        problems.append(f"row {n}: debit {debit} and credit {credit}: one side, above zero")
    return debit - credit


def check_openings(rows: list[dict[str, Any]], problems: list[str]) -> None:
    """Opening balances are in no chain: what the file can say of them is that, balances
    of balanced books, they sum to zero per tenant and currency, each on one side."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for n, row in enumerate(rows, start=1):
        if row["kind"] == OPENING:
            sums[(str(row["tenant_id"]), str(row["currency"]))] += sides(row, n, problems)
    problems += [
        f"opening balances of {tenant} in {cur} sum to {total}, not 0"
        for (tenant, cur), total in sorted(sums.items())
        if total
    ]


def position(t: Transaction) -> int:
    return int(t.fields["seq"] if t.fields["book"] == LEGACY else t.fields["book_seq"])


def check_books(
    txs: dict[str, Transaction], complete: bool, heads: dict[str, tuple[int, str]]
) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    notes: list[str] = []
    books: dict[str, list[Transaction]] = defaultdict(list)
    for t in txs.values():
        books[t.fields["book"]].append(t)
        sums: dict[str, int] = defaultdict(int)
        for _, p in t.postings:
            sums[p[2]] += p[3]
        if len(t.postings) < 2 or any(sums.values()):
            problems.append(f"transaction {t.fields['transaction_id']} does not balance")
    for book, chain in sorted(books.items()):
        chain.sort(key=position)
        prev: Transaction | None = None
        for t in chain:
            pos, tid = position(t), t.fields["transaction_id"]
            if link(t.fields["prev_hash"], t) != t.fields["hash"]:
                problems.append(f"{book} #{pos} ({tid}): content does not match its hash")
            if prev is not None and position(prev) == pos:
                problems.append(f"{book} #{pos}: position taken twice")
            elif prev is not None and position(prev) == pos - 1:
                if t.fields["prev_hash"] != prev.fields["hash"]:
                    problems.append(
                        f"{book} #{pos} ({tid}): previous-hash does not match #{pos - 1}"
                    )
            elif pos == 1:
                if t.fields["prev_hash"] != GENESIS:
                    problems.append(f"{book} #1 ({tid}): does not chain from genesis")
            else:
                first = 1 if prev is None else position(prev) + 1
                gap = f"{book}: positions {first}..{pos - 1} are not in this export"
                (problems if complete else notes).append(gap)
            prev = t
        if book in heads:
            seq, want = heads.pop(book)
            reached = next((c for c in chain if position(c) == seq), None)
            if reached is None or reached.fields["hash"] != want:
                problems.append(f"{book}: does not reach the expected head #{seq} {want}")
    problems += [
        f"{book}: not in this export (expected head #{s})" for book, (s, _) in heads.items()
    ]
    return problems, notes


def balances(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[int]]:
    """(book, account, sub-ledger, currency) -> [opening, movements]."""
    out: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        key = (row["book"], row["account_code"], row["subledger"], row["currency"])
        out[key][0 if row["kind"] == OPENING else 1] += int(row["debit"]) - int(row["credit"])
    return out


def parse_head(value: str) -> tuple[str, tuple[int, str]]:
    book, _, rest = value.rpartition("=")
    seq, _, digest = rest.partition(":")
    if not book or not seq.isdigit() or len(digest) != 64:
        raise argparse.ArgumentTypeError(f"--head takes BOOK=SEQ:HASH, not {value!r}")
    return book, (int(seq), digest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path, help="a journal export, CSV or JSON")
    parser.add_argument("--complete", action="store_true", help="the whole journal: no gaps")
    parser.add_argument("--head", action="append", type=parse_head, default=[],
                        help="BOOK=SEQ:HASH a book must reach (repeatable)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no balances, only findings")
    args = parser.parse_args(argv)
    try:
        rows = read_rows(args.export)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    problems: list[str] = []
    try:
        txs = group(rows, problems)
        check_openings(rows, problems)
        found, notes = check_books(txs, args.complete, dict(args.head))
    except (KeyError, ValueError, TypeError) as exc:
        print(f"{args.export} is not a journal export: {exc!r}", file=sys.stderr)
        return 2
    problems += found
    if not args.quiet:
        print(f"{'book':<24} {'account':<22} {'sub-ledger':<16} cur {'opening':>14} "
              f"{'movements':>14} {'closing':>14}")  # fmt: skip
        for (book, code, sub, cur), (opening, moved) in sorted(balances(rows).items()):
            print(f"{book:<24} {code:<22} {sub:<16} {cur} {opening:>14} {moved:>14} "
                  f"{opening + moved:>14}")  # fmt: skip
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"FAILED: {problem}")
    books = len({t.fields["book"] for t in txs.values()})
    verdict = "FAILED" if problems else "OK"
    print(f"{verdict}: {len(txs)} transactions in {books} book(s), {len(problems)} finding(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
