"""learner consents to conversions

A learner's recorded consent that one destination institution may convert named credit lots
(``learner_consents``), and the consent each conversion used (``conversions.consent_id``).

Revision ID: 20261205_exchange
Revises: 0005
Create Date: 2026-12-05 10:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "20261205_exchange"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learner_consents",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("destination_institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("lot_ids", sa.JSON(), nullable=False),
        sa.Column("given_via", sa.String(length=12), nullable=False),
        sa.Column("transfer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("conversion_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.CheckConstraint(
            "given_via IN ('api', 'archive', 'transfer')", name=op.f("ck_learner_consents_given_via")
        ),
        sa.CheckConstraint(
            "revoked_at IS NULL OR used_at IS NULL", name=op.f("ck_learner_consents_revoked_or_used")
        ),
        sa.CheckConstraint(
            "used_at IS NULL OR conversion_id IS NOT NULL",
            name=op.f("ck_learner_consents_used_has_conversion"),
        ),
        sa.ForeignKeyConstraint(
            ["destination_institution_id"],
            ["institutions.id"],
            name=op.f("fk_learner_consents_destination_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_learner_consents_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner_consents")),
    )
    with op.batch_alter_table("learner_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_learner_consents_destination_institution_id"),
            ["destination_institution_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_learner_consents_learner_id"), ["learner_id"], unique=False)
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_conversions_consent_id_learner_consents"),
            "learner_consents",
            ["consent_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("conversions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_conversions_consent_id_learner_consents"), type_="foreignkey")
        batch_op.drop_column("consent_id")
    with op.batch_alter_table("learner_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learner_consents_learner_id"))
        batch_op.drop_index(batch_op.f("ix_learner_consents_destination_institution_id"))
    op.drop_table("learner_consents")
