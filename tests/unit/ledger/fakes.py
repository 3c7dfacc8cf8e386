"""An in-memory fake of the ledger's unit of work, for use-case tests.

``FakeLedgerUnitOfWork`` keeps what ``LedgerUnitOfWork`` keeps in PostgreSQL, in
dictionaries: the journal (each book hash-chained by the domain's own functions, so a fake
transaction hashes as a real one), accounts opened on first use, held reports, period
closes, reconciliation runs and breaks, checkpoints. Like every ``FakeUnitOfWork`` it
snapshots all of that on entry and restores it when a block ends without ``commit()``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from uuid import UUID

from services.ledger.adapters.queries import AccountRow, TrialLine
from services.ledger.adapters.statements import Position, StatementLine, StatementPage
from services.ledger.domain.breaks import MatchRules, ThresholdChange, classify
from services.ledger.domain.chain import (
    GENESIS,
    BookHead,
    ChainReport,
    Check,
    Published,
    book_of,
    canonical_of,
    link_bytes,
)
from services.ledger.domain.fx import ClosingRate, OpenHeld
from services.ledger.domain.journal import JournalDraft, Posted
from services.ledger.domain.recon import (
    DEFAULT_OWNER,
    STRIPE_KINDS,
    BreakKind,
    ClearingBalance,
    EscrowHeld,
    HeldReport,
    RunWindow,
    StripeLine,
    latest_reports,
)
from services.ledger.domain.reports import AccountSums
from services.ledger.domain.stripe_books import PAYOUT_RETURNS, PAYOUTS, SELF_BOOKED, event_booked
from services.ledger.service_layer.errors import StripeAccountTaken, StripeAccountUnknown
from services.ledger.service_layer.records import (
    AssignmentRecord,
    BreakRecord,
    CommentRecord,
    PeriodCloseRecord,
    PostingRecord,
    ResolutionRecord,
    StaffAdjustmentRecord,
    TransactionRecord,
)
from services.ledger.service_layer.unit_of_work import Head, Progress
from shared.pagination import InvalidCursor, Page, Window
from shared.unit_of_work import FakeUnitOfWork

RECORDED_AT = datetime(2026, 6, 30, 12, tzinfo=UTC)  # what "now()" is in the fake database

AccountKey = tuple[str, str, str, str]  # tenant, code, currency, sub-ledger


@dataclass
class FakeAccounts:
    rows: dict[int, AccountRow] = field(default_factory=dict)
    ids: dict[AccountKey, int] = field(default_factory=dict)
    postings: list[tuple[TransactionRecord, PostingRecord]] = field(default_factory=list)

    def open(self, key: AccountKey) -> int:
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 1
            tenant, code, currency, sub = key
            self.rows[self.ids[key]] = AccountRow(
                self.ids[key], tenant, code, currency, sub, RECORDED_AT
            )
        return self.ids[key]

    async def opened(
        self, tenant_id: str, code: str | None, currency: str | None
    ) -> list[AccountRow]:
        found = [
            a
            for a in self.rows.values()
            if a.tenant_id == tenant_id
            and code in (None, a.code)
            and currency in (None, a.currency)
        ]
        return sorted(found, key=lambda a: (a.code, a.currency, a.id))

    async def get(self, tenant_id: str, account_id: int) -> AccountRow | None:
        row = self.rows.get(account_id)
        return row if row is not None and row.tenant_id == tenant_id else None

    async def balance(self, account_id: int, as_of: datetime) -> int:
        return sum(
            p.amount
            for tx, p in self.postings
            if p.account_id == account_id and tx.posted_at <= as_of
        )

    async def trial_balance(self, tenant_id: str, as_of: datetime) -> list[TrialLine]:
        sums: dict[tuple[str, str], list[int]] = {}
        for a in self.rows.values():
            if a.tenant_id == tenant_id:
                entry = sums.setdefault((a.currency, a.code), [0, 0])
                entry[0] += await self.balance(a.id, as_of)
                entry[1] += 1
        return [TrialLine(code, cur, b, n) for (cur, code), (b, n) in sorted(sums.items())]

    async def statement(
        self, account_id: int, start: datetime, end: datetime, after: Position | None, limit: int
    ) -> StatementPage:
        after = after or (start, 0, 0)
        mine = sorted(
            ((tx.posted_at, tx.seq, p.line), tx, p)
            for tx, p in self.postings
            if p.account_id == account_id
        )
        opening = sum(p.amount for pos, _, p in mine if pos <= after)
        page = [(pos, tx, p) for pos, tx, p in mine if pos > after and start <= pos[0] <= end]
        running, lines = opening, []
        for _, tx, p in page[:limit]:
            running += p.amount
            lines.append(
                StatementLine(tx.id, p.line, tx.seq, tx.posted_at, p.amount, running, tx.memo,
                              tx.source_event_id, tx.kind, p.external_ref)
            )  # fmt: skip
        more = len(page) > limit
        return StatementPage(opening, lines, lines[-1].position if more else None)

    async def period_sums(
        self, tenant_id: str, currency: str, previous: datetime, start: datetime, end: datetime
    ) -> list[AccountSums]:
        sums: dict[str, list[int]] = {}
        for tx, p in self.postings:
            if tx.tenant_id != tenant_id or p.currency != currency or tx.posted_at >= end:
                continue
            part = 0 if tx.posted_at < previous else 1 if tx.posted_at < start else 2
            sums.setdefault(p.code, [0, 0, 0])[part] += p.amount
        return [AccountSums(code, *parts) for code, parts in sorted(sums.items())]


@dataclass
class FakePeriods:
    closes: list[PeriodCloseRecord] = field(default_factory=list)

    async def closed_through(self, tenant_id: str) -> datetime | None:
        return max(
            (c.closed_through for c in self.closes if c.tenant_id == tenant_id), default=None
        )

    async def add(self, tenant_id: str, through: datetime, actor: str, reason: str | None) -> None:
        self.closes.append(PeriodCloseRecord(tenant_id, through, actor, reason, RECORDED_AT))

    async def history(self, tenant_id: str) -> list[PeriodCloseRecord]:
        return sorted(
            (c for c in self.closes if c.tenant_id == tenant_id), key=lambda c: c.closed_through
        )


@dataclass
class FakeJournal:
    accounts: FakeAccounts
    periods: FakePeriods
    transactions: dict[UUID, TransactionRecord] = field(default_factory=dict)
    heads: dict[str, Head] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)

    async def lock_books(self, tenants: Collection[str]) -> dict[str, Head]:
        for t in tenants:
            self.heads.setdefault(t, (0, GENESIS))
        self.locked |= set(tenants)
        return {t: self.heads[t] for t in sorted(tenants)}

    async def known(self, source_event_ids: Sequence[UUID]) -> list[Posted]:
        wanted = set(source_event_ids)
        return [
            Posted(tx.id, tx.seq, tx.source_event_id, tx.posted_at, True)
            for tx in self.transactions.values()
            if tx.source_event_id in wanted
        ]

    async def closed_through(self, tenants: Collection[str]) -> dict[str, datetime]:
        found = {t: await self.periods.closed_through(t) for t in tenants}
        return {t: upto for t, upto in found.items() if upto is not None}

    async def reversed_among(self, transaction_ids: Sequence[UUID]) -> set[UUID]:
        reversed_ = {tx.reverses for tx in self.transactions.values()}
        return {i for i in transaction_ids if i in reversed_}

    async def append(self, drafts: Sequence[JournalDraft], heads: dict[str, Head]) -> list[Posted]:
        assert {d.tenant_id for d in drafts} <= self.locked, "appended to a book not locked"
        posted = []
        for d in drafts:
            seq = len(self.transactions) + 1
            position, prev = self.heads[d.tenant_id]
            position += 1
            digest = link_bytes(prev, canonical_of(
                d.id, seq, d.tenant_id, d.posted_at, d.original_date, d.source_event_id,
                d.source_type, d.kind, d.actor, d.reason, d.memo, d.reverses, d.lines, position,
            ))  # fmt: skip
            postings = tuple(
                PostingRecord(n, self.accounts.open((d.tenant_id, ln.code, ln.currency,
                              ln.subledger)), ln.code, ln.subledger, ln.currency, ln.amount,
                              ln.external_ref)
                for n, ln in enumerate(d.lines, start=1)
            )  # fmt: skip
            tx = TransactionRecord(
                d.id, seq, d.tenant_id, d.posted_at, d.original_date, RECORDED_AT,
                d.source_event_id, d.source_type, d.kind, d.actor, d.reason, d.memo,
                d.reverses, digest, position, postings,
            )  # fmt: skip
            self.transactions[d.id] = tx
            self.accounts.postings += [(tx, p) for p in postings]
            self.heads[d.tenant_id] = (position, digest)
            posted.append(Posted(d.id, seq, d.source_event_id, d.posted_at))
        return posted

    async def transaction(
        self, tenant_id: str, *, id: UUID | None = None, source_event_id: UUID | None = None
    ) -> TransactionRecord | None:
        for tx in self.transactions.values():
            if tx.tenant_id == tenant_id and (
                tx.id == id if id else tx.source_event_id == source_event_id
            ):
                return tx
        return None

    async def reversed_by(self, transaction_id: UUID) -> UUID | None:
        return next(
            (tx.id for tx in self.transactions.values() if tx.reverses == transaction_id), None
        )


@dataclass
class FakeHeldReports:
    latest: dict[tuple[str, str, str], HeldReport] = field(default_factory=dict)

    async def record(self, reports: Sequence[HeldReport]) -> None:
        for r in latest_reports([*self.latest.values(), *reports]):
            self.latest[(r.tenant_id, r.order_id, r.currency)] = r


@dataclass
class Run:
    tenant_id: str
    source: str
    actor: str
    lines: dict[str, StripeLine] = field(default_factory=dict)  # by balance transaction
    stripe_rows: int | None = None
    counts: dict[str, int] | None = None
    booked: int | None = None
    window: RunWindow | None = None
    balances: list[ClearingBalance] | None = None


@dataclass
class FakeReconciliation:
    """The same matching as the SQL, on the fake journal and held reports."""

    accounts: FakeAccounts
    held: FakeHeldReports
    runs: dict[int, Run] = field(default_factory=dict)
    rows: dict[int, BreakRecord] = field(default_factory=dict)
    rules: dict[str, dict[str, MatchRules]] = field(default_factory=dict)  # tenant, currency

    async def start_run(self, tenant_id: str, source: str, actor: str) -> int:
        run_id = len(self.runs) + 1
        self.runs[run_id] = Run(tenant_id, source, actor)
        return run_id

    async def stage(
        self, run_id: int, lines: Iterable[StripeLine], progress: Progress | None
    ) -> int:
        run = self.runs[run_id]
        for line in lines:
            run.lines.setdefault(line.balance_txn_id, line)
            if progress:
                progress(1)
        return len(run.lines)

    async def match(
        self,
        tenant_id: str,
        run_id: int,
        now: datetime,
        *,
        stripe: bool,
        window: RunWindow,
        escrow: Sequence[EscrowHeld] | None = None,
    ) -> dict[str, int]:
        if escrow is not None:
            raise NotImplementedError("the three-way check with escrow is tested on PostgreSQL")
        results: list[tuple[str, str, str, int | None, int | None]] = []
        if stripe:
            ledger: dict[tuple[str, str], int] = {}
            ledger_at: dict[tuple[str, str], datetime] = {}
            for tx, p in self.accounts.postings:
                if (
                    tx.tenant_id == tenant_id and p.code == "stripe_clearing" and p.external_ref
                    and not tx.source_type.startswith("stripe.") and window.holds(tx.posted_at)
                ):  # fmt: skip
                    key = (p.external_ref, p.currency)
                    ledger[key] = ledger.get(key, 0) + p.amount
                    ledger_at[key] = max(ledger_at.get(key, tx.posted_at), tx.posted_at)
            theirs: dict[tuple[str, str], int] = {}
            their_at: dict[tuple[str, str], datetime] = {}
            for line in event_booked(self.runs[run_id].lines.values()):
                key = (line.source_id, line.currency)
                theirs[key] = theirs.get(key, 0) + line.amount
                their_at[key] = max(their_at.get(key, line.created), line.created)
            rules = self.rules.get(tenant_id, {})
            for key in sorted({*ledger, *theirs}):
                mine, other = ledger.get(key), theirs.get(key)
                kind = classify(mine, other, ledger_at.get(key), their_at.get(key),
                                rules.get(key[1]))  # fmt: skip
                results.append((kind, *key, mine, other))
        held: dict[tuple[str, str], int] = {}
        for tx, p in self.accounts.postings:
            if tx.tenant_id == tenant_id and p.code == "escrow_held":
                held[(p.subledger, p.currency)] = held.get((p.subledger, p.currency), 0) - p.amount
        said = {(o, c): r.held_after for (t, o, c), r in self.held.latest.items() if t == tenant_id}
        for key in sorted({*held, *said}):
            if held.get(key, 0) != said.get(key, 0):
                results.append(("escrow_held_mismatch", *key, held.get(key), said.get(key)))
        seen = set()
        for kind, object_id, currency, mine, other in results:
            if kind != "matched":
                seen.add(self._fold(tenant_id, run_id, now, kind, object_id, currency, mine, other))
        cleared = {*(STRIPE_KINDS if stripe else ()), BreakKind.ESCROW_HELD_MISMATCH}
        matched = {(o, c) for kind, o, c, *_ in results if kind == "matched"}
        for b in list(self.rows.values()):
            mine = b.tenant_id == tenant_id and b.status == "open" and b.id not in seen
            partial = not window.whole and b.kind in STRIPE_KINDS
            if mine and b.kind in cleared and (not partial or (b.object_id, b.currency) in matched):
                self.rows[b.id] = replace(b, status="cleared")
        counts = {k: 0 for k in ("matched", *(str(k) for k in DEFAULT_OWNER))}
        for kind, *_ in results:
            counts[kind] += 1
        self.runs[run_id].counts = counts
        return counts

    def _fold(
        self, tenant_id: str, run_id: int, now: datetime, kind: str, object_id: str,
        currency: str, mine: int | None, other: int | None,
    ) -> int:  # fmt: skip
        for b in self.rows.values():
            if (b.tenant_id, b.kind, b.object_id, b.currency) == (tenant_id, kind, object_id,
                                                                 currency):  # fmt: skip
                back = b.status == "cleared"
                self.rows[b.id] = replace(
                    b, ledger_amount=mine, other_amount=other, last_seen_at=now,
                    last_run_id=run_id, status="open" if back else b.status,
                    first_seen_at=now if back else b.first_seen_at,
                )  # fmt: skip
                return b.id
        break_id = len(self.rows) + 1
        self.rows[break_id] = BreakRecord(
            break_id, tenant_id, kind, object_id, currency, mine, other,
            DEFAULT_OWNER[BreakKind(kind)], "open", now, now, run_id, run_id, None, None, None,
        )  # fmt: skip
        return break_id

    async def finish(
        self,
        run_id: int,
        stripe_rows: int,
        booked: int,
        window: RunWindow,
        balances: list[ClearingBalance],
    ) -> None:
        run = self.runs[run_id]
        run.stripe_rows, run.booked, run.window, run.balances = (
            stripe_rows, booked, window, balances,
        )  # fmt: skip

    async def breaks(
        self,
        tenant_id: str,
        status: str | None,
        kind: str | None,
        page: Page,
        *,
        owner: str | None = None,
        seen_at_most: datetime | None = None,
        seen_after: datetime | None = None,
    ) -> Window[BreakRecord]:
        mine = sorted(
            (b for b in self.rows.values() if b.tenant_id == tenant_id),
            key=lambda b: (b.first_seen_at, b.id),
        )
        ids = [str(b.id) for b in mine]
        start = 0
        if page.starting_after is not None:
            if page.starting_after not in ids:
                raise InvalidCursor(page.starting_after)
            start = ids.index(page.starting_after) + 1
        found = [
            b
            for b in mine[start:]
            if status in (None, b.status)
            and kind in (None, b.kind)
            and owner in (None, b.owner)
            and (seen_at_most is None or b.first_seen_at <= seen_at_most)
            and (seen_after is None or b.first_seen_at > seen_after)
        ]
        return Window.cut(found[: page.fetch], page)

    async def resolve(
        self, tenant_id: str, break_id: int, resolution: str, by: str, at: datetime
    ) -> BreakRecord | None:
        return self._update(tenant_id, break_id, status="resolved", resolution=resolution,
                            resolved_by=by, resolved_at=at)  # fmt: skip

    async def assign(self, tenant_id: str, break_id: int, owner: str) -> BreakRecord | None:
        return self._update(tenant_id, break_id, owner=owner)

    def _update(self, tenant_id: str, break_id: int, **values: object) -> BreakRecord | None:
        b = self.rows.get(break_id)
        if b is None or b.tenant_id != tenant_id:
            return None
        self.rows[break_id] = replace(b, **values)
        return self.rows[break_id]


@dataclass
class FakeStripeBooks:
    """The balance transactions seen (each once), on the fake runs' staged lines."""

    accounts: FakeAccounts
    reconciliation: FakeReconciliation
    owners: dict[str, str] = field(default_factory=dict)  # tenant -> Stripe account
    seen: dict[str, StripeLine] = field(default_factory=dict)  # by balance transaction id
    arrivals: set[str] = field(default_factory=set)  # balance transaction ids
    bindings: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    fx_settled: set[str] = field(default_factory=set)  # balance transaction ids

    async def account_of(self, tenant_id: str) -> str | None:
        return self.owners.get(tenant_id)

    async def binding(self, tenant_id: str) -> tuple[str, str, datetime] | None:
        return self.bindings.get(tenant_id)

    async def set_account(self, tenant_id: str, account: str, actor: str) -> None:
        if any(a == account and t != tenant_id for t, a in self.owners.items()):
            raise StripeAccountTaken(account)
        self.owners[tenant_id] = account
        self.bindings[tenant_id] = (account, actor, datetime(2026, 6, 1, tzinfo=UTC))

    async def claimed(self, tenant_id: str, balance_txn_ids: Sequence[str]) -> set[str]:
        return {
            i for i in balance_txn_ids if i in self.seen and self.seen[i].tenant_id != tenant_id
        }

    async def record(self, tenant_id: str, run_id: int) -> list[StripeLine]:
        new = [
            line._replace(tenant_id=tenant_id)
            for line in self.reconciliation.runs[run_id].lines.values()
            if line.balance_txn_id not in self.seen
        ]
        self.seen.update((line.balance_txn_id, line) for line in new)
        return new

    async def payouts_due(self, tenant_id: str, now: datetime) -> list[StripeLine]:
        failed = {
            (x.tenant_id, x.source_id) for x in self.seen.values() if x.type in PAYOUT_RETURNS
        }
        return sorted(
            (
                x for x in self.seen.values()
                if x.tenant_id == tenant_id and x.type in PAYOUTS
                and x.balance_txn_id not in self.arrivals
                and x.available_on is not None and x.available_on <= now
                and (tenant_id, x.source_id) not in failed
            ),
            key=lambda x: (x.available_on or now, x.balance_txn_id),
        )  # fmt: skip

    async def arrived(self, tenant_id: str, payout_ids: Sequence[str]) -> set[str]:
        return {
            x.source_id for x in self.seen.values()
            if x.tenant_id == tenant_id and x.source_id in payout_ids
            and x.balance_txn_id in self.arrivals
        }  # fmt: skip

    async def mark_arrived(self, balance_txn_ids: Sequence[str]) -> None:
        self.arrivals.update(balance_txn_ids)

    async def balances(self, tenant_id: str, end: datetime) -> list[ClearingBalance]:
        ledger: dict[str, int] = {}
        for tx, p in self.accounts.postings:
            if tx.tenant_id == tenant_id and p.code == "stripe_clearing" and tx.posted_at < end:
                ledger[p.currency] = ledger.get(p.currency, 0) + p.amount
        theirs: dict[str, int] = {}
        for x in self.seen.values():
            if x.tenant_id == tenant_id and x.created < end:
                theirs[x.currency] = theirs.get(x.currency, 0) + x.amount - x.fee
        return [
            ClearingBalance(c, ledger.get(c, 0), theirs.get(c, 0))
            for c in sorted({*ledger, *theirs})
        ]

    async def unsettled(self, tenant_id: str) -> list[StripeLine]:
        return sorted(
            (
                x for x in self.seen.values()
                if x.tenant_id == tenant_id and x.exchange_rate is not None
                and x.type not in SELF_BOOKED and x.balance_txn_id not in self.fx_settled
            ),
            key=lambda x: (x.created, x.balance_txn_id),
        )  # fmt: skip

    async def mark_settled(self, balance_txn_ids: Sequence[str]) -> None:
        self.fx_settled.update(balance_txn_ids)

    async def fx_positions(
        self, tenant_id: str, refs: Sequence[str]
    ) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
        out: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
        for tx, p in self.accounts.postings:
            if tx.tenant_id != tenant_id or p.external_ref not in refs:
                continue
            events_clearing = p.code == "stripe_clearing" and not tx.source_type.startswith(
                "stripe."
            )
            if p.code != "fx_clearing" and not events_clearing:
                continue
            booked, fx = out.setdefault(p.external_ref, ({}, {}))
            into = fx if p.code == "fx_clearing" else booked
            into[p.currency] = into.get(p.currency, 0) + p.amount
        return out


@dataclass
class FakeCheckpoints:
    journal: FakeJournal
    recorded: dict[str, tuple[int, str, UUID]] = field(default_factory=dict)  # book -> last

    async def due(self) -> list[BookHead]:
        heads = [BookHead(book_of(t), t, s, h) for t, (s, h) in self.journal.heads.items()]
        return sorted(
            (h for h in heads if h.seq > self.recorded.get(h.book, (0, "", None))[0]),
            key=lambda h: h.book,
        )

    async def record(self, head: BookHead, event_id: UUID) -> None:
        self.recorded[head.book] = (head.seq, head.hash, event_id)


@dataclass
class FakeBooks:
    journal: FakeJournal

    async def verify(self, tenant_id: str | None) -> list[ChainReport]:
        tenants = [tenant_id] if tenant_id is not None else sorted(self.journal.heads)
        return [ChainReport(book_of(t), *self._head(t), None) for t in tenants]

    def _head(self, tenant_id: str) -> tuple[int, str, int]:
        seq, digest = self.journal.heads.get(tenant_id, (0, GENESIS))
        return seq, digest, seq

    async def contradicted(self, published: dict[str, Published]) -> list[str]:
        heads = {book_of(t): h for t, h in self.journal.heads.items()}
        return [
            f"{p.book}: checkpointed at seq {p.seq}, but the book no longer reaches it"
            for p in published.values()
            if heads.get(p.book, (0, ""))[0] < p.seq
        ]

    async def audit(self) -> list[Check]:
        return [Check("every transaction balances per currency", True)]

    async def export(
        self, tenant_id: str | None, start: datetime, end: datetime, fmt: str
    ) -> AsyncIterator[str]:
        rows = [
            {"transaction_id": str(tx.id), "line": p.line, "amount": p.amount}
            for tx, p in self.journal.accounts.postings
            if tenant_id in (None, tx.tenant_id) and start <= tx.posted_at < end
        ]
        yield json.dumps({"columns": ["transaction_id", "line", "amount"], "rows": rows})


@dataclass
class FakeBreakWork:
    """The workflow's rows beside the fake reconciliation's breaks (and its rules)."""

    recon: FakeReconciliation
    comment_rows: list[tuple[str, CommentRecord]] = field(default_factory=list)
    assignments: dict[int, AssignmentRecord] = field(default_factory=dict)
    resolution_rows: dict[int, ResolutionRecord] = field(default_factory=dict)
    pending: dict[str, dict[str, ThresholdChange]] = field(default_factory=dict)
    adjustments: dict[UUID, StaffAdjustmentRecord] = field(default_factory=dict)

    async def rules(self, tenant_id: str) -> dict[str, MatchRules]:
        return dict(self.recon.rules.get(tenant_id, {}))

    async def set_rules(self, tenant_id: str, rules: MatchRules, by: str, at: datetime) -> None:
        self.recon.rules.setdefault(tenant_id, {})[rules.currency] = rules

    async def pending_thresholds(self, tenant_id: str) -> dict[str, ThresholdChange]:
        return dict(self.pending.get(tenant_id, {}))

    async def set_pending_threshold(
        self, tenant_id: str, currency: str, change: ThresholdChange | None
    ) -> None:
        assert currency in self.recon.rules.get(tenant_id, {}), "its rules row exists"
        if change is None:
            self.pending.get(tenant_id, {}).pop(currency, None)
        else:
            self.pending.setdefault(tenant_id, {})[currency] = change

    async def lock(self, tenant_id: str, break_ids: Sequence[int]) -> dict[int, BreakRecord]:
        rows = self.recon.rows
        return {
            i: rows[i]
            for i in sorted(set(break_ids))
            if i in rows and rows[i].tenant_id == tenant_id
        }

    async def all_breaks(self, tenant_id: str) -> list[BreakRecord]:
        return [b for _, b in sorted(self.recon.rows.items()) if b.tenant_id == tenant_id]

    async def mark_resolved(
        self, tenant_id: str, break_ids: Sequence[int], resolution: str, by: str, at: datetime
    ) -> None:
        for i in break_ids:
            self.recon._update(tenant_id, i, status="resolved", resolution=resolution,
                               resolved_by=by, resolved_at=at)  # fmt: skip

    async def add_comment(
        self, tenant_id: str, break_id: int, author: str, body: str, at: datetime
    ) -> CommentRecord:
        c = CommentRecord(len(self.comment_rows) + 1, break_id, author, body, at)
        self.comment_rows.append((tenant_id, c))
        return c

    async def comments(self, tenant_id: str, break_id: int) -> list[CommentRecord]:
        return [c for t, c in self.comment_rows if t == tenant_id and c.break_id == break_id]

    async def assign(
        self, tenant_id: str, break_id: int, assignee: str, by: str, at: datetime
    ) -> AssignmentRecord:
        self.assignments[break_id] = AssignmentRecord(break_id, assignee, by, at)
        return self.assignments[break_id]

    async def assignment(self, tenant_id: str, break_id: int) -> AssignmentRecord | None:
        return self.assignments.get(break_id)

    async def resolutions(
        self, tenant_id: str, break_ids: Sequence[int]
    ) -> dict[int, ResolutionRecord]:
        return {
            i: r for i, r in self.resolution_rows.items()
            if i in break_ids and r.tenant_id == tenant_id
        }  # fmt: skip

    async def save_resolution(self, resolution: ResolutionRecord) -> None:
        self.resolution_rows[resolution.break_id] = resolution

    async def save_adjustment(self, r: StaffAdjustmentRecord) -> None:
        if r.checker is not None and r.checker == r.maker:
            raise AssertionError("the database refuses a checker equal to the maker")
        self.adjustments[r.id] = r

    async def adjustment(self, tenant_id: str, adjustment_id: UUID) -> StaffAdjustmentRecord | None:
        found = self.adjustments.get(adjustment_id)
        return found if found is not None and found.tenant_id == tenant_id else None


@dataclass
class FakeFxBooks:
    accounts: FakeAccounts
    closing: dict[str, list[ClosingRate]] = field(default_factory=dict)
    reporting: dict[str, str] = field(default_factory=dict)

    async def add_rate(self, tenant_id: str, rate: ClosingRate, actor: str) -> bool:
        mine = self.closing.setdefault(tenant_id, [])
        if any((r.base, r.quote, r.as_of) == (rate.base, rate.quote, rate.as_of) for r in mine):
            return False
        mine.append(rate)
        return True

    async def rates(self, tenant_id: str, as_of: datetime) -> list[ClosingRate]:
        return sorted(
            (r for r in self.closing.get(tenant_id, []) if r.as_of <= as_of),
            key=lambda r: (r.base, r.quote, r.as_of),
        )

    async def set_reporting_currency(self, tenant_id: str, currency: str, actor: str) -> None:
        self.reporting[tenant_id] = currency

    async def reporting_currency(self, tenant_id: str) -> str | None:
        return self.reporting.get(tenant_id)

    async def open_held(self, tenant_id: str, before: datetime) -> list[OpenHeld]:
        held: dict[tuple[str, str], tuple[int, datetime]] = {}
        for tx, p in self.accounts.postings:
            if tx.tenant_id == tenant_id and p.code == "escrow_held" and tx.posted_at < before:
                amount, first = held.get((p.currency, p.subledger), (0, tx.posted_at))
                held[(p.currency, p.subledger)] = (amount - p.amount, min(first, tx.posted_at))
        return [
            OpenHeld(order, currency, amount, first)
            for (currency, order), (amount, first) in sorted(held.items())
            if amount
        ]


class FakeLedgerUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.accounts = FakeAccounts()
        self.periods = FakePeriods()
        self.journal = FakeJournal(self.accounts, self.periods)
        self.held_reports = FakeHeldReports()
        self.reconciliation = FakeReconciliation(self.accounts, self.held_reports)
        self.checkpoints = FakeCheckpoints(self.journal)
        self.books = FakeBooks(self.journal)
        self.break_work = FakeBreakWork(self.reconciliation)
        self.stripe_books = FakeStripeBooks(self.accounts, self.reconciliation)
        self.fx = FakeFxBooks(self.accounts)

    def __call__(self) -> FakeLedgerUnitOfWork:
        """The unit of work factory: every unit of work is this one, entered again."""
        return self


@dataclass
class FakeStripeAccounts:
    """The Stripe accounts the platform's key reads; asked ones are remembered."""

    known: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    async def verify(self, account: str) -> None:
        self.asked.append(account)
        if account not in self.known:
            raise StripeAccountUnknown(account)
