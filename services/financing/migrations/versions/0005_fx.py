"""Advances paid out in the supplier's payout currency: the order's payout currency and
locked payout rate (escrow.order_created v3, escrow.funded v2), the policy's haircut, and an
advance's payout figures (docs/financing.md, "Advances in the payout currency"). Rates are
decimal strings (text), as in the events: never floats, never rounded by a column scale.

Revision ID: financing_0005
Revises: financing_0004
"""

from alembic import op

revision = "financing_0005"
down_revision = "financing_0004"
branch_labels = None
depends_on = None

DDL = """
ALTER TABLE orders
    ADD COLUMN payout_currency text,
    ADD COLUMN payout_lock jsonb;

ALTER TABLE policies
    ADD COLUMN fx_haircut_bps integer NOT NULL DEFAULT 0
        CHECK (fx_haircut_bps BETWEEN 0 AND 5000);

ALTER TABLE advances
    ADD COLUMN payout_currency text,
    ADD COLUMN payout_net bigint CHECK (payout_net > 0),
    ADD COLUMN payout_rate text,
    ADD COLUMN locked_rate text,
    ADD COLUMN fx_haircut_bps integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT advances_payout_complete CHECK (
        (payout_currency IS NULL) = (payout_net IS NULL)
        AND (payout_currency IS NULL) = (payout_rate IS NULL)
        AND (payout_currency IS NULL) = (locked_rate IS NULL)
    )
"""


def upgrade() -> None:
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "ALTER TABLE advances DROP CONSTRAINT advances_payout_complete,"
        " DROP COLUMN payout_currency, DROP COLUMN payout_net, DROP COLUMN payout_rate,"
        " DROP COLUMN locked_rate, DROP COLUMN fx_haircut_bps"
    )
    op.execute("ALTER TABLE policies DROP COLUMN fx_haircut_bps")
    op.execute("ALTER TABLE orders DROP COLUMN payout_currency, DROP COLUMN payout_lock")
