"""Books close: the approval policy under maker-checker.

- ``recon_match_rules`` keeps a raise of a currency's approval threshold that waits for a
  second finance user (``pending_threshold``, who asked, when): until approved, the
  threshold in force is the old one. All three are set together or none.

Revision ID: ledger_0010
Revises: ledger_0009
"""

from alembic import op

revision = "ledger_0010"
down_revision = "ledger_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE recon_match_rules ADD COLUMN pending_threshold bigint"
        " CHECK (pending_threshold >= 0), ADD COLUMN pending_by text,"
        " ADD COLUMN pending_at timestamptz"
    )
    op.execute(
        "ALTER TABLE recon_match_rules ADD CONSTRAINT recon_match_rules_pending_whole CHECK"
        " ((pending_threshold IS NULL) = (pending_by IS NULL)"
        " AND (pending_by IS NULL) = (pending_at IS NULL))"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE recon_match_rules DROP CONSTRAINT recon_match_rules_pending_whole,"
        " DROP COLUMN pending_threshold, DROP COLUMN pending_by, DROP COLUMN pending_at"
    )
