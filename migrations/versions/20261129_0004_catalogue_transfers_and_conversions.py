"""catalogue, transfers and conversions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:24:42.205148+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "course_equivalences",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("source_institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("requires", sa.JSON(), nullable=False),
        sa.Column("destination_kind", sa.String(length=20), nullable=False),
        sa.Column("destination_code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("destination_title_zh", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("destination_title_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("grade_mapping", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "destination_kind IN ('course', 'generic_course', 'elective_bucket')",
            name=op.f("ck_course_equivalences_destination_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_course_equivalences_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["source_institution_id"],
            ["institutions.id"],
            name=op.f("fk_course_equivalences_source_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_equivalences")),
    )
    with op.batch_alter_table("course_equivalences", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_course_equivalences_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "programmes",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("title_zh", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("title_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("graduation_credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("graduation_credits > 0", name=op.f("ck_programmes_graduation_credits_positive")),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institutions.id"], name=op.f("fk_programmes_institution_id_institutions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programmes")),
        sa.UniqueConstraint("institution_id", "code", name="uq_programmes_institution_code"),
    )
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programmes_institution_id"), ["institution_id"], unique=False)

    op.create_table(
        "shared_courses",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("title_zh", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("title_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("open_to_other_schools", sa.Boolean(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_shared_courses_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_courses")),
        sa.UniqueConstraint("institution_id", "code", name="uq_shared_courses_institution_code"),
    )
    with op.batch_alter_table("shared_courses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shared_courses_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "conversions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("programme_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("transfer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("credential_ids", sa.JSON(), nullable=False),
        sa.Column("lot_ids", sa.JSON(), nullable=False),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("ledger_tx_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institutions.id"], name=op.f("fk_conversions_institution_id_institutions")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_conversions_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_tx_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_conversions_ledger_tx_id_ledger_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_conversions_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
    )
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversions_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_conversions_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "transfer_requests",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("destination_institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("programme_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("lot_ids", sa.JSON(), nullable=False),
        sa.Column("certificate_ids", sa.JSON(), nullable=False),
        sa.Column("requested_by_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("learner_consent", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("conversion_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('issued', 'accepted', 'rejected', 'withdrawn')",
            name=op.f("ck_transfer_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["destination_institution_id"],
            ["institutions.id"],
            name=op.f("fk_transfer_requests_destination_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_transfer_requests_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_transfer_requests_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_requests")),
    )
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transfer_requests_destination_institution_id"),
            ["destination_institution_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_transfer_requests_learner_id"), ["learner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transfer_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_requests_learner_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_requests_destination_institution_id"))

    op.drop_table("transfer_requests")
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversions_learner_id"))
        batch_op.drop_index(batch_op.f("ix_conversions_institution_id"))

    op.drop_table("conversions")
    with op.batch_alter_table("shared_courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shared_courses_institution_id"))

    op.drop_table("shared_courses")
    with op.batch_alter_table("programmes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programmes_institution_id"))

    op.drop_table("programmes")
    with op.batch_alter_table("course_equivalences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_equivalences_institution_id"))

    op.drop_table("course_equivalences")
