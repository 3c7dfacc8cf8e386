"""Backbone: api_keys.party_id, the supplier a supplier key acts for.

IF [NOT] EXISTS: only a database made before the keys moved to the identity database
(backbone_0004) has the table; backbone_0001 creates none.

Revision ID: backbone_0003
Revises: backbone_0002
"""

from alembic import op

revision = "backbone_0003"
down_revision = "backbone_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE IF EXISTS api_keys ADD COLUMN IF NOT EXISTS party_id text")


def downgrade() -> None:
    op.execute("ALTER TABLE IF EXISTS api_keys DROP COLUMN IF EXISTS party_id")
