"""The escrow service's own tables (the backbone tables live in shared.db).

The aggregate is stored as one JSONB document (``state``) next to the columns that queries
and constraints need. ``version`` implements optimistic concurrency: a write names the
version it read and fails when another writer got there first. The CHECK constraint makes
the database itself refuse an escrow holding less than nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

ESCROW = sa.MetaData()

escrows = sa.Table(
    "escrows",
    ESCROW,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("supplier_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("funded", sa.BigInteger, nullable=False),
    sa.Column("released", sa.BigInteger, nullable=False),
    sa.Column("refunded", sa.BigInteger, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", JSONB, nullable=False),
    # The platform's own id for the order (also in ``state``): unique per tenant, filterable.
    sa.Column("external_reference", sa.Text, nullable=True),
    sa.CheckConstraint("funded - released - refunded >= 0", name="escrows_held_non_negative"),
    sa.CheckConstraint(
        "funded >= 0 AND released >= 0 AND refunded >= 0", name="escrows_amounts_non_negative"
    ),
    sa.Index("escrows_tenant_created", "tenant_id", "created_at", "order_id"),
    sa.Index(
        "escrows_tenant_external_reference",
        "tenant_id",
        "external_reference",
        unique=True,
        postgresql_where=sa.text("external_reference IS NOT NULL"),
    ),
)

timeline = sa.Table(
    "escrow_timeline",
    ESCROW,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("data", JSONB, nullable=False),
    sa.Index("escrow_timeline_order", "order_id", "seq"),
)

# Stripe webhook event ids already handled: a redelivery is acknowledged and ignored.
stripe_events = sa.Table(
    "stripe_webhook_events",
    ESCROW,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column(
        "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

# Which order a PaymentIntent funds, for webhooks whose object carries no metadata.
payment_intents = sa.Table(
    "escrow_payment_intents",
    ESCROW,
    sa.Column("stripe_payment_intent_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
)

fee_policies = sa.Table(
    "fee_policies",
    ESCROW,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("basis_points", sa.Integer, nullable=False),
    sa.Column("fixed_fees", JSONB, nullable=False),  # {"USD": 30}: minor units per currency
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("basis_points BETWEEN 0 AND 10000", name="fee_policies_bps_range"),
)

# A tenant's settings beyond fees: its dispute deadlines (escrow_0007; domain/terms.py).
tenant_settings = sa.Table(
    "escrow_tenant_settings",
    ESCROW,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("dispute_terms", JSONB, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

# Refunds the settlement timer found refused by Stripe: attempts counted, alerted once.
stuck_refunds = sa.Table(
    "stuck_refunds",
    ESCROW,
    sa.Column("refund_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("payment_id", sa.Text),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("first_refused_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_refused_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("alerted_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),  # escrow_0007
    sa.Column("resolved_by", sa.Text),
    sa.Column("resolution", sa.Text),
    sa.Column("note", sa.Text),
    sa.Index(
        "stuck_refunds_alerted",
        "tenant_id",
        "alerted_at",
        postgresql_where=sa.text("alerted_at IS NOT NULL"),
    ),
)

# Refunds made outside Tradeflow (charge.refunded) for more than escrow could book.
refund_breaks = sa.Table(
    "refund_breaks",
    ESCROW,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("stripe_refund_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("payment_id", sa.Text, nullable=False),
    sa.Column("stripe_event_id", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("bookable", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),  # escrow_0007
    sa.Column("resolved_by", sa.Text),
    sa.Column("resolution", sa.Text),
    sa.Column("note", sa.Text),
    sa.Index("refund_breaks_detected", "tenant_id", "detected_at"),
)

# Deadline timers that gave up: their action kept being refused (escrow_0007).
parked_deadlines = sa.Table(
    "parked_deadlines",
    ESCROW,
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("what", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error_code", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("parked_deadlines_tenant", "tenant_id", "parked_at"),
)

# Every dispute of every escrow, for listing across orders: a projection of the disputes
# in ``escrows.state``, written in the same transaction as the escrow (the aggregate stays
# the truth; the detail, with evidence and offers, is read from it).
disputes = sa.Table(
    "escrow_disputes",
    ESCROW,
    sa.Column("dispute_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("supplier_id", sa.Text, nullable=False),
    sa.Column("milestone_id", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("escrow_disputes_tenant_opened", "tenant_id", "opened_at", "dispute_id"),
    sa.Index("escrow_disputes_order", "order_id"),
)

# FX (issue 14, migration escrow_0006): rates finance imported, quotes, tenant settings.
fx_rates = sa.Table(
    "escrow_fx_rates",
    ESCROW,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("from_currency", sa.Text, primary_key=True),
    sa.Column("to_currency", sa.Text, primary_key=True),
    sa.Column("effective_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("mid_rate", sa.Text, nullable=False),  # the decimal string imported
    sa.Column("imported_by", sa.Text, nullable=False),
    sa.Column(
        "imported_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("from_currency <> to_currency", name="escrow_fx_rates_pair"),
    sa.Index("escrow_fx_rates_lookup", "tenant_id", "from_currency", "to_currency", "effective_at"),
)

fx_quotes = sa.Table(
    "escrow_fx_quotes",
    ESCROW,
    sa.Column("quote_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("side", sa.Text, nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("conversion", JSONB, nullable=False),  # shared.fx.FxConversion
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_by", sa.Text, nullable=True),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("side IN ('funding', 'payout')", name="escrow_fx_quotes_side"),
    sa.CheckConstraint("amount > 0", name="escrow_fx_quotes_amount"),
)

fx_settings = sa.Table(
    "escrow_fx_settings",
    ESCROW,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("markup_bps", sa.Integer, nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("quote_ttl_seconds", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("markup_bps BETWEEN 0 AND 9999", name="escrow_fx_settings_bps"),
    sa.CheckConstraint("policy IN ('order', 'milestone')", name="escrow_fx_settings_policy"),
    sa.CheckConstraint("quote_ttl_seconds > 0", name="escrow_fx_settings_ttl"),
)
