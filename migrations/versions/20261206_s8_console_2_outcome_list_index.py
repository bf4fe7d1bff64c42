"""an index for the registrar's list of outcomes, newest first, read by keyset

Revision ID: s8_console_2
Revises: s8_passkeys
Create Date: 2026-12-06 19:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s8_console_2"
down_revision: str | None = "s8_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # partial: a lookup by (institution, reference) states no such predicate, so it is never planned on
    # this index instead of the unique one (tests/outcomes/test_bulk_costs.py)
    op.create_index(
        "ix_outcomes_institution_created",
        "outcomes",
        ["institution_id", "created_at", "id"],
        postgresql_where=sa.text("created_at IS NOT NULL"),
        sqlite_where=sa.text("created_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outcomes_institution_created", table_name="outcomes")
