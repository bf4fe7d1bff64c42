"""the learner's inbox: how far each learner's messages were read and announced by e-mail

The messages themselves are the learner's own events (outcome history, transfers, grants, lots
nearing the end of their validity); ``inbox_state`` only remembers the two marks.

Revision ID: s7_learners_2
Revises: s7_tiers_2
Create Date: 2026-12-05 17:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s7_learners_2"
down_revision: str | None = "s7_tiers_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_state",
        sa.Column("learner_id", sa.String(length=40), nullable=False),
        sa.Column("read_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mailed_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_inbox_state_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("learner_id", name=op.f("pk_inbox_state")),
    )


def downgrade() -> None:
    op.drop_table("inbox_state")
