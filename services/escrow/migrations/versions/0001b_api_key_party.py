"""Backbone: api_keys.party_id, the supplier a supplier key acts for.

IF [NOT] EXISTS: on a fresh database revision 0001 already built the table as it was then,
and since the keys moved to the identity database (backbone 0004) it builds none.

Revision ID: escrow_backbone_0003
Revises: escrow_backbone_0002
"""

from alembic import op

revision = "escrow_backbone_0003"
down_revision = "escrow_backbone_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE IF EXISTS api_keys ADD COLUMN IF NOT EXISTS party_id text")


def downgrade() -> None:
    op.execute("ALTER TABLE IF EXISTS api_keys DROP COLUMN IF EXISTS party_id")
