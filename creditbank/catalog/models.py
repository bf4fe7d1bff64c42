"""Programmes, shared courses (课程跨校共享) and course equivalences between institutions.

A programme is what converted credits count towards (with the pilot's caps). A shared course is
a course an institution opens to other schools' learners. A course equivalence says which lots
(matched like a rule's ``lot`` matcher) a destination institution accepts for one of its
courses, generic courses or elective buckets, with a grade mapping. At conversion time the
destination's equivalences join the published conversion rules of the rule set in force.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from creditbank.db import CreditAmount, UTCDateTime, utcnow


class Programme(SQLModel, table=True):
    __tablename__ = "programmes"
    __table_args__ = (
        UniqueConstraint("institution_id", "code", name="uq_programmes_institution_code"),
        CheckConstraint("graduation_credits > 0", name="graduation_credits_positive"),
    )

    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True)
    code: str = Field(max_length=60)
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    graduation_credits: Decimal = Field(sa_type=CreditAmount, description="credits needed to graduate")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SharedCourse(SQLModel, table=True):
    """A course an institution (the host) opens to learners of other schools (课程跨校共享).

    ``seats_taken`` counts the live enrolments (asked, approved, accepted or completed); it is raised
    only by a conditional ``UPDATE … WHERE seats_taken < seats`` (:mod:`creditbank.catalog.courses`),
    and the CHECK below makes overselling impossible even for a writer that forgets it.
    """

    __tablename__ = "shared_courses"
    __table_args__ = (
        UniqueConstraint("institution_id", "code", name="uq_shared_courses_institution_code"),
        CheckConstraint("seats >= 0", name="seats_not_negative"),
        CheckConstraint("seats_taken >= 0 AND seats_taken <= seats", name="seats_taken_within_seats"),
        CheckConstraint("mode IN ('online', 'offline', 'blended')", name="mode"),
    )

    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True)
    code: str = Field(max_length=60)
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    credits: Decimal = Field(sa_type=CreditAmount, description="credits")
    level: int = Field(ge=1, le=7)
    field: str = Field(default="", max_length=120)
    open_to_other_schools: bool = Field(default=True, sa_type=Boolean)
    term: str = Field(default="", max_length=40, description="the term it runs, e.g. 2027春")
    seats: int = Field(default=30, description="places open to learners")
    seats_taken: int = Field(default=0, description="live enrolments holding a place")
    mode: str = Field(
        default="offline", sa_type=String(10), max_length=10, description="online, offline, blended"
    )
    enrolment_deadline: dt.date | None = Field(
        default=None, description="the last day a learner may ask to enrol (None: no deadline)"
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProgrammeLearner(SQLModel, table=True):
    """A learner admitted into a programme by its institution (the learner's home institution)."""

    __tablename__ = "programme_learners"

    programme_id: str = Field(sa_column_args=[ForeignKey("programmes.id")], primary_key=True, max_length=40)
    learner_id: str = Field(
        sa_column_args=[ForeignKey("learners.id")], primary_key=True, max_length=40, index=True
    )
    admitted_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CourseEnrolment(SQLModel, table=True):
    """A learner's enrolment in another school's shared course, and the chain it leaves.

    ``requested`` (the learner asked, a seat is held, the consent recorded) → ``approved`` (the home
    institution named the equivalence that will convert the result) → ``accepted`` (the host) →
    ``completed`` (the host posted the result; ``outcome_id``, and ``conversion_id`` when the
    equivalence converted it). ``declined`` (by the home or the host) frees the seat.
    """

    __tablename__ = "course_enrolments"
    __table_args__ = (
        UniqueConstraint("course_id", "learner_id", name="uq_course_enrolments_course_id_learner_id"),
        CheckConstraint(
            "status IN ('requested', 'approved', 'accepted', 'completed', 'declined')", name="status"
        ),
    )

    id: str = Field(primary_key=True, max_length=40, description="enr_...")
    course_id: str = Field(sa_column_args=[ForeignKey("shared_courses.id")], max_length=40, index=True)
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], max_length=40, index=True)
    programme_id: str = Field(sa_column_args=[ForeignKey("programmes.id")], max_length=40, index=True)
    home_institution_id: str = Field(
        sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True
    )
    host_institution_id: str = Field(
        sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True
    )
    status: str = Field(default="requested", sa_type=String(12), max_length=12)
    consent_id: str = Field(sa_column_args=[ForeignKey("learner_consents.id")], max_length=40)
    equivalence_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("course_equivalences.id")], max_length=40
    )
    outcome_id: str | None = Field(default=None, max_length=40)
    lot_id: str | None = Field(default=None, max_length=40)
    conversion_id: str | None = Field(default=None, max_length=40)
    result: str | None = Field(
        default=None,
        max_length=20,
        description="converted, not_recognised, in_review, consent_revoked, not_converted",
    )
    reason: str | None = Field(default=None, max_length=500, description="why it was declined")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    declined_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class CourseEquivalence(SQLModel, table=True):
    __tablename__ = "course_equivalences"
    __table_args__ = (
        CheckConstraint(
            "destination_kind IN ('course', 'generic_course', 'elective_bucket')", name="destination_kind"
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    institution_id: str = Field(
        sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True, description="destination"
    )
    source_institution_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("institutions.id")],
        max_length=40,
        description="only lots issued by this institution (None: any issuer)",
    )
    requires: dict[str, Any] = Field(sa_type=JSON, description="all_of / any_of / n_of / lot, as in rules/")
    destination_kind: str = Field(sa_type=String(20), max_length=20)
    destination_code: str = Field(max_length=60)
    destination_title_zh: str = Field(max_length=200)
    destination_title_en: str = Field(max_length=200)
    credits: Decimal = Field(sa_type=CreditAmount, description="credits granted")
    grade_mapping: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TransferRequest(SQLModel, table=True):
    """A request to move credit lots to a destination institution's programme (学分跨校通兑)."""

    __tablename__ = "transfer_requests"
    __table_args__ = (
        CheckConstraint("status IN ('issued', 'accepted', 'rejected', 'withdrawn')", name="status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], max_length=40, index=True)
    destination_institution_id: str = Field(
        sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True
    )
    programme_id: str = Field(sa_column_args=[ForeignKey("programmes.id")], max_length=40)
    lot_ids: list[str] = Field(sa_type=JSON)
    certificate_ids: list[str] = Field(sa_type=JSON, description="the issued certificates (bank ids)")
    requested_by_role: str = Field(max_length=20)
    requested_by: str | None = Field(default=None, max_length=40)
    learner_consent: str | None = Field(
        default=None, max_length=300, description="when an institution asked: the learner's consent reference"
    )
    status: str = Field(default="issued", sa_type=String(12), max_length=12)
    conversion_id: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Conversion(SQLModel, table=True):
    """A conversion a destination made: the plan the rules produced and the ledger entry."""

    __tablename__ = "conversions"

    id: str = Field(primary_key=True, max_length=40)
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], max_length=40, index=True)
    institution_id: str = Field(sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True)
    programme_id: str = Field(sa_column_args=[ForeignKey("programmes.id")], max_length=40)
    transfer_id: str | None = Field(default=None, max_length=40)
    credential_ids: list[str] = Field(sa_type=JSON, description="ids of the certificates accepted")
    lot_ids: list[str] = Field(sa_type=JSON)
    credits: Decimal = Field(sa_type=CreditAmount, description="credits counted towards the programme")
    plan: dict[str, Any] = Field(sa_type=JSON, description="items and skipped lots, with explanations")
    ledger_tx_id: str = Field(sa_column_args=[ForeignKey("ledger_transactions.id")], max_length=40)
    consent_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("learner_consents.id")],
        max_length=40,
        description="the learner's consent this conversion used",
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Consent(SQLModel, table=True):
    """A learner's consent that one destination institution may convert named credit lots.

    A learner's own transfer request records one (``given_via = 'transfer'``, bound to that
    transfer); a learner gives one through the API or the archive page for certificates brought to
    a school, or for a transfer the issuing institution asks for (which then binds it). It can be
    revoked until it is used; a conversion uses it once.
    """

    __tablename__ = "learner_consents"
    __table_args__ = (
        CheckConstraint("given_via IN ('api', 'archive', 'transfer', 'enrolment')", name="given_via"),
        CheckConstraint("revoked_at IS NULL OR used_at IS NULL", name="revoked_or_used"),
        CheckConstraint("used_at IS NULL OR conversion_id IS NOT NULL", name="used_has_conversion"),
    )

    id: str = Field(primary_key=True, max_length=40, description="cns_...")
    learner_id: str = Field(sa_column_args=[ForeignKey("learners.id")], max_length=40, index=True)
    destination_institution_id: str = Field(
        sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True
    )
    lot_ids: list[str] = Field(sa_type=JSON, description="the credit lots the destination may convert")
    given_via: str = Field(sa_type=String(12), max_length=12)
    transfer_id: str | None = Field(
        default=None, max_length=40, description="the transfer this consent is bound to, if any"
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    conversion_id: str | None = Field(default=None, max_length=40, description="the conversion that used it")


CREDIT_CATEGORIES = ("required", "major", "general", "elective")
"""A programme's credit categories: 必修 (required), 专业 (major), 通识 (general), 选修 (elective)."""


class CurriculumCourse(SQLModel, table=True):
    """One course of a programme's curriculum, in one credit category. A conversion item whose
    destination code is a curriculum course counts in that course's category (学业进度)."""

    __tablename__ = "curriculum_courses"
    __table_args__ = (
        CheckConstraint("category IN ('required', 'major', 'general', 'elective')", name="category"),
        CheckConstraint("credits > 0", name="credits_positive"),
    )

    programme_id: str = Field(sa_column_args=[ForeignKey("programmes.id")], primary_key=True, max_length=40)
    code: str = Field(primary_key=True, max_length=60)
    title_zh: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    category: str = Field(sa_type=String(10), max_length=10)
    credits: Decimal = Field(sa_type=CreditAmount, description="credits of the course")


class ProgrammeRequirement(SQLModel, table=True):
    """A graduation requirement: the credits a programme's learner needs in one category."""

    __tablename__ = "programme_requirements"
    __table_args__ = (
        CheckConstraint("category IN ('required', 'major', 'general', 'elective')", name="category"),
        CheckConstraint("credits >= 0", name="credits_not_negative"),
    )

    programme_id: str = Field(sa_column_args=[ForeignKey("programmes.id")], primary_key=True, max_length=40)
    category: str = Field(sa_type=String(10), max_length=10, primary_key=True)
    credits: Decimal = Field(sa_type=CreditAmount, description="credits needed in this category")
