"""FX in the books: Stripe's exchange rate on balance transactions, closing rates imported by
finance staff, and each tenant's reporting currency (docs/fx.md).

- ``stripe_lines`` and ``stripe_balance_transactions`` carry ``exchange_rate`` (a decimal
  string, as Stripe sent it): a line with one settles a conversion (realised FX);
  ``fx_settled`` once its settlement is booked (until then every run tries again: the
  conversion's event may reach the ledger after Stripe's line).
- ``fx_closing_rates``: per tenant and pair (``base`` -> ``quote``: quote units per one
  base unit, major units), a rate as a decimal string with its as-of and source; append-only
  history, one rate per pair and as-of.
- ``reporting_currencies``: a tenant's reporting currency (revaluation, reporting trial
  balance).

Revision ID: ledger_0009
Revises: ledger_0008
"""

from alembic import op

revision = "ledger_0009"
down_revision = "ledger_0008"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE stripe_lines ADD COLUMN exchange_rate text",
    "ALTER TABLE stripe_balance_transactions ADD COLUMN exchange_rate text,"
    " ADD COLUMN fx_settled boolean NOT NULL DEFAULT false",
    "CREATE INDEX stripe_balance_transactions_unsettled ON stripe_balance_transactions"
    " (tenant_id) WHERE exchange_rate IS NOT NULL AND NOT fx_settled",
    r"""
    CREATE TABLE fx_closing_rates (
        tenant_id text NOT NULL,
        base text NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
        quote text NOT NULL CHECK (quote ~ '^[A-Z]{3}$' AND quote <> base),
        rate text NOT NULL CHECK (rate ~ '^[0-9]+(\.[0-9]{1,12})?$' AND rate::numeric > 0),
        as_of timestamptz NOT NULL,
        source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
        recorded_by text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, base, quote, as_of)
    )
    """,
    """
    CREATE TABLE reporting_currencies (
        tenant_id text PRIMARY KEY,
        currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        set_by text NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE reporting_currencies, fx_closing_rates")
    op.execute("DROP INDEX stripe_balance_transactions_unsettled")
    op.execute(
        "ALTER TABLE stripe_balance_transactions DROP COLUMN exchange_rate, DROP COLUMN fx_settled"
    )
    op.execute("ALTER TABLE stripe_lines DROP COLUMN exchange_rate")
