"""reviewer accounts, web sessions, archive grants, share links, identity lookups

* ``reviewer_accounts``: the named people reviewer tokens act for (four eyes compares accounts).
* ``web_sessions``: server-side browser sessions (the cookie holds a random id; the HMAC of it here).
* ``archive_grants``: a learner's time-limited, revocable permission for one institution to read
  the archive.
* ``share_links``: the learner's read-only links, revocable, dead after erasure.
* ``identity_lookups``: every lookup by identity number, and the window of its per-token rate limit.

Share links made before this revision were not stored and stop working.

Revision ID: 20261205_access
Revises: 20261205_badges
Create Date: 2026-12-05 10:12:29.117420+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import creditbank.db

revision: str = "20261205_access"
down_revision: str | None = "20261205_badges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reader_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reader_subject", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("what", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_lookups")),
    )
    with op.batch_alter_table("identity_lookups", schema=None) as batch_op:
        batch_op.create_index("ix_identity_lookups_token_id_at", ["token_id", "at"], unique=False)

    op.create_table(
        "reviewer_accounts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewer_accounts")),
    )
    op.create_table(
        "archive_grants",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("institution_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_archive_grants_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_archive_grants_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_grants")),
    )
    with op.batch_alter_table("archive_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_grants_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "share_links",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("learner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", creditbank.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_share_links_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
    )
    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_share_links_learner_id"), ["learner_id"], unique=False)

    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", creditbank.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_web_sessions_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_sessions_token_id"), ["token_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_token_id"))

    op.drop_table("web_sessions")
    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_links_learner_id"))

    op.drop_table("share_links")
    with op.batch_alter_table("archive_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_grants_learner_id"))

    op.drop_table("archive_grants")
    op.drop_table("reviewer_accounts")
    with op.batch_alter_table("identity_lookups", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_lookups_token_id_at")

    op.drop_table("identity_lookups")
