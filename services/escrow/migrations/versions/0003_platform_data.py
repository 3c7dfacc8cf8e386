"""The platform's own data on orders: external_reference (unique per tenant), for filtering.

``metadata`` and ``external_reference`` live in the escrow document (``state``) like the rest
of the aggregate; the column repeats ``external_reference`` for the unique index and the
``?external_reference=`` filter. Existing orders have neither (NULL, and no key in state:
the model's defaults).

Revision ID: escrow_0003
Revises: escrow_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "escrow_0003"
down_revision = "escrow_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("escrows", sa.Column("external_reference", sa.Text, nullable=True))
    op.create_index(
        "escrows_tenant_external_reference",
        "escrows",
        ["tenant_id", "external_reference"],
        unique=True,
        postgresql_where=sa.text("external_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("escrows_tenant_external_reference", table_name="escrows")
    op.drop_column("escrows", "external_reference")
