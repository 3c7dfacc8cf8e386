"""FX (issue 14): imported rates, quotes and each tenant's FX settings.

Revision ID: escrow_0006
Revises: escrow_0005

An order's currencies (funding, payout), its policy and its locked conversions live in
``escrows.state`` like the rest of the aggregate; their new fields have defaults (the
contract currency, no conversion), so existing states load unchanged. Rates are kept as the
decimal strings finance imported (never a float); a quote keeps the whole conversion it
offered (``shared.fx.FxConversion`` as JSON) and who used it.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "escrow_0006"
down_revision = "escrow_0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "escrow_fx_rates",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("from_currency", sa.Text, nullable=False),
        sa.Column("to_currency", sa.Text, nullable=False),
        sa.Column("effective_at", TS, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("mid_rate", sa.Text, nullable=False),
        sa.Column("imported_by", sa.Text, nullable=False),
        sa.Column("imported_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint(
            "tenant_id", "from_currency", "to_currency", "effective_at", "source"
        ),
        sa.CheckConstraint("from_currency <> to_currency", name="escrow_fx_rates_pair"),
    )
    op.create_index(
        "escrow_fx_rates_lookup",
        "escrow_fx_rates",
        ["tenant_id", "from_currency", "to_currency", "effective_at"],
    )
    op.create_table(
        "escrow_fx_quotes",
        sa.Column("quote_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("side", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("conversion", JSONB, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_by", sa.Text, nullable=True),
        sa.Column("used_at", TS, nullable=True),
        sa.CheckConstraint("side IN ('funding', 'payout')", name="escrow_fx_quotes_side"),
        sa.CheckConstraint("amount > 0", name="escrow_fx_quotes_amount"),
    )
    op.create_table(
        "escrow_fx_settings",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("markup_bps", sa.Integer, nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("quote_ttl_seconds", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("markup_bps BETWEEN 0 AND 9999", name="escrow_fx_settings_bps"),
        sa.CheckConstraint("policy IN ('order', 'milestone')", name="escrow_fx_settings_policy"),
        sa.CheckConstraint("quote_ttl_seconds > 0", name="escrow_fx_settings_ttl"),
    )


def downgrade() -> None:
    op.drop_table("escrow_fx_settings")
    op.drop_table("escrow_fx_quotes")
    op.drop_index("escrow_fx_rates_lookup", table_name="escrow_fx_rates")
    op.drop_table("escrow_fx_rates")
