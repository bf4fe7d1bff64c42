"""pepper rotation: api tokens hashed under the previous pepper; retired fingerprints of outcomes

``api_tokens.pepper_previous``: the token's hash is still keyed by the pepper before the last
rotation; it is re-hashed under the current pepper on the token's next use, and the token is revoked
when the previous pepper is retired (``creditbank secrets rotate pepper``, ``retire-pepper``).

Retiring the previous pepper overwrites the duplicate-detection HMAC (``outcomes.request_hash``) of
the outcomes posted before the rotation with the marker ``retired-pepper``, as erasure overwrites it
with ``erased``: the append-only trigger of ``outcomes`` lets exactly these two UPDATEs through
(every other column unchanged) and refuses every other UPDATE and every DELETE.

Revision ID: 20261205_ops
Revises: 20261205_documents
Create Date: 2026-12-05 13:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261205_ops"
down_revision: str | None = "20261205_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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


def _pg_function(markers: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION outcomes_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.request_hash IN ({markers})
           AND (to_jsonb(NEW) - 'request_hash') = (to_jsonb(OLD) - 'request_hash') THEN
            RETURN NEW;  -- erasure or a pepper's retirement overwrites the keyed hash, nothing else
        END IF;
        RAISE EXCEPTION 'outcomes are never edited: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """


def _sqlite_trigger(markers: str) -> list[str]:
    unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in KEPT)
    return [
        "DROP TRIGGER IF EXISTS outcomes_no_update",
        f"CREATE TRIGGER outcomes_no_update BEFORE UPDATE ON outcomes "
        f"WHEN NOT (NEW.request_hash IN ({markers}) AND {unchanged}) "
        "BEGIN SELECT RAISE(ABORT, 'outcomes are never edited: UPDATE on outcomes refused'); END",
    ]


def _markers(up: bool) -> None:
    markers = "'erased', 'retired-pepper'" if up else "'erased'"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_function(markers))
    else:
        for statement in _sqlite_trigger(markers):
            op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pepper_previous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    _markers(up=True)


def downgrade() -> None:
    _markers(up=False)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("pepper_previous")
