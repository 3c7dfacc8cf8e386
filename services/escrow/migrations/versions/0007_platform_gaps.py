"""Platform gaps: deadline timers that gave up (parked_deadlines), per-tenant dispute
deadlines (escrow_tenant_settings), abandoned stuck refunds.

Revision ID: escrow_0007
Revises: escrow_0006 (the lead re-points it after escrow_0006 at merge)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "escrow_0007"
down_revision = "escrow_0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "parked_deadlines",
        sa.Column("order_id", sa.Text, primary_key=True),
        sa.Column("what", sa.Text, primary_key=True),
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("due_at", TS, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error_code", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("parked_at", TS, nullable=False),
    )
    op.create_index("parked_deadlines_tenant", "parked_deadlines", ["tenant_id", "parked_at"])
    for table in ("stuck_refunds", "refund_breaks"):  # finance's answer, for the audit
        op.add_column(table, sa.Column("resolved_at", TS))
        op.add_column(table, sa.Column("resolved_by", sa.Text))
        op.add_column(table, sa.Column("resolution", sa.Text))
        op.add_column(table, sa.Column("note", sa.Text))
    op.create_table(
        "escrow_tenant_settings",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        sa.Column("dispute_terms", JSONB, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("escrow_tenant_settings")
    for table in ("stuck_refunds", "refund_breaks"):
        for column in ("note", "resolution", "resolved_by", "resolved_at"):
            op.drop_column(table, column)
    op.drop_table("parked_deadlines")
