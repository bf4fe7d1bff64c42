"""curricula and graduation requirements of programmes (学业进度)

``curriculum_courses`` lists a programme's courses, each in a credit category (required, major,
general, elective); ``programme_requirements`` the credits a learner needs in each category.

Revision ID: s8_courses_2
Revises: s8_apply
Create Date: 2026-12-06 19:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "s8_courses_2"
down_revision: str | None = "s8_apply"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString
_CATEGORY = "category IN ('required', 'major', 'general', 'elective')"


def upgrade() -> None:
    op.create_table(
        "curriculum_courses",
        sa.Column("programme_id", _STR(length=40), nullable=False),
        sa.Column("code", _STR(length=60), nullable=False),
        sa.Column("title_zh", _STR(length=200), nullable=False),
        sa.Column("title_en", _STR(length=200), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(_CATEGORY, name=op.f("ck_curriculum_courses_category")),
        sa.CheckConstraint("credits > 0", name=op.f("ck_curriculum_courses_credits_positive")),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programmes.id"], name=op.f("fk_curriculum_courses_programme_id_programmes")
        ),
        sa.PrimaryKeyConstraint("programme_id", "code", name=op.f("pk_curriculum_courses")),
    )
    op.create_table(
        "programme_requirements",
        sa.Column("programme_id", _STR(length=40), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("credits", creditbank.db.CreditAmount(precision=12, scale=2), nullable=False),
        sa.CheckConstraint(_CATEGORY, name=op.f("ck_programme_requirements_category")),
        sa.CheckConstraint("credits >= 0", name=op.f("ck_programme_requirements_credits_not_negative")),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programmes.id"],
            name=op.f("fk_programme_requirements_programme_id_programmes"),
        ),
        sa.PrimaryKeyConstraint("programme_id", "category", name=op.f("pk_programme_requirements")),
    )


def downgrade() -> None:
    op.drop_table("programme_requirements")
    op.drop_table("curriculum_courses")
