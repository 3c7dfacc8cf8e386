"""Backbone: parked_subjects (events held behind a dead-lettered one of the same subject).

Backbone tables live on their own branch of each service's history, so shared/ can add one
without touching the service's own chain. Revision 0001 builds the backbone from the
current definitions, so on a fresh database this step finds the table already there.

Revision ID: ledger_backbone_0002
Revises: ledger_0001
"""

from alembic import op

from shared.migrations import create_backbone

revision = "ledger_backbone_0002"
down_revision = "ledger_0001"
branch_labels = ("ledger_backbone",)
depends_on = None


def upgrade() -> None:
    create_backbone(op)  # creates only the backbone tables that are missing


def downgrade() -> None:
    op.drop_table("parked_subjects")
