"""Disputes listed across orders: the escrow_disputes projection, backfilled.

Revision ID: escrow_0005
Revises: escrow_0004

The disputes themselves (evidence, offers, rejections, partial refund proposals) live in
``escrows.state`` like the rest of the aggregate; their new fields have defaults, so
existing states load unchanged. This table lets ``GET /v1/disputes`` filter and page
across orders. The backfill dates a dispute from its ``escrow.dispute_opened`` timeline
entry (disputes opened before this revision do not carry ``opened_at``).
"""

import sqlalchemy as sa
from alembic import op

revision = "escrow_0005"
down_revision = "escrow_0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "escrow_disputes",
        sa.Column("dispute_id", sa.Text, primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("supplier_id", sa.Text, nullable=False),
        sa.Column("milestone_id", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index(
        "escrow_disputes_tenant_opened", "escrow_disputes", ["tenant_id", "opened_at", "dispute_id"]
    )
    op.create_index("escrow_disputes_order", "escrow_disputes", ["order_id"])
    op.execute(
        """
        INSERT INTO escrow_disputes (dispute_id, order_id, tenant_id, buyer_id, supplier_id,
                                     milestone_id, status, opened_at, updated_at)
        SELECT d->>'dispute_id', e.order_id, e.tenant_id, e.buyer_id, e.supplier_id,
               d->>'milestone_id', d->>'status',
               COALESCE(
                   (d->>'opened_at')::timestamptz,
                   (SELECT min(t.occurred_at) FROM escrow_timeline t
                     WHERE t.order_id = e.order_id
                       AND t.event_type = 'escrow.dispute_opened'
                       AND t.data->>'dispute_id' = d->>'dispute_id'),
                   e.updated_at),
               e.updated_at
          FROM escrows e, jsonb_array_elements(e.state->'disputes') d
        ON CONFLICT (dispute_id) DO NOTHING
        """
    )


def downgrade() -> None:
    op.drop_table("escrow_disputes")
