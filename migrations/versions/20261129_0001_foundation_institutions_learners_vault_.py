"""foundation: institutions, learners, vault, tokens

Revision ID: 0001
Revises:
Create Date: 2026-11-29 11:58:50.157258+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin','reviewer','institution','learner','auditor')", name=op.f("ck_api_tokens_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "archive_access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reader_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reader_subject", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("what", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_access_log")),
    )
    with op.batch_alter_table("archive_access_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_access_log_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "institutions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("credit_code_exception", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("credit_code_exception_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("district", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('vocational_school','university','training_body','community_college','open_university')",
            name=op.f("ck_institutions_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institutions")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_institutions_credit_code")),
    )
    op.create_table(
        "learners",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("lookup_hmac", sa.String(length=64), nullable=True),
        sa.Column("registered_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learners")),
        sa.UniqueConstraint("lookup_hmac", name=op.f("uq_learners_lookup_hmac")),
    )
    op.create_table(
        "learner_links",
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institutions.id"], name=op.f("fk_learner_links_institution_id_institutions")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_learner_links_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("learner_id", "institution_id", name=op.f("pk_learner_links")),
    )
    op.create_table(
        "learner_vault",
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_learner_vault_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("learner_id", name=op.f("pk_learner_vault")),
    )


def downgrade() -> None:
    op.drop_table("learner_vault")
    op.drop_table("learner_links")
    op.drop_table("learners")
    op.drop_table("institutions")
    with op.batch_alter_table("archive_access_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_access_log_learner_id"))

    op.drop_table("archive_access_log")
    op.drop_table("api_tokens")
