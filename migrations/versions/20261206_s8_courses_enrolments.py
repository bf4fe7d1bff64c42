"""shared courses across schools: term, seats, mode and deadline; programme learners; enrolments

A shared course gains what a learner needs to choose it (term, mode, seats, enrolment deadline)
and a count of the seats taken, bounded by a CHECK. ``programme_learners`` records who a home
institution admitted into a programme; ``course_enrolments`` the chain from a learner's request
to the converted result. A consent may now be given at enrolment (``given_via = 'enrolment'``).

Revision ID: s8_courses
Revises: s8_console_2
Create Date: 2026-12-06 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "s8_courses"
down_revision: str | None = "s8_console_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("shared_courses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("term", _STR(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("seats", sa.Integer(), nullable=False, server_default="30"))
        batch_op.add_column(sa.Column("seats_taken", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("mode", sa.String(length=10), nullable=False, server_default="offline"))
        batch_op.add_column(sa.Column("enrolment_deadline", sa.Date(), nullable=True))
        batch_op.create_check_constraint(op.f("ck_shared_courses_seats_not_negative"), "seats >= 0")
        batch_op.create_check_constraint(
            op.f("ck_shared_courses_seats_taken_within_seats"), "seats_taken >= 0 AND seats_taken <= seats"
        )
        batch_op.create_check_constraint(
            op.f("ck_shared_courses_mode"), "mode IN ('online', 'offline', 'blended')"
        )
    with op.batch_alter_table("shared_courses", schema=None) as batch_op:
        for column in ("term", "seats", "seats_taken", "mode"):
            batch_op.alter_column(column, server_default=None)

    with op.batch_alter_table("learner_consents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_learner_consents_given_via"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_learner_consents_given_via"), "given_via IN ('api', 'archive', 'transfer', 'enrolment')"
        )

    op.create_table(
        "programme_learners",
        sa.Column("programme_id", _STR(length=40), nullable=False),
        sa.Column("learner_id", _STR(length=40), nullable=False),
        sa.Column("admitted_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_programme_learners_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_programme_learners_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("programme_id", "learner_id", name=op.f("pk_programme_learners")),
    )
    with op.batch_alter_table("programme_learners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_learners_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "course_enrolments",
        sa.Column("id", _STR(length=40), nullable=False),
        sa.Column("course_id", _STR(length=40), nullable=False),
        sa.Column("learner_id", _STR(length=40), nullable=False),
        sa.Column("programme_id", _STR(length=40), nullable=False),
        sa.Column("home_institution_id", _STR(length=40), nullable=False),
        sa.Column("host_institution_id", _STR(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("consent_id", _STR(length=40), nullable=False),
        sa.Column("equivalence_id", _STR(length=40), nullable=True),
        sa.Column("outcome_id", _STR(length=40), nullable=True),
        sa.Column("lot_id", _STR(length=40), nullable=True),
        sa.Column("conversion_id", _STR(length=40), nullable=True),
        sa.Column("result", _STR(length=20), nullable=True),
        sa.Column("reason", _STR(length=500), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("declined_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'accepted', 'completed', 'declined')",
            name=op.f("ck_course_enrolments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["learner_consents.id"],
            name=op.f("fk_course_enrolments_consent_id_learner_consents"),
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["shared_courses.id"], name=op.f("fk_course_enrolments_course_id_shared_courses")
        ),
        sa.ForeignKeyConstraint(
            ["equivalence_id"],
            ["course_equivalences.id"],
            name=op.f("fk_course_enrolments_equivalence_id_course_equivalences"),
        ),
        sa.ForeignKeyConstraint(
            ["home_institution_id"],
            ["institutions.id"],
            name=op.f("fk_course_enrolments_home_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["host_institution_id"],
            ["institutions.id"],
            name=op.f("fk_course_enrolments_host_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_course_enrolments_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_course_enrolments_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_enrolments")),
        sa.UniqueConstraint("course_id", "learner_id", name="uq_course_enrolments_course_id_learner_id"),
    )
    with op.batch_alter_table("course_enrolments", schema=None) as batch_op:
        for column in (
            "course_id",
            "learner_id",
            "programme_id",
            "home_institution_id",
            "host_institution_id",
        ):
            batch_op.create_index(batch_op.f(f"ix_course_enrolments_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("course_enrolments")
    op.drop_table("programme_learners")
    op.execute("UPDATE learner_consents SET given_via = 'api' WHERE given_via = 'enrolment'")
    with op.batch_alter_table("learner_consents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_learner_consents_given_via"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_learner_consents_given_via"), "given_via IN ('api', 'archive', 'transfer')"
        )
    with op.batch_alter_table("shared_courses", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_shared_courses_mode"), type_="check")
        batch_op.drop_constraint(op.f("ck_shared_courses_seats_taken_within_seats"), type_="check")
        batch_op.drop_constraint(op.f("ck_shared_courses_seats_not_negative"), type_="check")
        for column in ("enrolment_deadline", "mode", "seats_taken", "seats", "term"):
            batch_op.drop_column(column)
