"""Backbone: api_keys leaves the service database; the keys live in identity now.

``shared.migrations.upgrade`` copies this database's keys into the identity database right
before this revision runs, and the drop checks that copy (see ``drop_legacy_api_keys``).
A database created after the move never had the table.

Revision ID: backbone_0004
Revises: backbone_0003
"""

from alembic import op

from shared.migrations import drop_legacy_api_keys, recreate_legacy_api_keys

revision = "backbone_0004"
down_revision = "backbone_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_legacy_api_keys(op)


def downgrade() -> None:
    recreate_legacy_api_keys(op)
