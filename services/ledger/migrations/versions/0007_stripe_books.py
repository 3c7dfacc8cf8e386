"""Stripe books: Stripe's own balance movements booked once, reconciliation per tenant and window.

- ``stripe_accounts``: the tenant's own (connected) Stripe account, read with the
  ``Stripe-Account`` header; a tenant without one is read from the platform account, by the
  ``tenant_id`` its objects' metadata names.
- ``stripe_balance_transactions``: every balance transaction a run has seen, once (primary
  key: the balance transaction id), with the tenant it was booked for and, for a payout, the
  booking of its arrival. What the Stripe balance of a tenant is, per currency, is the sum
  of their nets.
- ``stripe_lines`` (the staging table) carries ``available_on`` and the tenant of the line.
- ``recon_runs`` records the window it reconciled, how many balance transactions it booked,
  and the Stripe-clearing balance against the Stripe balance per currency (``balances``).

Revision ID: ledger_0007
Revises: ledger_0006
"""

from alembic import op

revision = "ledger_0007"
down_revision = "ledger_0006"
branch_labels = None
depends_on = None

STATEMENTS = [
    """
    CREATE TABLE stripe_accounts (
        tenant_id text PRIMARY KEY,
        stripe_account_id text NOT NULL UNIQUE CHECK (stripe_account_id ~ '^acct_[A-Za-z0-9]+$'),
        set_by text NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE stripe_balance_transactions (
        balance_txn_id text PRIMARY KEY,
        tenant_id text NOT NULL,
        type text NOT NULL,
        source_id text NOT NULL,
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        amount bigint NOT NULL,
        fee bigint NOT NULL,
        created timestamptz NOT NULL,
        available_on timestamptz,
        run_id bigint NOT NULL,
        arrival_booked boolean NOT NULL DEFAULT false
    )
    """,
    "CREATE INDEX stripe_balance_transactions_tenant"
    " ON stripe_balance_transactions (tenant_id, currency, created)",
    "CREATE INDEX stripe_balance_transactions_source"
    " ON stripe_balance_transactions (tenant_id, source_id)",
    "ALTER TABLE stripe_lines ADD COLUMN available_on timestamptz, ADD COLUMN tenant_id text",
    "ALTER TABLE recon_runs ADD COLUMN window_from timestamptz, ADD COLUMN window_to timestamptz,"
    " ADD COLUMN booked bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN balances jsonb NOT NULL DEFAULT '[]'::jsonb",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("ALTER TABLE recon_runs DROP COLUMN window_from, DROP COLUMN window_to,"
               " DROP COLUMN booked, DROP COLUMN balances")
    op.execute("ALTER TABLE stripe_lines DROP COLUMN available_on, DROP COLUMN tenant_id")
    op.execute("DROP TABLE stripe_balance_transactions")
    op.execute("DROP TABLE stripe_accounts")
