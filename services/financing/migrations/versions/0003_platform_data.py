"""The platform's own data on advances: metadata and external_reference (unique per tenant);
an index for the newest-first pages of ``GET /v1/advances``.

Revision ID: financing_0003
Revises: financing_0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "financing_0003"
down_revision = "financing_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "advances",
        sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.add_column("advances", sa.Column("external_reference", sa.Text, nullable=True))
    op.create_index(
        "advances_tenant_external_reference",
        "advances",
        ["tenant_id", "external_reference"],
        unique=True,
        postgresql_where=sa.text("external_reference IS NOT NULL"),
    )
    op.create_index(
        "advances_tenant_created", "advances", ["tenant_id", "created_at", "advance_id"]
    )


def downgrade() -> None:
    op.drop_index("advances_tenant_created", table_name="advances")
    op.drop_index("advances_tenant_external_reference", table_name="advances")
    op.drop_column("advances", "external_reference")
    op.drop_column("advances", "metadata")
