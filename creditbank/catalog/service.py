"""Programmes, shared courses and course equivalences; and the conversion rules they make.

An institution's equivalences are checked with the rule engine's own schemas when they are
saved (so a bad matcher is a 422 then, not a surprise at conversion time), and at conversion
they join the published conversion rules of the rule set in force as rules named
``EQ-<id>`` (version = the equivalence's version), restricted to that institution.
"""

import dataclasses
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from creditbank.catalog.models import Conversion, CourseEquivalence, Programme, SharedCourse, TransferRequest
from creditbank.catalog.schemas import EquivalenceCreate, ProgrammeCreate, SharedCourseCreate
from creditbank.errors import Conflict, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.rule_engine import RuleSet
from creditbank.rule_engine.loader import Placed
from creditbank.rule_engine.schemas import ConversionRule, error_said


class ProgrammeNotFound(NotFound):
    slug = "programme-not-found"
    title = "No such programme"


class CodeTaken(Conflict):
    slug = "code-taken"
    title = "This institution already has an entry with that code"


class EquivalenceInvalid(ValidationFailed):
    slug = "equivalence-invalid"
    title = "The course equivalence is not valid"


def create_programme(session: Session, institution_id: str, body: ProgrammeCreate) -> Programme:
    """Raises: CodeTaken."""
    row = Programme(id=random_id("prg"), institution_id=institution_id, **body.model_dump())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise CodeTaken(msg("detail.catalog.programme_exists", code=body.code)) from exc
    return row


def get_programme(session: Session, programme_id: str) -> Programme:
    """Raises: ProgrammeNotFound."""
    row = session.get(Programme, programme_id)
    if row is None:
        raise ProgrammeNotFound(msg("detail.catalog.no_programme", programme_id=programme_id))
    return row


def list_programmes(session: Session, institution_id: str | None = None) -> list[Programme]:
    stmt = select(Programme).order_by(col(Programme.created_at))
    if institution_id:
        stmt = stmt.where(col(Programme.institution_id) == institution_id)
    return list(session.exec(stmt).all())


def programmes_by_id(session: Session, ids: Iterable[str | None]) -> dict[str, Programme]:
    """The programmes among ``ids``, by id (programmes are public)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {p.id: p for p in session.exec(select(Programme).where(col(Programme.id).in_(wanted))).all()}


def transfer_destinations(session: Session, institution_id: str | None = None) -> list[Programme]:
    """Programmes (of one institution, or all), by institution and code: where a transfer may go."""
    stmt = select(Programme).order_by(col(Programme.institution_id), col(Programme.code))
    if institution_id is not None:
        stmt = stmt.where(col(Programme.institution_id) == institution_id)
    return list(session.exec(stmt).all())


def conversions_by_id(session: Session, ids: Iterable[str | None]) -> dict[str, Conversion]:
    """The conversions among ``ids``, by id, for a read already authorised (the transfers they
    complete were listed for the reader)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {c.id: c for c in session.exec(select(Conversion).where(col(Conversion.id).in_(wanted))).all()}


def transfers_of_learner(session: Session, learner_id: str, *, limit: int = 50) -> list[TransferRequest]:
    """The learner's transfer requests, newest first, for a read already authorised (the learner's
    own archive page or a live share link; an API caller goes through
    :func:`creditbank.catalog.exchange.list_transfers`)."""
    return list(
        session.exec(
            select(TransferRequest)
            .where(col(TransferRequest.learner_id) == learner_id)
            .order_by(col(TransferRequest.created_at).desc())
            .limit(limit)
        ).all()
    )


def destinations_of_learner(session: Session, learner_id: str) -> list[str]:
    """The institutions the learner's transfer requests went to (a read already authorised)."""
    return list(
        session.exec(
            select(TransferRequest.destination_institution_id).where(
                col(TransferRequest.learner_id) == learner_id
            )
        ).all()
    )


def publish_course(session: Session, institution_id: str, body: SharedCourseCreate) -> SharedCourse:
    """Raises: CodeTaken."""
    row = SharedCourse(id=random_id("crs"), institution_id=institution_id, seats_taken=0, **body.model_dump())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise CodeTaken(msg("detail.catalog.course_exists", code=body.code)) from exc
    return row


def list_shared_courses(session: Session, institution_id: str | None = None) -> list[SharedCourse]:
    stmt = (
        select(SharedCourse).where(col(SharedCourse.open_to_other_schools)).order_by(col(SharedCourse.code))
    )
    if institution_id:
        stmt = stmt.where(col(SharedCourse.institution_id) == institution_id)
    return list(session.exec(stmt).all())


def _rule(
    row: CourseEquivalence | None, institution_id: str, body: EquivalenceCreate, rule_id: str, version: int
) -> ConversionRule:
    data: dict[str, Any] = {
        "id": rule_id,
        "version": version,
        "kind": "conversion",
        "title": {"zh": body.destination_title_zh, "en": body.destination_title_en},
        "effective": {"from": "2000-01-01"},
        "source": {
            "document": "course equivalence published by the destination institution",
            "issuer": institution_id,
        },
        "priority": 5,
        "requires": body.requires,
        "destination": {
            "kind": body.destination_kind,
            "code": body.destination_code,
            "title": {"zh": body.destination_title_zh, "en": body.destination_title_en},
            **(
                {"max_credits": body.credits}
                if body.destination_kind == "elective_bucket"
                else {"credits": body.credits}
            ),
        },
        "institutions": [institution_id],
    }
    if body.grade_mapping is not None:
        data["grade_mapping"] = body.grade_mapping
    return ConversionRule.model_validate(data)


def draft_rule(institution_id: str, body: EquivalenceCreate, rule_id: str = "EQ-DRAFT") -> ConversionRule:
    """The conversion rule an equivalence becomes, checked with the rule engine's schemas.

    Raises:
        EquivalenceInvalid: the matcher or grade mapping is not valid; the detail says where.
    """
    try:
        return _rule(None, institution_id, body, rule_id, 1)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise EquivalenceInvalid(
            msg("detail.catalog.equivalence_field_invalid", where=where, value=error_said(first)), where=where
        ) from exc


def create_equivalence(session: Session, institution_id: str, body: EquivalenceCreate) -> CourseEquivalence:
    """Save an equivalence after checking it with the rule engine's schemas.

    Raises:
        EquivalenceInvalid: the matcher or grade mapping is not valid; the detail says where.
    """
    row_id = random_id("eqv")
    draft_rule(institution_id, body, f"EQ-{row_id.upper().replace('_', '-')}")
    row = CourseEquivalence(id=row_id, institution_id=institution_id, **body.model_dump())
    session.add(row)
    session.flush()
    return row


def list_equivalences(session: Session, institution_id: str) -> list[CourseEquivalence]:
    stmt = select(CourseEquivalence).where(col(CourseEquivalence.institution_id) == institution_id)
    return list(session.exec(stmt.order_by(col(CourseEquivalence.created_at))).all())


def rule_id_of(row: CourseEquivalence) -> str:
    return f"EQ-{row.id.upper().replace('_', '-')}"


def with_equivalences(
    session: Session, rule_set: RuleSet, institution_id: str, *, only: str | None = None
) -> RuleSet:
    """The rule set in force plus this institution's equivalences as conversion rules; with
    ``only`` (an equivalence id of this institution), that one equivalence is the only conversion
    rule (a shared course's result converts by the equivalence its home institution named)."""
    extra: list[Placed[ConversionRule]] = []
    rows = list_equivalences(session, institution_id)
    if only is not None:
        rows = [row for row in rows if row.id == only]
    for n, row in enumerate(rows):
        body = EquivalenceCreate.model_validate(row.model_dump(include=set(EquivalenceCreate.model_fields)))
        rule = _rule(row, institution_id, body, rule_id_of(row), row.version)
        extra.append(Placed(rule=rule, file=f"db:course_equivalences/{row.id}", line=1, order=-1000 + n))
    if only is not None:
        return dataclasses.replace(rule_set, conversion=tuple(extra))
    if not extra:
        return rule_set
    return dataclasses.replace(rule_set, conversion=(*extra, *rule_set.conversion))
