"""secret checks

Key-check values of the master key and the pepper (``secret_checks``), sealed at the first start, so
that a service started with the wrong secret refuses to run instead of writing with it.

Revision ID: 20261205_hardening
Revises: 20261205_access
Create Date: 2026-12-05 11:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import creditbank.db

revision: str = "20261205_hardening"
down_revision: str | None = "20261205_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secret_checks",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secret_checks")),
    )


def downgrade() -> None:
    op.drop_table("secret_checks")
