"""Escrows (aggregate + held CHECK), timeline, Stripe webhook dedup, PaymentIntent index, fees.

Revision ID: escrow_0002
Revises:
Depends on: backbone_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "escrow_0002"
# The service's first own revision. It followed escrow_0001, the service's copy of
# backbone_0001, until the backbone had a branch of its own (shared/backbone_migrations).
down_revision = None
branch_labels = ("escrow",)
depends_on = "backbone_0001"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "escrows",
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("supplier_id", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("funded", sa.BigInteger, nullable=False),
        sa.Column("released", sa.BigInteger, nullable=False),
        sa.Column("refunded", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.CheckConstraint("funded - released - refunded >= 0", name="escrows_held_non_negative"),
        sa.CheckConstraint(
            "funded >= 0 AND released >= 0 AND refunded >= 0", name="escrows_amounts_non_negative"
        ),
    )
    op.create_index("escrows_tenant_created", "escrows", ["tenant_id", "created_at", "order_id"])
    op.create_table(
        "escrow_timeline",
        sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("data", JSONB, nullable=False),
    )
    op.create_index("escrow_timeline_order", "escrow_timeline", ["order_id", "seq"])
    op.create_table(
        "stripe_webhook_events",
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "escrow_payment_intents",
        sa.Column("stripe_payment_intent_id", sa.Text, primary_key=True),
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
    )
    op.create_table(
        "fee_policies",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("basis_points", sa.Integer, nullable=False),
        sa.Column("fixed_fees", JSONB, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("basis_points BETWEEN 0 AND 10000", name="fee_policies_bps_range"),
    )


def downgrade() -> None:
    for table in (
        "fee_policies",
        "escrow_payment_intents",
        "stripe_webhook_events",
        "escrow_timeline",
        "escrows",
    ):
        op.drop_table(table)
