"""Backbone: idempotency_keys.execution_id and completed_at (crash-safe Idempotency-Key).

A key's row is now written by the transaction of the request's effect, naming the execution
that committed it (see shared/http/idempotency.py); the in-flight claim is an advisory lock,
no longer a row. Rows of the old scheme that never got an answer were in-flight claims of
requests that are gone: they are dropped, so their keys can be used again.

IF NOT EXISTS: on a fresh database backbone_0001 already built the current table.

Revision ID: backbone_0005
Revises: backbone_0004
"""

from alembic import op

revision = "backbone_0005"
down_revision = "backbone_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS execution_id uuid")
    op.execute("ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS completed_at timestamptz")
    op.execute("DELETE FROM idempotency_keys WHERE status_code IS NULL AND execution_id IS NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS completed_at")
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN IF EXISTS execution_id")
