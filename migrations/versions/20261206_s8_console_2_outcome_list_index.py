"""an index for the registrar's list of outcomes, newest first, read by keyset

Revision ID: s8_console_2
Revises: s8_passkeys
Create Date: 2026-12-06 19:45:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "s8_console_2"
down_revision: str | None = "s8_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outcomes_institution_created", "outcomes", ["institution_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_institution_created", table_name="outcomes")
