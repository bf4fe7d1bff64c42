"""Learners and the personal-data vault.

``learners`` holds only the bank's random id and an HMAC of the identity number (for lookup).
Name, identity number and contact details live in ``learner_vault``, sealed with a per-learner
data key that is itself wrapped by the master key. Erasure deletes the vault row: without the
data key nothing personal can be recovered (crypto-shredding).
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow


class Learner(SQLModel, table=True):
    __tablename__ = "learners"

    id: str = Field(primary_key=True, max_length=40)
    lookup_hmac: str | None = Field(
        default=None, sa_type=String(64), unique=True, description="hex HMAC-SHA-256(pepper, identity number)"
    )
    registered_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    erased_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class LearnerVault(SQLModel, table=True):
    __tablename__ = "learner_vault"

    learner_id: str = Field(
        sa_column_args=[ForeignKey("learners.id", ondelete="CASCADE")], primary_key=True, max_length=40
    )
    wrapped_key: bytes = Field(sa_type=LargeBinary, description="data key sealed under the master key")
    sealed: bytes = Field(
        sa_type=LargeBinary, description="JSON of the personal data, sealed under the data key"
    )
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LearnerLink(SQLModel, table=True):
    """An institution that registered or posted for a learner. It grants no read access: reading the
    archive needs the learner's grant (:class:`ArchiveGrant`) or a pending transfer to the institution."""

    __tablename__ = "learner_links"

    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], primary_key=True, max_length=40)
    institution_id: str = Field(
        sa_column_args=[ForeignKey("institutions.id")], primary_key=True, max_length=40
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ArchiveAccess(SQLModel, table=True):
    """Every read of a learner's data by someone other than the learner."""

    __tablename__ = "archive_access_log"

    id: int | None = Field(default=None, primary_key=True)
    learner_id: str = Field(index=True, max_length=40)
    reader_role: str = Field(max_length=20)
    reader_subject: str | None = Field(default=None, max_length=40)
    what: str = Field(max_length=60)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ArchiveGrant(SQLModel, table=True):
    """The learner lets one institution read their whole archive until ``expires_at`` (or until
    they revoke it). Created, listed and revoked by the learner; shown in the archive."""

    __tablename__ = "archive_grants"

    id: str = Field(primary_key=True, max_length=40, description="grt_...")
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], index=True, max_length=40)
    institution_id: str = Field(sa_column_args=[ForeignKey("institutions.id")], max_length=40)
    purpose: str = Field(default="", max_length=200, description="why the learner granted it, in their words")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ShareLink(SQLModel, table=True):
    """A read-only link to the archive the learner made. The link carries this id, signed; the row
    decides whether it still works (expiry, revocation by the learner, erasure)."""

    __tablename__ = "share_links"

    id: str = Field(primary_key=True, max_length=40, description="shl_...")
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], index=True, max_length=40)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdentityLookup(SQLModel, table=True):
    """One lookup of a learner by identity number (registration of a known person or ``lookup``):
    who asked, when, and whether a learner was found. Also the window of the per-token rate limit."""

    __tablename__ = "identity_lookups"
    __table_args__ = (Index("ix_identity_lookups_token_id_at", "token_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(max_length=40)
    reader_role: str = Field(max_length=20)
    reader_subject: str | None = Field(default=None, max_length=40)
    learner_id: str | None = Field(default=None, max_length=40, description="the learner found, if any")
    what: str = Field(max_length=20, description="register or lookup")
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
