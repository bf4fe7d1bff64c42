"""passkeys (WebAuthn) of learner accounts, and their server-side challenges

``passkeys``: one row per credential (UNIQUE credential id), its COSE public key and signature counter.
``passkey_challenges``: the challenge of a ceremony under way, bound to the browser that asked for it
(the HMAC of its session or pre-session), one per browser and purpose, until used or expired.

Revision ID: s8_passkeys_3
Revises: s8_passkeys_2
Create Date: 2026-12-06 20:15:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "s8_passkeys_3"
down_revision: str | None = "s8_passkeys_2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("aaguid", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("sign_count >= 0", name=op.f("ck_passkeys_sign_count")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["learner_accounts.id"], name=op.f("fk_passkeys_account_id_learner_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )
    op.create_index(op.f("ix_passkeys_account_id"), "passkeys", ["account_id"])
    op.create_table(
        "passkey_challenges",
        sa.Column("binding", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("purpose IN ('register','signin')", name=op.f("ck_passkey_challenges_purpose")),
        sa.PrimaryKeyConstraint("binding", "purpose", name=op.f("pk_passkey_challenges")),
    )


def downgrade() -> None:
    op.drop_table("passkey_challenges")
    op.drop_index(op.f("ix_passkeys_account_id"), table_name="passkeys")
    op.drop_table("passkeys")
