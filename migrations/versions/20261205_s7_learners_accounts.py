"""learner accounts: registration on the web, password sign-in, verification; sessions of accounts

``learner_accounts`` holds a person's own account (argon2id password hash, the HMAC of the sign-in
name, what they submitted sealed under the account's own data key, lockout counters, and who
verified it when). ``web_sessions`` now names either the API token or the learner account it was
opened with (exactly one).

Revision ID: s7_learners
Revises: s7_tiers
Create Date: 2026-12-05 16:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s7_learners"
down_revision: str | None = "s7_tiers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learner_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("login_hmac", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("learner_id", sa.String(length=40), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(length=40), nullable=True),
        sa.Column("verified_how", sa.String(length=20), nullable=True),
        sa.Column("verified_note", sa.String(length=200), nullable=False),
        sa.Column("failed_signins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "verified_how IS NULL OR verified_how IN ('institution','sub-centre')",
            name=op.f("ck_learner_accounts_how"),
        ),
        sa.CheckConstraint("failed_signins >= 0", name=op.f("ck_learner_accounts_failed_signins")),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_learner_accounts_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learner_accounts")),
        sa.UniqueConstraint("learner_id", name=op.f("uq_learner_accounts_learner_id")),
        sa.UniqueConstraint("login_hmac", name=op.f("uq_learner_accounts_login_hmac")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(length=40), nullable=True))
        batch_op.alter_column("token_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.create_index(batch_op.f("ix_web_sessions_account_id"), ["account_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_web_sessions_account_id_learner_accounts"),
            "learner_accounts",
            ["account_id"],
            ["id"],
        )
        batch_op.create_check_constraint("one_principal", "(token_id IS NULL) <> (account_id IS NULL)")


def downgrade() -> None:
    op.execute("DELETE FROM web_sessions WHERE token_id IS NULL")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_web_sessions_one_principal"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_web_sessions_account_id_learner_accounts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_web_sessions_account_id"))
        batch_op.alter_column("token_id", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_column("account_id")
    op.drop_table("learner_accounts")
