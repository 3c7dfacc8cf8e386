"""The ledger's tables, as SQLAlchemy Core for queries. The DDL (with its triggers) lives in
the Alembic revisions; these definitions mirror it and are never used to create tables."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

LEDGER = sa.MetaData()

accounts = sa.Table(
    "accounts",
    LEDGER,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("subledger", sa.Text, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
)

journal = sa.Table(
    "journal_transactions",
    LEDGER,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("original_date", sa.DateTime(timezone=True)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source_event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("source_type", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("actor", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("memo", sa.Text, nullable=False),
    sa.Column("reverses", UUID(as_uuid=True)),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("book_seq", sa.BigInteger),  # its place in its tenant's book; None: legacy chain
)

books = sa.Table(
    "books",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("head_seq", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
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
    sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("external_ref", sa.Text),
)

period_closes = sa.Table(
    "period_closes",
    LEDGER,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("closed_through", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_by", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
)

escrow_held_reports = sa.Table(
    "escrow_held_reports",
    LEDGER,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("held_after", sa.BigInteger, nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
)

recon_runs = sa.Table(
    "recon_runs",
    LEDGER,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    *(
        sa.Column(name, sa.BigInteger, nullable=False)
        for name in (
            "stripe_rows",
            "matched",
            "missing_in_ledger",
            "missing_in_stripe",
            "amount_mismatch",
            "escrow_held_mismatch",
        )
    ),
)

recon_breaks = sa.Table(
    "recon_breaks",
    LEDGER,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("ledger_amount", sa.BigInteger),
    sa.Column("other_amount", sa.BigInteger),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("first_run_id", sa.BigInteger, nullable=False),
    sa.Column("last_run_id", sa.BigInteger, nullable=False),
    sa.Column("resolved_by", sa.Text),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution", sa.Text),
)
