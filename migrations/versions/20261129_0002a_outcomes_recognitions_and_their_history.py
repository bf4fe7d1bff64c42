"""outcomes, recognitions and their history

Revision ID: 0002a
Revises: 0002
Create Date: 2026-11-29 12:09:54.961722+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "0002a"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


IMMUTABLE = ("outcomes", "outcome_events")


def _immutable(up: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in IMMUTABLE:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
                if up
                else f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"
            )
            continue
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'outcomes are never edited: {verb} on {table} refused'); END"
                if up
                else f"DROP TRIGGER IF EXISTS {table}_no_{verb.lower()}"
            )


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("outcome_type", sa.String(length=32), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("achieved_on", sa.Date(), nullable=False),
        sa.Column("hours", creditbank.db.CreditAmount(precision=12, scale=2), nullable=True),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("score", creditbank.db.CreditAmount(precision=12, scale=2), nullable=True),
        sa.Column("grade", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("course_code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("identity_verified", sa.Boolean(), nullable=False),
        sa.Column("evidence_hash", sqlmodel.sql.sqltypes.AutoString(length=71), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("supersedes_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("hours IS NULL OR hours >= 0", name=op.f("ck_outcomes_hours_not_negative")),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institutions.id"], name=op.f("fk_outcomes_institution_id_institutions")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_outcomes_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"], ["outcomes.id"], name=op.f("fk_outcomes_supersedes_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("institution_id", "reference", name="uq_outcomes_institution_reference"),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_outcomes_supersedes_id")),
    )
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcomes_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "outcome_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("detail_zh", sa.Text(), nullable=False),
        sa.Column("detail_en", sa.Text(), nullable=False),
        sa.Column("ledger_tx_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_outcome_events_outcome_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_events")),
    )
    with op.batch_alter_table("outcome_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcome_events_outcome_id"), ["outcome_id"], unique=False)

    op.create_table(
        "recognitions",
        sa.Column("outcome_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("rule_version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("rule_set_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("rule_set_version", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("rule_set_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("explanation_zh", sa.Text(), nullable=False),
        sa.Column("explanation_en", sa.Text(), nullable=False),
        sa.Column("review_reason_zh", sa.Text(), nullable=True),
        sa.Column("review_reason_en", sa.Text(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("count_once_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("lot_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("district_reviewer", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("updated_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('recognised', 'review', 'rejected', 'revoked', 'superseded')",
            name=op.f("ck_recognitions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_recognitions_outcome_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("outcome_id", name=op.f("pk_recognitions")),
    )
    with op.batch_alter_table("recognitions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recognitions_lot_id"), ["lot_id"], unique=False)
        batch_op.create_index("ix_recognitions_status_stage", ["status", "stage"], unique=False)

    _immutable(up=True)


def downgrade() -> None:
    _immutable(up=False)
    with op.batch_alter_table("recognitions", schema=None) as batch_op:
        batch_op.drop_index("ix_recognitions_status_stage")
        batch_op.drop_index(batch_op.f("ix_recognitions_lot_id"))

    op.drop_table("recognitions")
    with op.batch_alter_table("outcome_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_events_outcome_id"))

    op.drop_table("outcome_events")
    with op.batch_alter_table("outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcomes_learner_id"))

    op.drop_table("outcomes")
