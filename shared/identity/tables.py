"""The identity database's tables."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

IDENTITY = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    IDENTITY,
    sa.Column("key_id", sa.Text, primary_key=True),  # public: key_<hex>
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),  # sha256 hex; never the key
    sa.Column("hint", sa.Text),  # its last 4 characters; None for keys imported without them
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    # The trading party a key acts for (a supplier key's supplier id); None: the tenant itself.
    sa.Column("party_id", sa.Text),
    sa.Column("name", sa.Text, nullable=False),  # the actor of the changes the key makes
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),  # set by a rotation's overlap
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_by", sa.Text),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),  # to the minute (see keys.touch)
    sa.Column("rotated_from", sa.Text, sa.ForeignKey("api_keys.key_id")),
    sa.CheckConstraint("(revoked_at IS NULL) = (revoked_by IS NULL)", name="api_keys_revoker"),
    sa.Index("api_keys_tenant", "tenant_id", "created_at"),
    # A key is rotated at most once: two concurrent rotations cannot both issue a successor.
    sa.Index(
        "api_keys_one_successor",
        "rotated_from",
        unique=True,
        postgresql_where=sa.text("rotated_from IS NOT NULL"),
    ),
)
