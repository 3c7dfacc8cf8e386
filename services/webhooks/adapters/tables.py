"""The webhooks service's own tables (the backbone tables live in shared.db).

``deliveries`` is also the work queue: a worker claims due rows (``status = 'pending'``,
``next_attempt_at`` passed, no live lease) with ``FOR UPDATE SKIP LOCKED`` and leases them
(``leased_until``) before it calls out, so no transaction stays open during an HTTP call
and a worker that dies mid-attempt only delays its deliveries until the lease runs out.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

WEBHOOKS = sa.MetaData()
TS = sa.DateTime(timezone=True)

endpoints = sa.Table(
    "webhook_endpoints",
    WEBHOOKS,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("enabled_events", ARRAY(sa.Text), nullable=False),
    sa.Column("metadata", JSONB, nullable=False),
    sa.Column("external_reference", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("previous_secret", sa.Text),
    sa.Column("previous_secret_expires_at", TS),
    sa.Column("consecutive_failures", sa.Integer, nullable=False),
    sa.Column("failing_since", TS),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
    sa.Index("webhook_endpoints_tenant", "tenant_id", "id"),
    sa.Index(
        "webhook_endpoints_tenant_external_reference",
        "tenant_id",
        "external_reference",
        unique=True,
        postgresql_where=sa.text("external_reference IS NOT NULL"),
    ),
)

deliveries = sa.Table(
    "webhook_deliveries",
    WEBHOOKS,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column(
        "endpoint_id",
        sa.Text,
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", TS),
    sa.Column("leased_until", TS),
    sa.Column("redelivery_of", sa.Text),
    sa.Column("created_at", TS, nullable=False),
    sa.CheckConstraint(
        "status IN ('pending', 'succeeded', 'failed')", name="webhook_deliveries_status"
    ),
    sa.Index("webhook_deliveries_endpoint", "endpoint_id", "id"),
    sa.Index(
        "webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'pending'"),
    ),
)

attempts = sa.Table(
    "webhook_attempts",
    WEBHOOKS,
    sa.Column(
        "delivery_id",
        sa.Text,
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("response_excerpt", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
)
