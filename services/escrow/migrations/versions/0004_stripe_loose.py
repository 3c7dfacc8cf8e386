"""Operations records for finance: refunds Stripe keeps refusing (stuck_refunds) and
refunds made outside Tradeflow that escrow could not book (refund_breaks).

Revision ID: escrow_0004
Revises: escrow_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "escrow_0004"
down_revision = "escrow_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stuck_refunds",
        sa.Column("refund_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("payment_id", sa.Text),
        sa.Column("amount", sa.BigInteger, sa.CheckConstraint("amount > 0"), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("first_refused_at", TS, nullable=False),
        sa.Column("last_refused_at", TS, nullable=False),
        sa.Column("alerted_at", TS),
    )
    op.create_index(
        "stuck_refunds_alerted",
        "stuck_refunds",
        ["tenant_id", "alerted_at"],
        postgresql_where=sa.text("alerted_at IS NOT NULL"),
    )
    op.create_table(
        "refund_breaks",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("stripe_refund_id", sa.Text, primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("payment_id", sa.Text, nullable=False),
        sa.Column("stripe_event_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, sa.CheckConstraint("amount > 0"), nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("bookable", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detected_at", TS, nullable=False),
    )
    op.create_index("refund_breaks_detected", "refund_breaks", ["tenant_id", "detected_at"])


def downgrade() -> None:
    op.drop_table("refund_breaks")
    op.drop_table("stuck_refunds")
