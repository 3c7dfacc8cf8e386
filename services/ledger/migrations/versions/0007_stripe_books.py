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

PAYOUTS = "('payout', 'payout_cancel', 'payout_failure', 'payout_reversal')"

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
        arrival_booked boolean NOT NULL DEFAULT false,
        order_id text
    )
    """,
    "CREATE INDEX stripe_balance_transactions_tenant"
    " ON stripe_balance_transactions (tenant_id, currency, created)",
    # payouts, their failures and their arrivals are looked up by payout id
    "CREATE INDEX stripe_balance_transactions_payouts"
    " ON stripe_balance_transactions (tenant_id, source_id)"
    f" WHERE type IN {PAYOUTS}",
    "CREATE INDEX stripe_balance_transactions_order ON stripe_balance_transactions"
    " (tenant_id, order_id) WHERE order_id IS NOT NULL",
    "ALTER TABLE stripe_lines ADD COLUMN available_on timestamptz, ADD COLUMN tenant_id text,"
    " ADD COLUMN order_id text",
    "ALTER TABLE recon_runs ADD COLUMN window_from timestamptz, ADD COLUMN window_to timestamptz,"
    " ADD COLUMN booked bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN balances jsonb NOT NULL DEFAULT '[]'::jsonb,"
    " ADD COLUMN ledger_disagrees bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN escrow_disagrees bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN stripe_disagrees bigint NOT NULL DEFAULT 0,"
    " ADD COLUMN three_way_disagree bigint NOT NULL DEFAULT 0",
    "ALTER TABLE recon_breaks DROP CONSTRAINT recon_breaks_kind_check",
    "ALTER TABLE recon_breaks ADD CONSTRAINT recon_breaks_kind_check CHECK (kind IN"
    " ('missing_in_ledger', 'missing_in_stripe', 'amount_mismatch', 'escrow_held_mismatch',"
    " 'ledger_disagrees', 'escrow_disagrees', 'stripe_disagrees', 'three_way_disagree'))",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DELETE FROM recon_breaks WHERE kind IN ('ledger_disagrees', 'escrow_disagrees',"
        " 'stripe_disagrees', 'three_way_disagree')"
    )
    op.execute("ALTER TABLE recon_breaks DROP CONSTRAINT recon_breaks_kind_check")
    op.execute(
        "ALTER TABLE recon_breaks ADD CONSTRAINT recon_breaks_kind_check CHECK (kind IN"
        " ('missing_in_ledger', 'missing_in_stripe', 'amount_mismatch', 'escrow_held_mismatch'))"
    )
    op.execute(
        "ALTER TABLE recon_runs DROP COLUMN window_from, DROP COLUMN window_to,"
        " DROP COLUMN booked, DROP COLUMN balances, DROP COLUMN ledger_disagrees,"
        " DROP COLUMN escrow_disagrees, DROP COLUMN stripe_disagrees,"
        " DROP COLUMN three_way_disagree"
    )
    op.execute(
        "ALTER TABLE stripe_lines DROP COLUMN available_on, DROP COLUMN tenant_id,"
        " DROP COLUMN order_id"
    )
    op.execute("DROP TABLE stripe_balance_transactions")
    op.execute("DROP TABLE stripe_accounts")
