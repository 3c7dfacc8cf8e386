"""Reconciliation: runs, staged Stripe balance lines, and breaks kept across runs.

Revision ID: ledger_0003
Revises: ledger_0002
"""

from alembic import op

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE recon_runs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id text NOT NULL,
        source text NOT NULL,
        actor text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        stripe_rows bigint NOT NULL DEFAULT 0,
        matched bigint NOT NULL DEFAULT 0,
        missing_in_ledger bigint NOT NULL DEFAULT 0,
        missing_in_stripe bigint NOT NULL DEFAULT 0,
        amount_mismatch bigint NOT NULL DEFAULT 0,
        escrow_held_mismatch bigint NOT NULL DEFAULT 0
    )
    """,
    # Staging only: rows of a run are deleted when it finishes, so no WAL is worth paying.
    """
    CREATE UNLOGGED TABLE stripe_lines (
        run_id bigint NOT NULL,
        balance_txn_id text NOT NULL,
        source_id text NOT NULL,
        type text NOT NULL,
        currency text NOT NULL,
        amount bigint NOT NULL,
        fee bigint NOT NULL,
        created timestamptz NOT NULL
    )
    """,
    "CREATE INDEX stripe_lines_run ON stripe_lines (run_id)",
    """
    CREATE TABLE recon_breaks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('missing_in_ledger', 'missing_in_stripe',
                                           'amount_mismatch', 'escrow_held_mismatch')),
        object_id text NOT NULL,
        currency text NOT NULL,
        ledger_amount bigint,
        other_amount bigint,
        owner text NOT NULL,
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'cleared')),
        first_seen_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        first_run_id bigint NOT NULL,
        last_run_id bigint NOT NULL,
        resolved_by text,
        resolved_at timestamptz,
        resolution text,
        UNIQUE (tenant_id, kind, object_id, currency)
    )
    """,
    "CREATE INDEX recon_breaks_open ON recon_breaks (tenant_id, status, first_seen_at)",
    "CREATE INDEX postings_clearing_refs ON postings (account_id, external_ref) INCLUDE (amount)"
    " WHERE external_ref IS NOT NULL",
    "DROP INDEX postings_external_ref",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("CREATE INDEX postings_external_ref ON postings (external_ref) WHERE external_ref IS NOT NULL")
    op.execute("DROP INDEX postings_clearing_refs")
    op.execute("DROP TABLE recon_breaks, stripe_lines, recon_runs")
