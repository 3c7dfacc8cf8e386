"""Close the gaps around the balance check; accounts and closes become append-only.

- The deferred balance check finds the rows to check by ``xact_id``; a row written with
  another ``xact_id`` escaped it. New journal rows must now carry the writer's own.
- After the check ran (at commit, or early under SET CONSTRAINTS ... IMMEDIATE) nothing may
  ride on it: a posting for an already checked transaction, or a journal row numbered at or
  below the checked ones, is refused.
- Postings name their account by id, so re-labelling or deleting an account would move
  money between books (even between tenants) without touching a posting: accounts refuse
  UPDATE, DELETE and TRUNCATE like the journal; period closes refuse TRUNCATE too.

Revision ID: ledger_0004
Revises: ledger_0003
"""

from alembic import op

revision = "ledger_0004"
down_revision = "ledger_0003"
branch_labels = None
depends_on = None

# The highest seq the balance check has covered in this database transaction (0: none yet).
CHECKED = "coalesce(nullif(current_setting('ledger.balanced_through', true), '')::bigint, 0)"

STATEMENTS = [
    f"""
CREATE OR REPLACE FUNCTION ledger_check_new_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cur bigint := pg_current_xact_id()::text::bigint;
    checked bigint := {CHECKED};
    bad record;
BEGIN
    SELECT n.transaction_id, n.line,
        CASE WHEN j.id IS NULL THEN 'belongs to no journal transaction'
             WHEN j.xact_id <> cur THEN 'would change a transaction committed earlier'
             WHEN j.seq <= checked THEN 'would change a transaction already checked for balance'
             WHEN a.id IS NULL THEN 'names no account'
             WHEN a.tenant_id <> n.tenant_id OR a.currency <> n.currency
                THEN 'disagrees with its account on tenant or currency'
             ELSE 'disagrees with its journal transaction on tenant, seq or date'
        END AS problem
    INTO bad
    FROM new_rows n
    LEFT JOIN journal_transactions j ON j.id = n.transaction_id
    LEFT JOIN accounts a ON a.id = n.account_id
    WHERE j.id IS NULL OR j.xact_id <> cur OR j.seq <= checked OR a.id IS NULL
       OR a.tenant_id <> n.tenant_id OR a.currency <> n.currency
       OR j.tenant_id <> n.tenant_id OR j.seq <> n.seq OR j.posted_at <> n.posted_at
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: posting %/% %', bad.transaction_id, bad.line, bad.problem
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$
""",
    f"""
CREATE OR REPLACE FUNCTION ledger_check_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cur bigint := pg_current_xact_id()::text::bigint;
    checked bigint := {CHECKED};
    bad record;
BEGIN
    SELECT n.id, n.xact_id, n.seq INTO bad FROM new_rows n
    WHERE n.xact_id <> cur OR n.seq <= checked LIMIT 1;
    IF FOUND THEN
        IF bad.xact_id <> cur THEN
            RAISE EXCEPTION 'ledger: transaction % claims to be written by database transaction %',
                bad.id, bad.xact_id USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RAISE EXCEPTION 'ledger: transaction % (seq %) is numbered below rows already checked'
            ' for balance', bad.id, bad.seq USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT n.id, n.posted_at, c.closed_through INTO bad
    FROM new_rows n
    JOIN LATERAL (
        SELECT max(closed_through) AS closed_through FROM period_closes p
        WHERE p.tenant_id = n.tenant_id
    ) c ON n.posted_at < c.closed_through
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: transaction % dated % falls in a period closed through %',
            bad.id, bad.posted_at, bad.closed_through USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER accounts_append_only BEFORE UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
""",
    """
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
""",
    """
CREATE TRIGGER period_closes_no_truncate BEFORE TRUNCATE ON period_closes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()
""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER period_closes_no_truncate ON period_closes")
    op.execute("DROP TRIGGER accounts_no_truncate ON accounts")
    op.execute("DROP TRIGGER accounts_append_only ON accounts")
    # the functions' earlier bodies are in ledger_0002; re-running it is the way back
