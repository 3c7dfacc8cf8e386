"""The platform's own id on a webhook endpoint: external_reference, unique per tenant.

Revision ID: webhooks_0002
Revises: webhooks_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "webhooks_0002"
down_revision = "webhooks_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("external_reference", sa.Text, nullable=True))
    op.create_index(
        "webhook_endpoints_tenant_external_reference",
        "webhook_endpoints",
        ["tenant_id", "external_reference"],
        unique=True,
        postgresql_where=sa.text("external_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("webhook_endpoints_tenant_external_reference", table_name="webhook_endpoints")
    op.drop_column("webhook_endpoints", "external_reference")
