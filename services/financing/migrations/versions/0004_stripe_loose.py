"""Stripe loose ends: the order's funding charge (transfers name it as their
``source_transaction``), and how far financing has read each tenant's escrow events (to
tell an order not heard of *yet* from one that does not exist).

Revision ID: financing_0004
Revises: financing_0003
"""

from alembic import op

revision = "financing_0004"
down_revision = "financing_0003"
branch_labels = None
depends_on = None

DDL = """
ALTER TABLE orders
    ADD COLUMN funding_charge_id text,
    ADD COLUMN funding_charge_amount bigint CHECK (funding_charge_amount > 0);

-- The latest occurred_at of the escrow events financing consumed, per tenant: escrow
-- publishes each tenant's events on one partition, in order.
CREATE TABLE escrow_watermarks (
    tenant_id text PRIMARY KEY,
    last_event_at timestamptz NOT NULL
)
"""


def upgrade() -> None:
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE escrow_watermarks")
    op.execute("ALTER TABLE orders DROP COLUMN funding_charge_id, DROP COLUMN funding_charge_amount")
