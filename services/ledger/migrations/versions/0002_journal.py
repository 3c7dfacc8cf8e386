"""Journal: accounts, journal transactions, postings, period closes; the triggers that
keep them balanced, append-only and out of closed periods.

Revision ID: ledger_0002
Revises:
Depends on: backbone_0001
"""

from alembic import op

revision = "ledger_0002"
# The service's first own revision. It followed ledger_0001, the service's copy of
# backbone_0001, until the backbone had a branch of its own (shared/backbone_migrations).
down_revision = None
branch_labels = ("ledger",)
depends_on = "backbone_0001"

TABLES = """
CREATE TABLE accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    code text NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subledger text NOT NULL DEFAULT '',
    opened_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, code, currency, subledger)
);

CREATE TABLE journal_transactions (
    id uuid PRIMARY KEY,
    seq bigint NOT NULL UNIQUE CHECK (seq > 0),
    tenant_id text NOT NULL,
    posted_at timestamptz NOT NULL,
    original_date timestamptz,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    source_event_id uuid NOT NULL UNIQUE,
    source_type text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('event', 'adjustment', 'reversal')),
    actor text,
    reason text,
    memo text NOT NULL DEFAULT '',
    reverses uuid UNIQUE REFERENCES journal_transactions (id),
    prev_hash text NOT NULL,
    hash text NOT NULL,
    -- the database transaction that wrote the row: lets the balance check look at exactly
    -- the rows of the committing transaction, set-based
    xact_id bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    CHECK (kind = 'event' OR (actor IS NOT NULL AND reason IS NOT NULL)),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL))
);

CREATE INDEX journal_tenant_time ON journal_transactions (tenant_id, posted_at, seq);

CREATE INDEX journal_xact ON journal_transactions (xact_id);

-- Integrity against journal and accounts is checked set-based per statement by a trigger
-- (below) instead of per-row foreign keys: one query per batch, not two lookups per row.
CREATE TABLE postings (
    transaction_id uuid NOT NULL,
    line smallint NOT NULL,
    seq bigint NOT NULL,
    tenant_id text NOT NULL,
    account_id bigint NOT NULL,
    currency text NOT NULL,
    amount bigint NOT NULL CHECK (amount <> 0),
    posted_at timestamptz NOT NULL,
    external_ref text,
    PRIMARY KEY (transaction_id, line)
);

CREATE INDEX postings_account_time ON postings (account_id, posted_at, seq, line) INCLUDE (amount);

CREATE INDEX postings_external_ref ON postings (external_ref) WHERE external_ref IS NOT NULL;

CREATE TABLE period_closes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    closed_through timestamptz NOT NULL,
    closed_by text NOT NULL,
    reason text,
    closed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX period_closes_tenant ON period_closes (tenant_id, closed_through DESC);

CREATE TABLE escrow_held_reports (
    tenant_id text NOT NULL,
    order_id text NOT NULL,
    currency text NOT NULL,
    held_after bigint NOT NULL,
    as_of timestamptz NOT NULL,
    event_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, order_id, currency)
);

"""

TRIGGERS = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % refused: the journal is append-only, post a reversal',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER period_closes_append_only BEFORE UPDATE OR DELETE ON period_closes
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Every new posting belongs to a journal transaction written by this same database
-- transaction (so a committed transaction can never gain postings) and agrees with it and
-- with its account on tenant, sequence, date and currency.
CREATE FUNCTION ledger_check_new_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cur bigint := pg_current_xact_id()::text::bigint;
    bad record;
BEGIN
    SELECT n.transaction_id, n.line,
        CASE WHEN j.id IS NULL THEN 'belongs to no journal transaction'
             WHEN j.xact_id <> cur THEN 'would change a transaction committed earlier'
             WHEN a.id IS NULL THEN 'names no account'
             WHEN a.tenant_id <> n.tenant_id OR a.currency <> n.currency
                THEN 'disagrees with its account on tenant or currency'
             ELSE 'disagrees with its journal transaction on tenant, seq or date'
        END AS problem
    INTO bad
    FROM new_rows n
    LEFT JOIN journal_transactions j ON j.id = n.transaction_id
    LEFT JOIN accounts a ON a.id = n.account_id
    WHERE j.id IS NULL OR j.xact_id <> cur OR a.id IS NULL
       OR a.tenant_id <> n.tenant_id OR a.currency <> n.currency
       OR j.tenant_id <> n.tenant_id OR j.seq <> n.seq OR j.posted_at <> n.posted_at
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: posting %/% %', bad.transaction_id, bad.line, bad.problem
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER postings_consistent AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_new_postings();

-- A closed period (posted_at before the tenant's latest closed_through) takes no postings.
CREATE FUNCTION ledger_check_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
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
END $$;

CREATE TRIGGER journal_open_period AFTER INSERT ON journal_transactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_open_period();

-- Debits equal credits per currency, and at least two postings, checked at COMMIT.
-- Constraint triggers fire per row; to stay set-based, the first firing checks every
-- journal transaction this database transaction wrote (found by xact_id) and records the
-- highest seq it covered in a transaction-local setting; later firings for rows already
-- covered return at once. Rows written after a SET CONSTRAINTS ... IMMEDIATE have higher
-- seq (appends are serialised by the chain lock) and are checked by their own firing.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    done bigint := coalesce(nullif(current_setting('ledger.balanced_through', true), '')::bigint, 0);
    cur bigint := pg_current_xact_id()::text::bigint;
    top bigint;
    bad record;
BEGIN
    IF NEW.seq <= done THEN
        RETURN NULL;
    END IF;
    WITH mine AS (
        SELECT id, seq FROM journal_transactions WHERE xact_id = cur AND seq > done
    ), per_currency AS (
        SELECT p.transaction_id, p.currency, sum(p.amount) AS total, count(*) AS n
        FROM postings p JOIN mine m ON m.id = p.transaction_id
        GROUP BY p.transaction_id, p.currency
    )
    SELECT m.id, m.seq, coalesce(sum(c.n), 0) AS n,
           min(c.currency) FILTER (WHERE c.total <> 0) AS currency,
           min(c.total) FILTER (WHERE c.total <> 0) AS total
    INTO bad
    FROM mine m LEFT JOIN per_currency c ON c.transaction_id = m.id
    GROUP BY m.id, m.seq
    HAVING coalesce(sum(c.n), 0) < 2 OR bool_or(c.total <> 0)
    ORDER BY m.seq
    LIMIT 1;
    IF FOUND THEN
        IF bad.n < 2 THEN
            RAISE EXCEPTION 'ledger: journal transaction % has % postings; at least 2 needed',
                bad.id, bad.n USING ERRCODE = 'check_violation';
        END IF;
        RAISE EXCEPTION 'ledger: journal transaction % is unbalanced: % off by %',
            bad.id, bad.currency, bad.total USING ERRCODE = 'check_violation';
    END IF;
    SELECT max(seq) INTO top FROM journal_transactions WHERE xact_id = cur;
    PERFORM set_config('ledger.balanced_through', top::text, true);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_balanced AFTER INSERT ON journal_transactions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
"""


def run(script: str) -> None:
    # asyncpg prepares each statement, so a script goes one statement at a time; statements
    # are separated by a blank line (function bodies have none).
    for statement in script.split(";\n\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    run(TABLES)
    run(TRIGGERS)


def downgrade() -> None:
    op.execute(
        "DROP TABLE escrow_held_reports, period_closes, postings, journal_transactions, accounts;"
        "DROP FUNCTION ledger_check_balanced, ledger_check_open_period,"
        " ledger_check_new_postings, ledger_refuse_change;"
    )
