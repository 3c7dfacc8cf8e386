"""Financing's tables as SQLAlchemy Core, for queries. The DDL (with its checks) lives in
migrations/versions/0002_advances.py; these mirror it (columns, defaults, keys, indexes:
tests/integration/test_schema_drift.py) and never create tables."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

FINANCING = sa.MetaData()
_ts = sa.DateTime(timezone=True)

policies = sa.Table(
    "policies",
    FINANCING,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("currency", sa.Text, primary_key=True),
    sa.Column("advance_rate_bps", sa.Integer, nullable=False),
    sa.Column("daily_fee_rate", sa.Numeric(12, 8), nullable=False),
    sa.Column("supplier_limit", sa.BigInteger),
    sa.Column("buyer_limit", sa.BigInteger),
    sa.Column("pair_limit", sa.BigInteger),
    sa.Column("concentration_cap_bps", sa.Integer),
    sa.Column("concentration_min_book", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("min_advance", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("offer_ttl_seconds", sa.Integer, nullable=False),
    sa.Column("days_by_kind", JSONB, nullable=False),
    sa.Column("fx_haircut_bps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at", _ts, nullable=False, server_default=sa.func.now()),
)

orders = sa.Table(
    "orders",
    FINANCING,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, primary_key=True),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("supplier_id", sa.Text, nullable=False),
    sa.Column("supplier_account_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("platform_fee_bps", sa.Integer, nullable=False),
    sa.Column("platform_fee_fixed", sa.BigInteger, nullable=False),
    sa.Column("milestones", JSONB, nullable=False),
    sa.Column("disputes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("funded_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("released_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("refunded_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False, server_default="open"),
    sa.Column("funding_charge_id", sa.Text),  # the card charge that paid the whole total
    sa.Column("funding_charge_amount", sa.BigInteger),
    sa.Column("payout_currency", sa.Text),  # None: the contract currency (before v3)
    sa.Column("payout_lock", JSONB),  # escrow.funded's payout_lock, as domain/fx.PayoutLock
)

# How far financing has read each tenant's escrow events (their latest occurred_at).
escrow_watermarks = sa.Table(
    "escrow_watermarks",
    FINANCING,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("last_event_at", _ts, nullable=False),
)

advances = sa.Table(
    "advances",
    FINANCING,
    sa.Column("advance_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("order_id", sa.Text, nullable=False),
    sa.Column("supplier_id", sa.Text, nullable=False),
    sa.Column("buyer_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("principal", sa.BigInteger, nullable=False),
    sa.Column("fee", sa.BigInteger, nullable=False),
    sa.Column("term_days", sa.Integer, nullable=False),
    sa.Column("daily_fee_rate", sa.Numeric(12, 8), nullable=False),
    sa.Column("apr", sa.Numeric(12, 6), nullable=False),
    sa.Column("created_at", _ts, nullable=False),
    sa.Column("expires_at", _ts, nullable=False),
    sa.Column("reasons", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("disbursed_at", _ts),
    sa.Column("stripe_transfer_id", sa.Text),
    *(
        sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
        for name in (
            "repaid_fee",
            "repaid_principal",
            "repaid_early",
            "fee_rebated",
            "fee_amortized",
            "written_off",
            "recovered",
            "recourse",
            "unapplied",
        )
    ),
    sa.Column("frozen_from", sa.Text),
    sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("external_reference", sa.Text),
    sa.Column("payout_currency", sa.Text),
    sa.Column("payout_net", sa.BigInteger),
    sa.Column("payout_rate", sa.Text),  # decimal strings
    sa.Column("locked_rate", sa.Text),
    sa.Column("fx_haircut_bps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", _ts, nullable=False, server_default=sa.func.now()),
    sa.Index("advances_supplier", "tenant_id", "supplier_id"),
    sa.Index("advances_exposure", "tenant_id", "currency", "state"),
    sa.Index("advances_tenant_created", "tenant_id", "created_at", "advance_id"),
    sa.Index(
        "advances_tenant_external_reference",
        "tenant_id",
        "external_reference",
        unique=True,
        postgresql_where=sa.text("external_reference IS NOT NULL"),
    ),
    # At most one live advance per order: the lien covers the order's future releases.
    sa.Index(
        "advances_one_live_per_order",
        "tenant_id",
        "order_id",
        unique=True,
        postgresql_where=sa.text(
            "state IN ('accepted', 'disbursed', 'partially_repaid', 'frozen', 'recourse',"
            " 'defaulted')"
        ),
    ),
)

advance_history = sa.Table(
    "advance_history",
    FINANCING,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("advance_id", sa.Text, sa.ForeignKey("advances.advance_id"), nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("at", _ts, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("data", JSONB, nullable=False),
    sa.Index("advance_history_advance", "advance_id", "id"),
)
