"""tree nodes and signed checkpoints append-only

The stored Merkle nodes are never rewritten (a proof's nodes must be the ones the signed roots
commit to), and a signed checkpoint's size, root and note never change: only ``created_at`` moves,
when an unchanged checkpoint is republished.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 15:40:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_UP = [
    "CREATE TRIGGER tlog_nodes_append_only BEFORE UPDATE OR DELETE ON tlog_nodes "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
    "CREATE TRIGGER tlog_nodes_no_truncate BEFORE TRUNCATE ON tlog_nodes "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
    """
    CREATE FUNCTION tlog_checkpoint_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR NEW.log_id <> OLD.log_id OR NEW.size <> OLD.size
           OR NEW.root <> OLD.root OR NEW.note <> OLD.note THEN
            RAISE EXCEPTION 'signed checkpoints are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER tlog_checkpoints_append_only BEFORE UPDATE OR DELETE ON tlog_checkpoints "
    "FOR EACH ROW EXECUTE FUNCTION tlog_checkpoint_guard()",
    "CREATE TRIGGER tlog_checkpoints_no_truncate BEFORE TRUNCATE ON tlog_checkpoints "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS tlog_checkpoints_no_truncate ON tlog_checkpoints",
    "DROP TRIGGER IF EXISTS tlog_checkpoints_append_only ON tlog_checkpoints",
    "DROP FUNCTION IF EXISTS tlog_checkpoint_guard()",
    "DROP TRIGGER IF EXISTS tlog_nodes_no_truncate ON tlog_nodes",
    "DROP TRIGGER IF EXISTS tlog_nodes_append_only ON tlog_nodes",
]
SQLITE_UP = [
    "CREATE TRIGGER tlog_nodes_no_update BEFORE UPDATE ON tlog_nodes "
    "BEGIN SELECT RAISE(ABORT, 'tree nodes are append-only: UPDATE on tlog_nodes refused'); END",
    "CREATE TRIGGER tlog_nodes_no_delete BEFORE DELETE ON tlog_nodes "
    "BEGIN SELECT RAISE(ABORT, 'tree nodes are append-only: DELETE on tlog_nodes refused'); END",
    "CREATE TRIGGER tlog_checkpoints_no_update BEFORE UPDATE OF log_id, size, root, note ON tlog_checkpoints "
    "BEGIN SELECT RAISE(ABORT, 'signed checkpoints are append-only: UPDATE on tlog_checkpoints refused'); END",
    "CREATE TRIGGER tlog_checkpoints_no_delete BEFORE DELETE ON tlog_checkpoints "
    "BEGIN SELECT RAISE(ABORT, 'signed checkpoints are append-only: DELETE on tlog_checkpoints refused'); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS tlog_checkpoints_no_delete",
    "DROP TRIGGER IF EXISTS tlog_checkpoints_no_update",
    "DROP TRIGGER IF EXISTS tlog_nodes_no_delete",
    "DROP TRIGGER IF EXISTS tlog_nodes_no_update",
]


def _statements(pg: list[str], sqlite: list[str]) -> list[str]:
    return pg if op.get_bind().dialect.name == "postgresql" else sqlite


def upgrade() -> None:
    for statement in _statements(PG_UP, SQLITE_UP):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(PG_DOWN, SQLITE_DOWN):
        op.execute(statement)
