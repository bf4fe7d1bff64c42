"""the catalogue of recognised outcomes (学习成果名录), its versions, and accreditation scopes

``recognised_outcome_versions``: one row per change of the catalogue, with the SHA-256 of the entries
then in force. ``recognised_outcomes``: the entries (code, outcome type, names, levels, the rule that
credits it, the versions that added and retired it). ``accreditation_scopes``: per institution, the
outcome types (and single entries) it may post; an institution without rows keeps the default scope
of its kind.

Revision ID: s7_tiers_2
Revises: s7_learners
Create Date: 2026-12-05 17:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "s7_tiers_2"
down_revision: str | None = "s7_learners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recognised_outcome_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("change", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_recognised_outcome_versions")),
    )
    op.create_table(
        "recognised_outcomes",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("outcome_type", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("rule_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("added_in", sa.Integer(), nullable=False),
        sa.Column("retired_in", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_in"],
            ["recognised_outcome_versions.version"],
            name=op.f("fk_recognised_outcomes_added_in_recognised_outcome_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["retired_in"],
            ["recognised_outcome_versions.version"],
            name=op.f("fk_recognised_outcomes_retired_in_recognised_outcome_versions"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_recognised_outcomes")),
    )
    op.create_index(op.f("ix_recognised_outcomes_outcome_type"), "recognised_outcomes", ["outcome_type"])
    op.create_table(
        "accreditation_scopes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("outcome_type", sa.String(length=32), nullable=False),
        sa.Column("catalogue_code", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_accreditation_scopes_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["catalogue_code"],
            ["recognised_outcomes.code"],
            name=op.f("fk_accreditation_scopes_catalogue_code_recognised_outcomes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accreditation_scopes")),
    )
    op.create_index(
        op.f("ix_accreditation_scopes_institution_id"), "accreditation_scopes", ["institution_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_accreditation_scopes_institution_id"), table_name="accreditation_scopes")
    op.drop_table("accreditation_scopes")
    op.drop_index(op.f("ix_recognised_outcomes_outcome_type"), table_name="recognised_outcomes")
    op.drop_table("recognised_outcomes")
    op.drop_table("recognised_outcome_versions")
