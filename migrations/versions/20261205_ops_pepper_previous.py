"""api tokens hashed under the previous pepper

``api_tokens.pepper_previous``: the token's hash is still keyed by the pepper before the last
rotation; it is re-hashed under the current pepper on the token's next use, and the token is revoked
when the previous pepper is retired (``creditbank secrets rotate pepper``, ``retire-pepper``).

Revision ID: 20261205_ops
Revises: 20261205_auditperf
Create Date: 2026-12-05 13:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261205_ops"
down_revision: str | None = "20261205_auditperf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pepper_previous", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("pepper_previous")
