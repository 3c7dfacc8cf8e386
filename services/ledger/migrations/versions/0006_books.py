"""Books: one hash chain per tenant, so appends of different tenants never wait on each other.

- ``journal_transactions.book_seq``: the transaction's place in its tenant's book (1, 2, 3...),
  hashed into the link (docs/ledger.md, "Books"). ``seq`` stays the journal-wide order
  (statements and exports sort by it) but now comes from the sequence ``journal_seq``, which
  needs no lock: it is no longer a chain position, and may have gaps.
- ``books``: each book's head (last ``book_seq`` and its hash), the row an append locks. Two
  tenants' appends lock two rows; nothing else is shared.
- Rows written before this revision keep ``book_seq`` NULL: they are the legacy chain across
  all tenants, verified as written; ``legacy_chain`` records its head, and it never grows
  (new rows must name their book position, contiguous after their book's last one).
- ``chain_checkpoints``: the heads already published as ``ledger.chain_checkpoint`` events.

Revision ID: ledger_0006
Revises: ledger_0005
"""

from alembic import op

revision = "ledger_0006"
down_revision = "ledger_0005"
branch_labels = None
depends_on = None

CHECKED = "coalesce(nullif(current_setting('ledger.balanced_through', true), '')::bigint, 0)"

STATEMENTS = [
    "ALTER TABLE journal_transactions ADD COLUMN book_seq bigint CHECK (book_seq > 0)",
    "CREATE UNIQUE INDEX journal_book ON journal_transactions (tenant_id, book_seq)"
    " WHERE book_seq IS NOT NULL",
    "CREATE SEQUENCE journal_seq",
    "SELECT setval('journal_seq', max(seq)) FROM journal_transactions HAVING count(*) > 0",
    """
CREATE TABLE books (
    tenant_id text PRIMARY KEY,
    head_seq bigint NOT NULL CHECK (head_seq >= 0),
    head_hash text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
""",
    """
CREATE TABLE legacy_chain (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    head_seq bigint NOT NULL,
    head_hash text NOT NULL,
    closed_at timestamptz NOT NULL DEFAULT now()
)
""",
    """
INSERT INTO legacy_chain (head_seq, head_hash)
SELECT seq, hash FROM journal_transactions ORDER BY seq DESC LIMIT 1
""",
    """
CREATE TRIGGER legacy_chain_append_only BEFORE UPDATE OR DELETE ON legacy_chain
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
""",
    """
CREATE TABLE chain_checkpoints (
    book text NOT NULL,
    seq bigint NOT NULL,
    hash text NOT NULL,
    event_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (book, seq)
)
""",
    """
CREATE TRIGGER chain_checkpoints_append_only BEFORE UPDATE OR DELETE ON chain_checkpoints
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
""",
    # ledger_0005's statement check, plus: every new row has a place in its tenant's book,
    # and the statement's rows continue that book without a gap or a repeat.
    f"""
CREATE OR REPLACE FUNCTION ledger_check_new_journal() RETURNS trigger LANGUAGE plpgsql AS $$
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
    SELECT n.id INTO bad FROM new_rows n WHERE n.book_seq IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: transaction % has no place in a book (the legacy chain is closed)',
            bad.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT g.tenant_id, g.lo, g.hi, g.n, prev.last INTO bad
    FROM (
        SELECT tenant_id, min(book_seq) AS lo, max(book_seq) AS hi, count(*) AS n
        FROM new_rows GROUP BY tenant_id
    ) g
    CROSS JOIN LATERAL (
        SELECT coalesce(max(j.book_seq), 0) AS last FROM journal_transactions j
        WHERE j.tenant_id = g.tenant_id AND j.book_seq < g.lo
    ) prev
    WHERE g.lo <> prev.last + 1 OR g.hi - g.lo + 1 <> g.n
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: book of tenant % would get positions %..% (% rows) after %',
            bad.tenant_id, bad.lo, bad.hi, bad.n, bad.last
            USING ERRCODE = 'integrity_constraint_violation';
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
    SELECT n.id, n.reverses INTO bad FROM new_rows n
    LEFT JOIN journal_transactions r ON r.id = n.reverses
    WHERE n.reverses IS NOT NULL AND (r.id IS NULL OR r.tenant_id <> n.tenant_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: transaction % reverses %, which is not in its tenant''s journal',
            bad.id, bad.reverses USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO ledger_balance_checks (xact_id, lo, hi)
    SELECT cur, min(seq), max(seq) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END $$
""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("ledger_0006 is not reversible: restore from a backup")
