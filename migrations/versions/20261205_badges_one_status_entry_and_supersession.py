"""one status entry per certificate, and supersession by a re-issued certificate

Certificates now carry one ``BitstringStatusListEntry`` (revocation), so the suspension index is
optional (kept for certificates issued before). A certificate re-issued after a key compromise or a
suspension points to its successor.

Revision ID: 20261205_badges
Revises: 20261205_exchange
Create Date: 2026-12-05 10:55:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from creditbank.db import UTCDateTime

revision: str = "20261205_badges"
down_revision: str | None = "20261205_exchange"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credential_certificates") as batch:
        batch.alter_column(
            "suspension_list_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True
        )
        batch.alter_column("suspension_index", existing_type=sa.Integer(), nullable=True)
        batch.add_column(
            sa.Column("successor_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch.add_column(sa.Column("superseded_at", UTCDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_credential_certificates_successor_id_credential_certificates",
            "credential_certificates",
            ["successor_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("credential_certificates") as batch:
        batch.drop_constraint(
            "fk_credential_certificates_successor_id_credential_certificates", type_="foreignkey"
        )
        batch.drop_column("superseded_at")
        batch.drop_column("successor_id")
        batch.alter_column("suspension_index", existing_type=sa.Integer(), nullable=False)
        batch.alter_column(
            "suspension_list_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False
        )
