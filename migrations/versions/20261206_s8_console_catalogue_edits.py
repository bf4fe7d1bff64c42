"""edits of the catalogue of recognised outcomes

``recognised_outcome_edits``: one row per edit of an entry's names, levels or rule, keyed by the
catalogue version the edit made, with what they were before (so any earlier version reads back).

Revision ID: s8_console
Revises: s7_learners_2
Create Date: 2026-12-06 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "s8_console"
down_revision: str | None = "s7_learners_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recognised_outcome_edits",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"],
            ["recognised_outcomes.code"],
            name=op.f("fk_recognised_outcome_edits_code_recognised_outcomes"),
        ),
        sa.ForeignKeyConstraint(
            ["version"],
            ["recognised_outcome_versions.version"],
            name=op.f("fk_recognised_outcome_edits_version_recognised_outcome_versions"),
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_recognised_outcome_edits")),
    )
    op.create_index(op.f("ix_recognised_outcome_edits_code"), "recognised_outcome_edits", ["code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recognised_outcome_edits_code"), table_name="recognised_outcome_edits")
    op.drop_table("recognised_outcome_edits")
