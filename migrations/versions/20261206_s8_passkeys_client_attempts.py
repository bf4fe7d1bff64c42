"""per-address limits on password sign-in and registration

``client_attempts`` counts, per client address (stored as an HMAC), the password sign-ins refused and
the registrations tried in a sliding window, so that one address spraying passwords over many
accounts, or opening many accounts, is answered 429 (``creditbank.auth.throttle``).

Revision ID: s8_passkeys
Revises: s8_console
Create Date: 2026-12-06 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "s8_passkeys"
down_revision: str | None = "s8_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("client_hmac", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('signin','register')", name=op.f("ck_client_attempts_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_attempts")),
    )
    op.create_index("ix_client_attempts_kind_client_at", "client_attempts", ["kind", "client_hmac", "at"])
    op.create_index("ix_client_attempts_at", "client_attempts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_client_attempts_at", table_name="client_attempts")
    op.drop_index("ix_client_attempts_kind_client_at", table_name="client_attempts")
    op.drop_table("client_attempts")
