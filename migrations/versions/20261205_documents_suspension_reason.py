"""why a certificate was suspended

A suspended certificate shows when and why, like a revoked one (``revocation_reason``): the issuer may
give a reason with the suspension, kept on the certificate.

Revision ID: 20261205_documents
Revises: 20261205_auditperf
Create Date: 2026-12-05 14:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "20261205_documents"
down_revision: str | None = "20261205_auditperf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("credential_certificates") as batch:
        batch.add_column(
            sa.Column("suspension_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("credential_certificates") as batch:
        batch.drop_column("suspension_reason")
