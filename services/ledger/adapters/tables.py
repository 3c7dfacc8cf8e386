"""The ledger's tables, as SQLAlchemy Core for queries. The DDL (with its triggers and
CHECK constraints) lives in the Alembic revisions; these definitions mirror it (columns,
defaults, keys, indexes: tests/integration/test_schema_drift.py) and never create tables."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

LEDGER = sa.MetaData()
_ts = sa.DateTime(timezone=True)

accounts = sa.Table(
    "accounts",
    LEDGER,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("subledger", sa.Text, nullable=False, server_default=""),
    sa.Column("opened_at", _ts, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("tenant_id", "code", "currency", "subledger"),
)

journal = sa.Table(
    "journal_transactions",
    LEDGER,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False, unique=True),  # from journal_seq
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("posted_at", _ts, nullable=False),
    sa.Column("original_date", _ts),
    sa.Column("recorded_at", _ts, nullable=False, server_default=sa.func.now()),
    sa.Column("source_event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("source_type", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("memo", sa.Text, nullable=False, server_default=""),
    sa.Column("reverses", UUID(as_uuid=True)),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    # The database transaction that wrote the row (the balance check's key); never written.
    sa.Column(
        "xact_id",
        sa.BigInteger,
        nullable=False,
        server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
    ),
    sa.Column("book_seq", sa.BigInteger),  # its place in its tenant's book; None: legacy chain
    sa.Index("journal_tenant_time", "tenant_id", "posted_at", "seq"),
    sa.Index(
        "journal_reverses",
        "reverses",
        unique=True,
        postgresql_where=sa.text("reverses IS NOT NULL"),
    ),
    sa.Index(
        "journal_book",
        "tenant_id",
        "book_seq",
        unique=True,
        postgresql_where=sa.text("book_seq IS NOT NULL"),
    ),
)

# Each statement that adds journal rows records their seq range here (a trigger does); the
# deferred constraint trigger on it checks each range's balance at commit.
balance_checks = sa.Table(
    "ledger_balance_checks",
    LEDGER,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("xact_id", sa.BigInteger, nullable=False),
    sa.Column("lo", sa.BigInteger, nullable=False),
    sa.Column("hi", sa.BigInteger, nullable=False),
    sa.Column("created_at", _ts, nullable=False, server_default=sa.func.now()),
)

books = sa.Table(
    "books",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.Text, nullable=False),
    sa.Column("updated_at", _ts, nullable=False, server_default=sa.func.now()),
)

# The head of the chain from before books (one row, never changed).
legacy_chain = sa.Table(
    "legacy_chain",
    LEDGER,
    sa.Column("only_row", sa.Boolean, primary_key=True, server_default=sa.true()),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.Text, nullable=False),
    sa.Column("closed_at", _ts, nullable=False, server_default=sa.func.now()),
)

# The book heads already published as ledger.chain_checkpoint events.
chain_checkpoints = sa.Table(
    "chain_checkpoints",
    LEDGER,
    sa.Column("book", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("created_at", _ts, nullable=False, server_default=sa.func.now()),
)

postings = sa.Table(
    "postings",
    LEDGER,
    sa.Column("transaction_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("line", sa.SmallInteger, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("account_id", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("posted_at", _ts, nullable=False),
    sa.Column("external_ref", sa.Text),
    sa.Index(
        "postings_account_time",
        "account_id",
        "posted_at",
        "seq",
        "line",
        postgresql_include=["amount"],
    ),
    sa.Index(
        "postings_clearing_refs",
        "account_id",
        "external_ref",
        postgresql_include=["amount"],
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    ),
)

period_closes = sa.Table(
    "period_closes",
    LEDGER,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("closed_through", _ts, nullable=False),
    sa.Column("closed_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("closed_at", _ts, nullable=False, server_default=sa.func.now()),
    sa.Index("period_closes_tenant", "tenant_id", sa.text("closed_through DESC")),
)

escrow_held_reports = sa.Table(
    "escrow_held_reports",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("held_after", sa.BigInteger, nullable=False),
    sa.Column("as_of", _ts, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
)

recon_runs = sa.Table(
    "recon_runs",
    LEDGER,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("started_at", _ts, nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", _ts),
    *(
        sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
        for name in (
            "stripe_rows",
            "matched",
            "missing_in_ledger",
            "missing_in_stripe",
            "amount_mismatch",
            "escrow_held_mismatch",
            "date_mismatch",
            "ledger_disagrees",
            "escrow_disagrees",
            "stripe_disagrees",
            "three_way_disagree",
        )
    ),
    sa.Column("window_from", _ts),
    sa.Column("window_to", _ts),
    sa.Column("booked", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("balances", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
)

# A run's Stripe balance lines, staged (COPY) while it runs and deleted when it finishes.
stripe_lines = sa.Table(
    "stripe_lines",
    LEDGER,
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("balance_txn_id", sa.Text, nullable=False),
    sa.Column("source_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("created", _ts, nullable=False),
    sa.Column("available_on", _ts),
    sa.Column("tenant_id", sa.Text),
    sa.Column("order_id", sa.Text),
    sa.Column("exchange_rate", sa.Text),  # ledger_0009: Stripe's, as the decimal string sent
    sa.Index("stripe_lines_run", "run_id"),
    prefixes=["UNLOGGED"],
)

recon_breaks = sa.Table(
    "recon_breaks",
    LEDGER,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("ledger_amount", sa.BigInteger),
    sa.Column("other_amount", sa.BigInteger),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("first_seen_at", _ts, nullable=False),
    sa.Column("last_seen_at", _ts, nullable=False),
    sa.Column("first_run_id", sa.BigInteger, nullable=False),
    sa.Column("last_run_id", sa.BigInteger, nullable=False),
    sa.Column("resolved_by", sa.Text),
    sa.Column("resolved_at", _ts),
    sa.Column("resolution", sa.Text),
    sa.UniqueConstraint("tenant_id", "kind", "object_id", "currency"),
    sa.Index("recon_breaks_open", "tenant_id", "status", "first_seen_at"),
)

# The break workflow (ledger_0008): matching rules, comments, assignment, resolutions.
recon_match_rules = sa.Table(
    "recon_match_rules",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("amount_tolerance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("date_window_days", sa.Integer),
    sa.Column("approval_threshold", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at", _ts, nullable=False),
    # ledger_0010: a raise of the threshold waiting for a second finance user
    sa.Column("pending_threshold", sa.BigInteger),
    sa.Column("pending_by", sa.Text),
    sa.Column("pending_at", _ts),
)

break_comments = sa.Table(
    "break_comments",
    LEDGER,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("break_id", sa.BigInteger, sa.ForeignKey("recon_breaks.id"), nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Index("break_comments_break", "break_id", "id"),
)

break_assignments = sa.Table(
    "break_assignments",
    LEDGER,
    sa.Column("break_id", sa.BigInteger, sa.ForeignKey("recon_breaks.id"), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("assignee", sa.Text, nullable=False),
    sa.Column("assigned_by", sa.Text, nullable=False),
    sa.Column("assigned_at", _ts, nullable=False),
)

break_resolutions = sa.Table(
    "break_resolutions",
    LEDGER,
    sa.Column("break_id", sa.BigInteger, sa.ForeignKey("recon_breaks.id"), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("maker", sa.Text, nullable=False),
    sa.Column("requested_at", _ts, nullable=False),
    sa.Column("adjustment", JSONB),
    sa.Column("checker", sa.Text),
    sa.Column("approved_at", _ts),
    sa.Column("transaction_id", UUID(as_uuid=True)),
)

# ledger_0010: staff adjustments above the threshold, waiting for a second finance user.
staff_adjustments = sa.Table(
    "staff_adjustments",
    LEDGER,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("memo", sa.Text, nullable=False),
    sa.Column("posted_at", _ts),
    sa.Column("lines", JSONB, nullable=False),
    sa.Column("maker", sa.Text, nullable=False),
    sa.Column("requested_at", _ts, nullable=False),
    sa.Column("checker", sa.Text),
    sa.Column("approved_at", _ts),
    sa.Column("transaction_id", UUID(as_uuid=True)),
    sa.Index(
        "staff_adjustments_pending",
        "tenant_id",
        "requested_at",
        postgresql_where=sa.text("status = 'pending_approval'"),
    ),
)

# The tenant's own (connected) Stripe account, read with the Stripe-Account header.
stripe_accounts = sa.Table(
    "stripe_accounts",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("stripe_account_id", sa.Text, nullable=False, unique=True),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at", _ts, nullable=False, server_default=sa.func.now()),
)

# Every Stripe balance transaction a run saw, once, with the tenant it was booked for.
stripe_balance_transactions = sa.Table(
    "stripe_balance_transactions",
    LEDGER,
    sa.Column("balance_txn_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("source_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("created", _ts, nullable=False),
    sa.Column("available_on", _ts),
    sa.Column("run_id", sa.BigInteger, nullable=False),
    sa.Column("arrival_booked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("order_id", sa.Text),
    # ledger_0009: a line with an exchange rate settles a conversion, once (fx_settled)
    sa.Column("exchange_rate", sa.Text),
    sa.Column("fx_settled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("stripe_balance_transactions_tenant", "tenant_id", "currency", "created"),
    sa.Index(
        "stripe_balance_transactions_unsettled",
        "tenant_id",
        postgresql_where=sa.text("exchange_rate IS NOT NULL AND NOT fx_settled"),
    ),
    sa.Index(
        "stripe_balance_transactions_payouts",
        "tenant_id",
        "source_id",
        postgresql_where=sa.text(
            "type IN ('payout', 'payout_cancel', 'payout_failure', 'payout_reversal')"
        ),
    ),
    sa.Index(
        "stripe_balance_transactions_order",
        "tenant_id",
        "order_id",
        postgresql_where=sa.text("order_id IS NOT NULL"),
    ),
)


# ledger_0009 (docs/fx.md): closing rates finance staff import, per tenant and pair (quote
# units per one base unit, major units, a decimal string), append-only history.
fx_closing_rates = sa.Table(
    "fx_closing_rates",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("base", sa.Text, primary_key=True),
    sa.Column("quote", sa.Text, primary_key=True),
    sa.Column("rate", sa.Text, nullable=False),
    sa.Column("as_of", _ts, primary_key=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("recorded_at", _ts, nullable=False, server_default=sa.func.now()),
)

# ledger_0009: a tenant's reporting currency (revaluation, the reporting trial balance).
reporting_currencies = sa.Table(
    "reporting_currencies",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("set_by", sa.Text, nullable=False),
    sa.Column("set_at", _ts, nullable=False, server_default=sa.func.now()),
)
