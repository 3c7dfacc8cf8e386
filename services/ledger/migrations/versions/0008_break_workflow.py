"""Working the breaks: comments, assignment to a finance user, resolutions with a linked
adjusting transaction (maker-checker), and the tenant's matching rules.

- ``recon_match_rules``: per tenant and currency, the amount tolerance (minor units), the
  date window (days, NULL: dates not compared) and the approval threshold of adjustments.
- ``break_comments``: append-only notes, with their author (the finance principal) and time.
- ``break_assignments``: the finance user a break is assigned to (one per break).
- ``break_resolutions``: a break's resolution (one per break): reason, maker, the
  adjustment it asks for (JSON lines) and, once posted, the journal transaction it linked;
  ``pending_approval`` until a checker other than the maker approves, then ``applied``.
- ``recon_breaks.kind`` admits ``date_mismatch`` and ``recon_runs`` counts it.

Revision ID: ledger_0008
Revises: ledger_0007
"""

from alembic import op

revision = "ledger_0008"
down_revision = "ledger_0007"
branch_labels = None
depends_on = None

# The kinds as ledger_0007 left them (the three-way kinds included).
KINDS = (
    "'missing_in_ledger', 'missing_in_stripe', 'amount_mismatch', 'escrow_held_mismatch',"
    " 'ledger_disagrees', 'escrow_disagrees', 'stripe_disagrees', 'three_way_disagree'"
)

STATEMENTS = [
    """
    CREATE TABLE recon_match_rules (
        tenant_id text NOT NULL,
        currency text NOT NULL,
        amount_tolerance bigint NOT NULL DEFAULT 0 CHECK (amount_tolerance >= 0),
        date_window_days integer CHECK (date_window_days >= 0),
        approval_threshold bigint NOT NULL DEFAULT 0 CHECK (approval_threshold >= 0),
        updated_by text NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, currency)
    )
    """,
    """
    CREATE TABLE break_comments (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant_id text NOT NULL,
        break_id bigint NOT NULL REFERENCES recon_breaks (id),
        author text NOT NULL,
        body text NOT NULL,
        created_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX break_comments_break ON break_comments (break_id, id)",
    """
    CREATE TABLE break_assignments (
        break_id bigint PRIMARY KEY REFERENCES recon_breaks (id),
        tenant_id text NOT NULL,
        assignee text NOT NULL,
        assigned_by text NOT NULL,
        assigned_at timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE break_resolutions (
        break_id bigint PRIMARY KEY REFERENCES recon_breaks (id),
        tenant_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending_approval', 'applied')),
        reason text NOT NULL,
        maker text NOT NULL,
        requested_at timestamptz NOT NULL,
        adjustment jsonb,
        checker text,
        approved_at timestamptz,
        transaction_id uuid,
        CHECK (checker IS NULL OR checker <> maker)
    )
    """,
    "ALTER TABLE recon_breaks DROP CONSTRAINT recon_breaks_kind_check",
    f"ALTER TABLE recon_breaks ADD CONSTRAINT recon_breaks_kind_check"
    f" CHECK (kind IN ({KINDS}, 'date_mismatch'))",
    "ALTER TABLE recon_runs ADD COLUMN date_mismatch bigint NOT NULL DEFAULT 0",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    # The work on breaks goes first: it references the date_mismatch breaks deleted next.
    op.execute("DROP TABLE break_resolutions, break_assignments, break_comments, recon_match_rules")
    op.execute("DELETE FROM recon_breaks WHERE kind = 'date_mismatch'")
    op.execute("ALTER TABLE recon_runs DROP COLUMN date_mismatch")
    op.execute("ALTER TABLE recon_breaks DROP CONSTRAINT recon_breaks_kind_check")
    op.execute(f"ALTER TABLE recon_breaks ADD CONSTRAINT recon_breaks_kind_check CHECK (kind IN ({KINDS}))")
