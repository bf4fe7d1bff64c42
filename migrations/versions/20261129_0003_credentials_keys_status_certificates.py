"""credentials: signing keys, status lists, certificates

Ed25519 signing keys of institutions and of the bank (sealed seeds, at most one active key per
owner through a partial UNIQUE index), W3C Bitstring Status Lists per issuer and purpose, and the
issued transfer certificates (UNIQUE per status list and index: an index is used once).

Revision ID: 0003
Revises: 0002a
Create Date: 2026-11-29 12:15:12.819909+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "0003"
down_revision: str | None = "0002a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credential_signing_keys",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("compromised_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state <> 'compromised' OR compromised_at IS NOT NULL",
            name=op.f("ck_credential_signing_keys_compromised_has_time"),
        ),
        sa.CheckConstraint(
            "state <> 'retired' OR retired_at IS NOT NULL",
            name=op.f("ck_credential_signing_keys_retired_has_time"),
        ),
        sa.CheckConstraint(
            "state IN ('active', 'retired', 'compromised')", name=op.f("ck_credential_signing_keys_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_signing_keys")),
    )
    with op.batch_alter_table("credential_signing_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credential_signing_keys_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "uq_credential_signing_keys_one_active",
            ["owner_id"],
            unique=True,
            postgresql_where=sa.text("state = 'active'"),
            sqlite_where=sa.text("state = 'active'"),
        )

    op.create_table(
        "credential_status_lists",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        sa.Column("index_offset", sa.Integer(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("credential", sa.Text(), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('revocation', 'suspension')", name=op.f("ck_credential_status_lists_purpose")
        ),
        sa.CheckConstraint(
            "allocated >= 0 AND allocated <= size", name=op.f("ck_credential_status_lists_allocated_in_range")
        ),
        sa.CheckConstraint("multiplier % 2 = 1", name=op.f("ck_credential_status_lists_multiplier_odd")),
        sa.CheckConstraint("size >= 131072 AND size % 8 = 0", name=op.f("ck_credential_status_lists_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_status_lists")),
    )
    with op.batch_alter_table("credential_status_lists", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credential_status_lists_owner_purpose", ["owner_id", "purpose"], unique=False
        )

    op.create_table(
        "credential_certificates",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("lot_ids", sa.JSON(), nullable=False),
        sa.Column("issuer_owner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("issuer_did", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("destination_institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("bundle_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("revocation_list_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("revocation_index", sa.Integer(), nullable=False),
        sa.Column("suspension_list_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("suspension_index", sa.Integer(), nullable=False),
        sa.Column("valid_from", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("suspended_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('lot', 'clr')", name=op.f("ck_credential_certificates_kind")),
        sa.ForeignKeyConstraint(
            ["bundle_id"],
            ["credential_certificates.id"],
            name=op.f("fk_credential_certificates_bundle_id_credential_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["credential_signing_keys.id"],
            name=op.f("fk_credential_certificates_key_id_credential_signing_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["revocation_list_id"],
            ["credential_status_lists.id"],
            name=op.f("fk_credential_certificates_revocation_list_id_credential_status_lists"),
        ),
        sa.ForeignKeyConstraint(
            ["suspension_list_id"],
            ["credential_status_lists.id"],
            name=op.f("fk_credential_certificates_suspension_list_id_credential_status_lists"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_certificates")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_credential_certificates_credential_id")),
        sa.UniqueConstraint(
            "revocation_list_id", "revocation_index", name="uq_credential_certificates_revocation"
        ),
        sa.UniqueConstraint(
            "suspension_list_id", "suspension_index", name="uq_credential_certificates_suspension"
        ),
    )
    with op.batch_alter_table("credential_certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credential_certificates_issuer_owner_id"), ["issuer_owner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credential_certificates_learner_id"), ["learner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credential_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credential_certificates_learner_id"))
        batch_op.drop_index(batch_op.f("ix_credential_certificates_issuer_owner_id"))

    op.drop_table("credential_certificates")
    with op.batch_alter_table("credential_status_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_credential_status_lists_owner_purpose")

    op.drop_table("credential_status_lists")
    with op.batch_alter_table("credential_signing_keys", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_credential_signing_keys_one_active",
            postgresql_where=sa.text("state = 'active'"),
            sqlite_where=sa.text("state = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_credential_signing_keys_owner_id"))

    op.drop_table("credential_signing_keys")
