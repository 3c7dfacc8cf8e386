"""Identity: api_keys, the platform's API keys (hashes only), shared by every service.

Revision ID: identity_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "identity_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("hint", sa.Text),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        sa.Column("party_id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.Text),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("rotated_from", sa.Text, sa.ForeignKey("api_keys.key_id")),
        sa.CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="api_keys_revoker"),
    )
    op.create_index("api_keys_tenant", "api_keys", ["tenant_id", "created_at"])
    op.create_index(
        "api_keys_one_successor",
        "api_keys",
        ["rotated_from"],
        unique=True,
        postgresql_where=sa.text("rotated_from IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
