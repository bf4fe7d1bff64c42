"""erasure may overwrite outcomes.request_hash (and nothing else of an outcome)

The duplicate-detection HMAC of a posted outcome is computed over the row as posted, identity number
and name included: with the pepper, it confirms a guess of an erased learner's identity. Erasure now
overwrites it with the marker ``erased``; the append-only trigger of ``outcomes`` lets exactly that
UPDATE through (every other column unchanged) and refuses every other UPDATE and every DELETE.

Revision ID: 20261205_auditperf
Revises: 20261205_hardening
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261205_auditperf"
down_revision: str | None = "20261205_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ERASED = "erased"

# every column of outcomes but request_hash (SQLite compares them one by one)
KEPT = [
    "id",
    "learner_id",
    "institution_id",
    "reference",
    "outcome_type",
    "title",
    "achieved_on",
    "hours",
    "level",
    "score",
    "grade",
    "field",
    "course_code",
    "identity_verified",
    "evidence_hash",
    "attributes",
    "supersedes_id",
    "created_at",
]

PG_UP = [
    f"""
    CREATE FUNCTION outcomes_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.request_hash = '{ERASED}'
           AND (to_jsonb(NEW) - 'request_hash') = (to_jsonb(OLD) - 'request_hash') THEN
            RETURN NEW;  -- erasure overwrites the keyed hash of the posted row, nothing else
        END IF;
        RAISE EXCEPTION 'outcomes are never edited: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    "DROP TRIGGER IF EXISTS outcomes_append_only ON outcomes",
    "CREATE TRIGGER outcomes_append_only BEFORE UPDATE OR DELETE ON outcomes "
    "FOR EACH ROW EXECUTE FUNCTION outcomes_refuse_change()",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS outcomes_append_only ON outcomes",
    "CREATE TRIGGER outcomes_append_only BEFORE UPDATE OR DELETE ON outcomes "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    "DROP FUNCTION IF EXISTS outcomes_refuse_change()",
]
_UNCHANGED = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in KEPT)
SQLITE_UP = [
    "DROP TRIGGER IF EXISTS outcomes_no_update",
    f"CREATE TRIGGER outcomes_no_update BEFORE UPDATE ON outcomes "
    f"WHEN NOT (NEW.request_hash = '{ERASED}' AND {_UNCHANGED}) "
    "BEGIN SELECT RAISE(ABORT, 'outcomes are never edited: UPDATE on outcomes refused'); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS outcomes_no_update",
    "CREATE TRIGGER outcomes_no_update BEFORE UPDATE ON outcomes "
    "BEGIN SELECT RAISE(ABORT, 'outcomes are never edited: UPDATE on outcomes refused'); END",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP)


def downgrade() -> None:
    _run(PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN)
