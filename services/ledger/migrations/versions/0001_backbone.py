"""Backbone tables: outbox, inbox, timers, idempotency keys, from the current definitions
(which held api_keys too until the keys moved to the identity database, backbone 0004).

Revision ID: ledger_0001
Revises:
"""

from alembic import op

from shared.migrations import create_backbone

revision = "ledger_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_backbone(op)


def downgrade() -> None:
    for table in ("idempotency_keys", "api_keys", "timers", "inbox", "outbox"):
        op.drop_table(table)
