"""Tables of the transfer certificates: signing keys, status lists and issued certificates.

How this works:

* ``credential_signing_keys``: one Ed25519 key per row, owned by an institution (its id) or by the
  bank (owner ``bank``). The seed is sealed under the master key with the context
  ``creditbank/signing-key/<key id>``, so a sealed seed cannot be swapped onto another row. A key
  is ``active`` (at most one per owner: a partial UNIQUE index), ``retired`` (``retired_at``; it
  still verifies what it signed before) or ``compromised`` (``compromised_at``; nothing it signed
  from that time on verifies). Rows are never deleted: the DID document lists every key ever used.
* ``credential_status_lists``: one W3C Bitstring Status List per row, for one issuer (owner) and
  one purpose (revocation or suspension). ``bits`` is the raw bitstring; ``credential`` the signed
  ``BitstringStatusListCredential`` as served, re-signed whenever a bit changes. Indexes are handed
  out once each: ``allocated`` counts them, and the n-th allocation gets index
  ``(multiplier * n + index_offset) mod size`` (an odd multiplier makes this a permutation of the list),
  so neighbouring certificates do not sit on neighbouring bits.
* ``credential_certificates``: every issued certificate with its signed JSON; UNIQUE on each
  (status list, index) pair is the database's guarantee that an index is used once. A certificate
  carries one revocation entry; only certificates issued before that change also have a suspension
  index. ``successor_id`` records the re-issued certificate that took its place (same lots, a
  fresh revocation index: the mapping from old to new status entry), whose old entry is then set.
"""

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow

BANK_OWNER = "bank"
"""Owner id of the bank's own signing keys and status lists."""


CertificateStatus = Literal["active", "suspended", "revoked", "superseded"]


class KeyState(StrEnum):
    active = "active"
    retired = "retired"
    compromised = "compromised"


class CertificateKind(StrEnum):
    lot = "lot"
    clr = "clr"


class SigningKey(SQLModel, table=True):
    """An Ed25519 signing key of an institution or of the bank."""

    __tablename__ = "credential_signing_keys"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'retired', 'compromised')", name="state"),
        CheckConstraint("state <> 'retired' OR retired_at IS NOT NULL", name="retired_has_time"),
        CheckConstraint("state <> 'compromised' OR compromised_at IS NOT NULL", name="compromised_has_time"),
        Index(
            "uq_credential_signing_keys_one_active",
            "owner_id",
            unique=True,
            postgresql_where=text("state = 'active'"),
            sqlite_where=text("state = 'active'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40, description="key id, the DID URL fragment (key_...)")
    owner_id: str = Field(max_length=40, index=True, description="institution id, or 'bank'")
    public_key: bytes = Field(sa_type=LargeBinary, description="Ed25519 public key, 32 bytes")
    private_key_sealed: bytes = Field(
        sa_type=LargeBinary, description="Ed25519 seed sealed under the master key"
    )
    state: str = Field(default=KeyState.active.value, sa_type=String(16), max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    retired_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    compromised_at: dt.datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="signatures from this time on are not valid"
    )


class StatusList(SQLModel, table=True):
    """A Bitstring Status List of one issuer and purpose, with its signed credential."""

    __tablename__ = "credential_status_lists"
    __table_args__ = (
        CheckConstraint("purpose IN ('revocation', 'suspension')", name="purpose"),
        CheckConstraint("size >= 131072 AND size % 8 = 0", name="size"),
        CheckConstraint("allocated >= 0 AND allocated <= size", name="allocated_in_range"),
        CheckConstraint("multiplier % 2 = 1", name="multiplier_odd"),
        Index("ix_credential_status_lists_owner_purpose", "owner_id", "purpose"),
    )

    id: str = Field(primary_key=True, max_length=40, description="list id, in /status-lists/{id}")
    owner_id: str = Field(max_length=40, description="institution id, or 'bank'")
    purpose: str = Field(sa_type=String(16), max_length=16)
    size: int = Field(sa_column=Column(Integer, nullable=False), description="number of entries (bits)")
    allocated: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, default=0), description="indexes handed out"
    )
    multiplier: int = Field(sa_column=Column(Integer, nullable=False), description="odd; see module doc")
    index_offset: int = Field(sa_column=Column(Integer, nullable=False), description="see module doc")
    bits: bytes = Field(sa_type=LargeBinary, description="the raw bitstring, bit 0 the left-most")
    credential: str = Field(sa_type=Text, description="the signed status list credential (JSON), as served")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Certificate(SQLModel, table=True):
    """An issued transfer certificate (one lot, or a CLR bundle of lot certificates)."""

    __tablename__ = "credential_certificates"
    __table_args__ = (
        CheckConstraint("kind IN ('lot', 'clr')", name="kind"),
        UniqueConstraint(
            "revocation_list_id", "revocation_index", name="uq_credential_certificates_revocation"
        ),
        UniqueConstraint(
            "suspension_list_id", "suspension_index", name="uq_credential_certificates_suspension"
        ),
    )

    id: str = Field(primary_key=True, max_length=40, description="the bank's id (crt_...)")
    credential_id: str = Field(
        sa_type=String(80), unique=True, max_length=80, description="the credential's id (urn:uuid:...)"
    )
    kind: str = Field(sa_type=String(8), max_length=8)
    lot_ids: list[str] = Field(sa_type=JSON, description="the credit lots the certificate vouches for")
    issuer_owner_id: str = Field(max_length=40, index=True, description="institution id, or 'bank'")
    issuer_did: str = Field(max_length=300)
    learner_id: str = Field(max_length=40, index=True, description="the bank's random learner id")
    destination_institution_id: str | None = Field(default=None, max_length=40)
    bundle_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("credential_certificates.id")],
        max_length=40,
        description="the CLR bundle this lot certificate was issued in, if any",
    )
    key_id: str = Field(sa_column_args=[ForeignKey("credential_signing_keys.id")], max_length=40)
    document: dict[str, Any] = Field(sa_type=JSON, description="the signed credential")
    revocation_list_id: str = Field(sa_column_args=[ForeignKey("credential_status_lists.id")], max_length=40)
    revocation_index: int = Field(sa_column=Column(Integer, nullable=False))
    suspension_list_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("credential_status_lists.id")],
        max_length=40,
        description="only certificates issued before credentials carried one status entry have one",
    )
    suspension_index: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    valid_from: dt.datetime = Field(sa_type=UTCDateTime)
    valid_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revocation_reason: str | None = Field(default=None, max_length=500)
    suspended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    suspension_reason: str | None = Field(
        default=None, max_length=500, description="why the certificate was suspended, if given"
    )
    successor_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("credential_certificates.id")],
        max_length=40,
        description="the certificate re-issued in its place (after a key compromise or a suspension)",
    )
    superseded_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
