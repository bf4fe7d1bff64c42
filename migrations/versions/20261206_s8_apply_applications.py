"""applications for recognition: a learner's own outcome with its evidence files

``applications`` ties the outcome the bank posted for the learner to the district whose sub-centre
reviews it first; ``application_files`` holds the evidence sealed under the learner's data key.

Revision ID: s8_apply
Revises: s8_dash
Create Date: 2026-12-06 00:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s8_apply"
down_revision: str | None = "s8_dash"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("outcome_id", sa.String(length=40), nullable=False),
        sa.Column("learner_id", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=60), nullable=False),
        sa.Column("outcome_key", sa.String(length=64), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("issuer_kind", sa.String(length=32), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_applications_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_applications_outcome_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("learner_id", "outcome_key", name="uq_applications_learner_outcome"),
        sa.UniqueConstraint("outcome_id", name=op.f("uq_applications_outcome_id")),
    )
    op.create_index(op.f("ix_applications_learner_id"), "applications", ["learner_id"], unique=False)
    op.create_table(
        "application_files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("learner_id", sa.String(length=40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=71), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_files_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_files")),
    )
    op.create_index(
        op.f("ix_application_files_application_id"), "application_files", ["application_id"], unique=False
    )
    op.create_index(
        op.f("ix_application_files_learner_id"), "application_files", ["learner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_application_files_learner_id"), table_name="application_files")
    op.drop_index(op.f("ix_application_files_application_id"), table_name="application_files")
    op.drop_table("application_files")
    op.drop_index(op.f("ix_applications_learner_id"), table_name="applications")
    op.drop_table("applications")
