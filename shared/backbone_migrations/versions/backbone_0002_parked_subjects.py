"""Backbone: parked_subjects (events held behind a dead-lettered one of the same subject).

IF NOT EXISTS: a database whose backbone_0001 (``<svc>_0001``) ran before this table
existed lacks it; on any other, 0001 created it already. (``<svc>_backbone_0002`` created
"the backbone tables that are missing" from the definitions of the day; this is the only
one a database at ``<svc>_0001`` can miss.)

Revision ID: backbone_0002
Revises: backbone_0001
"""

from alembic import op

revision = "backbone_0002"
down_revision = "backbone_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE IF NOT EXISTS parked_subjects (
    consumer text NOT NULL,
    subject text NOT NULL,
    event_id uuid,
    reason text NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, subject)
)
"""
    )


def downgrade() -> None:
    op.drop_table("parked_subjects")
