"""Outcomes (学习成果) as posted, their current recognition, and their history.

* ``outcomes`` rows are the facts an institution posted; they are never edited. A correction
  posts a new outcome that ``supersedes`` the old one.
* ``recognitions`` hold each outcome's current state (recognised, in review at a stage, rejected,
  revoked, superseded), the lot it produced and the rule citation with its explanation in words.
  It is a projection: every change to it also appends an ``outcome_events`` row, and every change
  that matters to credits appends a ledger entry.
* ``outcome_events`` is the history the archive shows (append-only, like the journal).
"""

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
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

from creditbank.db import CreditAmount, UTCDateTime, utcnow


class RecognitionStatus(StrEnum):
    recognised = "recognised"
    review = "review"
    rejected = "rejected"
    revoked = "revoked"
    superseded = "superseded"


class Outcome(SQLModel, table=True):
    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("institution_id", "reference", name="uq_outcomes_institution_reference"),
        CheckConstraint("hours IS NULL OR hours >= 0", name="hours_not_negative"),
        # the registrar's list, newest first, read by keyset (creditbank.outcomes.listing). Partial, on a
        # predicate only the list states: a lookup by (institution, reference) must never be planned
        # on it (with statistics older than an upload, the planner took it and read every outcome of
        # the institution per reference; tests/outcomes/test_bulk_costs.py)
        Index(
            "ix_outcomes_institution_created",
            "institution_id",
            "created_at",
            "id",
            postgresql_where=text("created_at IS NOT NULL"),
            sqlite_where=text("created_at IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], max_length=40, index=True)
    institution_id: str = Field(sa_column_args=[ForeignKey("institutions.id")], max_length=40)
    reference: str = Field(
        max_length=120, description="the institution's own reference, unique per institution"
    )
    outcome_type: str = Field(sa_type=String(32), max_length=32)
    title: str = Field(max_length=300)
    achieved_on: dt.date
    hours: Decimal | None = Field(default=None, sa_type=CreditAmount, description="study hours (学时)")
    level: str | None = Field(default=None, max_length=40)
    score: Decimal | None = Field(default=None, sa_type=CreditAmount)
    grade: str | None = Field(default=None, max_length=40)
    field: str | None = Field(default=None, max_length=120)
    course_code: str | None = Field(default=None, max_length=60)
    identity_verified: bool = Field(default=False, sa_type=Boolean)
    evidence_hash: str | None = Field(
        default=None, max_length=71, description="sha256:<hex> of the evidence file"
    )
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    request_hash: str = Field(max_length=64, description="SHA-256 of the canonical posted content")
    supersedes_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("outcomes.id")], max_length=40, unique=True
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Recognition(SQLModel, table=True):
    __tablename__ = "recognitions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('recognised', 'review', 'rejected', 'revoked', 'superseded')", name="status"
        ),
        Index("ix_recognitions_status_stage", "status", "stage"),
    )

    outcome_id: str = Field(sa_column_args=[ForeignKey("outcomes.id")], primary_key=True, max_length=40)
    status: str = Field(sa_type=String(16), max_length=16)
    stage: str | None = Field(default=None, max_length=16, description="review stage: district, city")
    credits: Decimal = Field(
        default=Decimal(0), sa_type=CreditAmount, description="credits (proposed in review)"
    )
    level: int | None = None
    category: str | None = Field(default=None, max_length=60)
    field: str | None = Field(default=None, max_length=120)
    rule_id: str | None = Field(default=None, max_length=80)
    rule_version: str | None = Field(default=None, max_length=40)
    rule_set_id: str = Field(max_length=80)
    rule_set_version: str = Field(max_length=40)
    rule_set_hash: str = Field(max_length=64)
    explanation_zh: str = Field(sa_type=Text)
    explanation_en: str = Field(sa_type=Text)
    review_reason_zh: str | None = Field(default=None, sa_type=Text)
    review_reason_en: str | None = Field(default=None, sa_type=Text)
    expires_on: dt.date | None = None
    count_once_key: str | None = Field(default=None, max_length=200)
    lot_id: str | None = Field(default=None, max_length=40, index=True)
    district_reviewer: str | None = Field(default=None, max_length=40)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutcomeEvent(SQLModel, table=True):
    __tablename__ = "outcome_events"

    id: int | None = Field(default=None, primary_key=True)
    outcome_id: str = Field(sa_column_args=[ForeignKey("outcomes.id")], max_length=40, index=True)
    kind: str = Field(
        max_length=40, description="posted, recognised, review, decision, rejected, revoked, corrected"
    )
    actor_role: str = Field(max_length=20)
    actor: str | None = Field(default=None, max_length=40)
    detail_zh: str = Field(default="", sa_type=Text)
    detail_en: str = Field(default="", sa_type=Text)
    ledger_tx_id: str | None = Field(default=None, max_length=40)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# -- applications for recognition (see creditbank.applications) ---------------------------------------

BANK_ID = "ins_creditbank"
"""The bank's own institution: it posts the outcomes learners bring in their applications."""


class Application(SQLModel, table=True):
    """A learner's own application for recognition: the outcome the bank posted for it, the
    district whose sub-centre reviews it first, and a key that makes a second application for the
    same outcome a conflict. Its evidence is in :class:`ApplicationFile`."""

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("learner_id", "outcome_key", name="uq_applications_learner_outcome"),)

    id: str = Field(primary_key=True, max_length=40, description="apl_...")
    outcome_id: str = Field(
        sa_column_args=[ForeignKey("outcomes.id")],
        unique=True,
        max_length=40,
        description="the outcome posted",
    )
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], index=True, max_length=40)
    district: str = Field(max_length=60, description="the district whose sub-centre decides the first stage")
    outcome_key: str = Field(
        sa_type=String(64), max_length=64, description="hex SHA-256 of type, normalised title and date"
    )
    issuer_name: str = Field(
        default="", max_length=200, description="who issued the outcome, as the learner says"
    )
    issuer_kind: str = Field(
        sa_type=String(32), max_length=32, description="the kind of issuer the rules see"
    )
    statement: str = Field(default="", sa_type=Text, description="the learner's note to the reviewers")
    rounds: int = Field(default=1, sa_type=Integer, description="submissions so far (1 + resubmissions)")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Appeal(SQLModel, table=True):
    """A learner's appeal (申诉/复核) against a rejection or a recognition's credits, and its
    decision by a city centre reviewer who took no part in the decision (see
    :mod:`creditbank.applications.appeals`). One per outcome."""

    __tablename__ = "appeals"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'upheld', 'changed')", name="status"),
        CheckConstraint("was IN ('recognised', 'rejected')", name="was"),
    )

    id: str = Field(primary_key=True, max_length=40, description="apc_...")
    outcome_id: str = Field(sa_column_args=[ForeignKey("outcomes.id")], unique=True, max_length=40)
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], index=True, max_length=40)
    statement: str = Field(sa_type=Text, description="why the learner appeals, in their words")
    was: str = Field(max_length=16, description="the decision appealed: recognised or rejected")
    status: str = Field(default="open", max_length=16, description="open, upheld or changed")
    credits_before: Decimal = Field(sa_type=CreditAmount, description="credits recognised when appealed")
    credits_after: Decimal | None = Field(
        default=None, sa_type=CreditAmount, description="credits after a change (credits)"
    )
    decided_by: str | None = Field(default=None, max_length=40, description="the reviewer account")
    reason: str | None = Field(default=None, sa_type=Text)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApplicationFile(SQLModel, table=True):
    """An evidence file, sealed under the learner's vault data key (erasure shreds the key and
    deletes the rows), with its SHA-256 and the submission round it came with."""

    __tablename__ = "application_files"
    __table_args__ = (CheckConstraint("(application_id IS NULL) <> (appeal_id IS NULL)", name="one_owner"),)

    id: str = Field(primary_key=True, max_length=40, description="evd_...")
    application_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("applications.id")], index=True, max_length=40
    )
    appeal_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("appeals.id")],
        index=True,
        max_length=40,
        description="the appeal the file came with (then application_id is empty)",
    )
    learner_id: str = Field(index=True, max_length=40)
    round: int = Field(default=1, sa_type=Integer, description="the submission the file came with")
    filename: str = Field(max_length=200)
    media_type: str = Field(
        max_length=40, description="application/pdf, image/jpeg or image/png (by content)"
    )
    size: int = Field(sa_type=Integer, description="bytes")
    sha256: str = Field(max_length=71, description="sha256:<hex> of the file")
    sealed: bytes = Field(sa_type=LargeBinary, description="the file sealed under the learner's data key")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
