"""appeals against a rejection or a recognition's credits; evidence files belong to an application
or to an appeal

Revision ID: s8_apply_2
Revises: s8_courses_2
Create Date: 2026-12-06 01:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import creditbank.db

revision: str = "s8_apply_2"
down_revision: str | None = "s8_courses_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("outcome_id", sa.String(length=40), nullable=False),
        sa.Column("learner_id", sa.String(length=40), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("was", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("credits_before", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("credits_after", creditbank.db.CreditAmount(precision=12, scale=2), nullable=True),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'upheld', 'changed')", name=op.f("ck_appeals_status")),
        sa.CheckConstraint("was IN ('recognised', 'rejected')", name=op.f("ck_appeals_was")),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"], name=op.f("fk_appeals_learner_id_learners")),
        sa.ForeignKeyConstraint(["outcome_id"], ["outcomes.id"], name=op.f("fk_appeals_outcome_id_outcomes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("outcome_id", name=op.f("uq_appeals_outcome_id")),
    )
    op.create_index(op.f("ix_appeals_learner_id"), "appeals", ["learner_id"], unique=False)
    with op.batch_alter_table("application_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appeal_id", sa.String(length=40), nullable=True))
        batch_op.alter_column("application_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.create_index(batch_op.f("ix_application_files_appeal_id"), ["appeal_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_application_files_appeal_id_appeals"), "appeals", ["appeal_id"], ["id"]
        )
        batch_op.create_check_constraint("one_owner", "(application_id IS NULL) <> (appeal_id IS NULL)")


def downgrade() -> None:
    op.execute("DELETE FROM application_files WHERE appeal_id IS NOT NULL")
    with op.batch_alter_table("application_files", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_application_files_one_owner"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_application_files_appeal_id_appeals"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_application_files_appeal_id"))
        batch_op.alter_column("application_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_column("appeal_id")
    op.drop_index(op.f("ix_appeals_learner_id"), table_name="appeals")
    op.drop_table("appeals")
