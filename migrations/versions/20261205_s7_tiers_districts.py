"""three tiers: reviewer accounts belong to a district sub-centre or the city centre

``reviewer_accounts.district``: the district (its Chinese name, as ``institutions.district``) whose
sub-centre the reviewer works at; NULL for the city centre. A district reviewer sees and decides only
the district stage of the reviews of outcomes posted by that district's institutions. Existing
accounts stay at the city centre. ``institutions.district`` gets an index (the review queue of a
sub-centre filters on it).

Revision ID: s7_tiers
Revises: 20261205_ops
Create Date: 2026-12-05 16:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "s7_tiers"
down_revision: str | None = "20261205_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reviewer_accounts") as batch:
        batch.add_column(sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
    op.create_index("ix_institutions_district", "institutions", ["district"])


def downgrade() -> None:
    op.drop_index("ix_institutions_district", table_name="institutions")
    with op.batch_alter_table("reviewer_accounts") as batch:
        batch.drop_column("district")
