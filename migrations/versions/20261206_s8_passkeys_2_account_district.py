"""learner accounts name the district the person registered in

``learner_accounts.district``: the Chinese name of the district (as ``reviewer_accounts.district``)
whose sub-centre verifies the account. Accounts opened before have none: the city centre's reviewers
(and institutions holding the record) verify them.

Revision ID: s8_passkeys_2
Revises: s8_apply_2
Create Date: 2026-12-06 19:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "s8_passkeys_2"
down_revision: str | None = "s8_apply_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("learner_accounts") as batch:
        batch.add_column(sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learner_accounts") as batch:
        batch.drop_column("district")
