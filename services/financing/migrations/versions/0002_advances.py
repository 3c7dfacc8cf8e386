"""Advances, their history (audit + statement), tenant policies, and the read model of
orders folded from escrow's events.

Revision ID: financing_0002
Revises:
Depends on: backbone_0001
"""

from alembic import op

revision = "financing_0002"
# The service's first own revision. It followed financing_0001, the service's copy of
# backbone_0001, until the backbone had a branch of its own (shared/backbone_migrations).
down_revision = None
branch_labels = ("financing",)
depends_on = "backbone_0001"

DDL = """
CREATE TABLE policies (
    tenant_id text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    advance_rate_bps integer NOT NULL CHECK (advance_rate_bps BETWEEN 1 AND 10000),
    daily_fee_rate numeric(12, 8) NOT NULL CHECK (daily_fee_rate >= 0 AND daily_fee_rate < 0.01),
    supplier_limit bigint CHECK (supplier_limit >= 0),
    buyer_limit bigint CHECK (buyer_limit >= 0),
    pair_limit bigint CHECK (pair_limit >= 0),
    concentration_cap_bps integer CHECK (concentration_cap_bps BETWEEN 1 AND 10000),
    concentration_min_book bigint NOT NULL DEFAULT 0 CHECK (concentration_min_book >= 0),
    min_advance bigint NOT NULL DEFAULT 1 CHECK (min_advance >= 1),
    offer_ttl_seconds integer NOT NULL CHECK (offer_ttl_seconds > 0),
    days_by_kind jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, currency)
);

CREATE TABLE orders (
    tenant_id text NOT NULL,
    order_id text NOT NULL,
    buyer_id text NOT NULL,
    supplier_id text NOT NULL,
    supplier_account_id text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total bigint NOT NULL CHECK (total > 0),
    created_at timestamptz NOT NULL,
    platform_fee_bps integer NOT NULL,
    platform_fee_fixed bigint NOT NULL,
    milestones jsonb NOT NULL,
    disputes jsonb NOT NULL DEFAULT '{}'::jsonb,
    funded_total bigint NOT NULL DEFAULT 0,
    released_total bigint NOT NULL DEFAULT 0,
    refunded_total bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'open',
    PRIMARY KEY (tenant_id, order_id),
    CHECK (funded_total - released_total - refunded_total >= 0)
);

CREATE TABLE advances (
    advance_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    order_id text NOT NULL,
    supplier_id text NOT NULL,
    buyer_id text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    state text NOT NULL,
    principal bigint NOT NULL CHECK (principal >= 0),
    fee bigint NOT NULL CHECK (fee >= 0 AND fee <= principal),
    term_days integer NOT NULL,
    daily_fee_rate numeric(12, 8) NOT NULL,
    apr numeric(12, 6) NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    reasons text[] NOT NULL DEFAULT '{}',
    disbursed_at timestamptz,
    stripe_transfer_id text,
    repaid_fee bigint NOT NULL DEFAULT 0 CHECK (repaid_fee >= 0),
    repaid_principal bigint NOT NULL DEFAULT 0 CHECK (repaid_principal >= 0),
    repaid_early bigint NOT NULL DEFAULT 0 CHECK (repaid_early >= 0),
    fee_rebated bigint NOT NULL DEFAULT 0 CHECK (fee_rebated >= 0),
    fee_amortized bigint NOT NULL DEFAULT 0 CHECK (fee_amortized >= 0 AND fee_amortized <= fee),
    written_off bigint NOT NULL DEFAULT 0 CHECK (written_off >= 0),
    recovered bigint NOT NULL DEFAULT 0 CHECK (recovered >= 0 AND recovered <= written_off),
    recourse bigint NOT NULL DEFAULT 0 CHECK (recourse >= 0),
    unapplied bigint NOT NULL DEFAULT 0 CHECK (unapplied >= 0),
    frozen_from text,
    version integer NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (repaid_fee + repaid_principal + repaid_early + fee_rebated + written_off <= principal)
);
CREATE INDEX advances_supplier ON advances (tenant_id, supplier_id);
CREATE INDEX advances_exposure ON advances (tenant_id, currency, state);
-- At most one live advance per order: the lien covers the order's future releases.
CREATE UNIQUE INDEX advances_one_live_per_order ON advances (tenant_id, order_id)
    WHERE state IN ('accepted', 'disbursed', 'partially_repaid', 'frozen', 'recourse', 'defaulted');

CREATE TABLE advance_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    advance_id text NOT NULL REFERENCES advances (advance_id),
    tenant_id text NOT NULL,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    data jsonb NOT NULL
);
CREATE INDEX advance_history_advance ON advance_history (advance_id, id);
"""


def upgrade() -> None:
    # asyncpg prepares each statement: one command per execute.
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in ("advance_history", "advances", "orders", "policies"):
        op.execute(f"DROP TABLE {table}")
