"""Books close: the approval policy under maker-checker.

- ``recon_match_rules`` keeps a raise of a currency's approval threshold that waits for a
  second finance user (``pending_threshold``, who asked, when): until approved, the
  threshold in force is the old one. All three are set together or none.
- ``staff_adjustments``: a staff adjustment (``POST /v1/ledger/adjustment-requests``) above
  the tenant's approval threshold, ``pending_approval`` until a finance user other than its
  maker approves it (the database refuses a checker equal to the maker), then ``applied``
  with the journal transaction it posted.

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


    op.execute("""
    CREATE TABLE staff_adjustments (
        id uuid PRIMARY KEY,
        tenant_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending_approval', 'applied')),
        reason text NOT NULL,
        memo text NOT NULL,
        posted_at timestamptz,
        lines jsonb NOT NULL,
        maker text NOT NULL,
        requested_at timestamptz NOT NULL,
        checker text,
        approved_at timestamptz,
        transaction_id uuid,
        CHECK (checker IS NULL OR checker <> maker),
        CHECK ((status = 'applied') = (transaction_id IS NOT NULL AND checker IS NOT NULL))
    )
    """)
    op.execute(
        "CREATE INDEX staff_adjustments_pending ON staff_adjustments (tenant_id, requested_at)"
        " WHERE status = 'pending_approval'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE staff_adjustments")
    op.execute(
        "ALTER TABLE recon_match_rules DROP CONSTRAINT recon_match_rules_pending_whole,"
        " DROP COLUMN pending_threshold, DROP COLUMN pending_by, DROP COLUMN pending_at"
    )
