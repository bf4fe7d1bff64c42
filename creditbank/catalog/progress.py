"""Curricula and the graduation audit (学业进度): where a learner stands in a programme.

How this works
--------------
A programme's curriculum lists its courses, each in a credit category (required, major, general,
elective), and its graduation requirements: the credits needed in each category
(:func:`set_curriculum`). The audit (:func:`audit`) counts, per category:

* **earned**: the learner's credit lots the home institution itself issued for a curriculum course
  (the outcome's course code is the course's code), not converted anywhere;
* **converted**: the items of the learner's live conversions into the programme (reversed ones do
  not count), as the plan stored with each conversion says;
* **planned**: what each live enrolment in a shared course (asked, approved or accepted) would
  convert, planned by the rule engine on the course as a lot (with the equivalence the home
  school named once it approved, otherwise with all of the home school's equivalences);
* **missing**: the requirement less the three, at least zero.

A conversion item counts in the category of the curriculum course its destination code names; an
item naming no curriculum course counts as ``general`` for a generic course and ``elective``
otherwise.

The suggestions are what would fill a category still missing credits, each planned by the same
rule engine with the home school's equivalences and the published conversion rules (nothing here
knows which course maps where): the learner's unconverted lots, the shared courses open to them,
and the recognised certificates of the catalogue (each recognised by the rules as if achieved
today, then planned). An institution sees suggestions from the learner's lots only under the
learner's grant (``lots_hidden`` otherwise), like any read of the archive.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, delete, select

from creditbank.accreditation import service as accreditation
from creditbank.accreditation.service import DEFAULT_SCOPE
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import courses
from creditbank.catalog import service as catalog
from creditbank.catalog.models import (
    CREDIT_CATEGORIES,
    Conversion,
    CourseEnrolment,
    CurriculumCourse,
    Programme,
    ProgrammeLearner,
    ProgrammeRequirement,
    SharedCourse,
)
from creditbank.catalog.planning import plan_conversion, rule_set_for
from creditbank.catalog.schemas import CurriculumIn
from creditbank.context import AppContext
from creditbank.errors import CreditBankError, Forbidden, ValidationFailed
from creditbank.i18n import msg
from creditbank.learners import service as learners
from creditbank.ledger.models import JournalTransaction, Lot, LotLock
from creditbank.outcomes.models import Outcome, Recognition
from creditbank.rule_engine import LotFacts, ProgrammeFacts, RuleSet, convert, evaluate
from creditbank.rule_engine.conversion import effective_caps
from creditbank.rule_engine.models import ConversionItem, OutcomeFacts

LIVE = ("requested", "approved", "accepted")
MAX_SUGGESTIONS = 8  # of each kind


class CurriculumInvalid(ValidationFailed):
    slug = "curriculum-invalid"
    title = "The curriculum is not valid"


class ProgrammeNotYours(Forbidden):
    slug = "programme-not-yours"
    title = "The programme is another institution's"


def editable_programme(session: Session, who: Principal, programme_id: str) -> Programme:
    """One of the caller's own programmes, to edit in the console (its curriculum is public, so
    another school is told it may not, rather than that there is none).

    Raises: ProgrammeNotFound, ProgrammeNotYours.
    """
    programme = catalog.get_programme(session, programme_id)
    if who.role is not Role.institution or programme.institution_id != who.subject:
        raise ProgrammeNotYours(msg("detail.catalog.progress.programme_not_yours", code=programme.code))
    return programme


@dataclass
class CategoryFigures:
    category: str
    needed: Decimal = Decimal(0)
    earned: Decimal = Decimal(0)
    converted: Decimal = Decimal(0)
    planned: Decimal = Decimal(0)

    @property
    def missing(self) -> Decimal:
        return max(self.needed - self.earned - self.converted - self.planned, Decimal(0))


@dataclass(frozen=True)
class CourseState:
    course: CurriculumCourse
    state: str  # earned, converted, planned, open


@dataclass(frozen=True)
class Suggestion:
    kind: str  # lot, shared_course, certificate
    ref: str
    title: str
    category: str
    item: ConversionItem


@dataclass
class Progress:
    programme: Programme
    learner_id: str
    categories: list[CategoryFigures]
    courses: list[CourseState]
    suggestions: list[Suggestion] = field(default_factory=list)
    lots_hidden: bool = False


# -- the curriculum ------------------------------------------------------------------------------


def set_curriculum(
    session: Session, who: Principal, programme_id: str, body: CurriculumIn
) -> tuple[Programme, list[CurriculumCourse], list[ProgrammeRequirement]]:
    """Replace one of the caller's programmes' curriculum and requirements.

    Raises: ProgrammeNotFound (not the caller's), CurriculumInvalid (a code twice, or requirements
    beyond the programme's graduation credits).
    """
    programme = catalog.get_programme(session, programme_id)
    if who.role is not Role.institution or programme.institution_id != who.subject:
        raise catalog.ProgrammeNotFound(msg("detail.catalog.no_programme", programme_id=programme_id))
    codes = [c.code for c in body.courses]
    if len(set(codes)) != len(codes):
        raise CurriculumInvalid(msg("detail.catalog.progress.code_twice"))
    total = sum(body.requirements.values(), Decimal(0))
    if total > programme.graduation_credits:
        raise CurriculumInvalid(
            msg(
                "detail.catalog.progress.requirements_exceed",
                total=total,
                credits=programme.graduation_credits,
            )
        )
    session.execute(delete(CurriculumCourse).where(col(CurriculumCourse.programme_id) == programme_id))
    session.execute(
        delete(ProgrammeRequirement).where(col(ProgrammeRequirement.programme_id) == programme_id)
    )
    rows = [CurriculumCourse(programme_id=programme_id, **c.model_dump()) for c in body.courses]
    needs = [
        ProgrammeRequirement(programme_id=programme_id, category=k, credits=v)
        for k, v in body.requirements.items()
    ]
    session.add_all([*rows, *needs])
    session.flush()
    return programme, rows, needs


def curriculum(
    session: Session, programme_id: str
) -> tuple[list[CurriculumCourse], list[ProgrammeRequirement]]:
    """A programme's curriculum and requirements (public)."""
    rows = session.exec(
        select(CurriculumCourse)
        .where(col(CurriculumCourse.programme_id) == programme_id)
        .order_by(col(CurriculumCourse.category), col(CurriculumCourse.code))
    ).all()
    needs = session.exec(
        select(ProgrammeRequirement).where(col(ProgrammeRequirement.programme_id) == programme_id)
    ).all()
    return list(rows), list(needs)


# -- who may see a learner's progress ------------------------------------------------------------


def authorise(session: Session, who: Principal, programme: Programme, learner_id: str) -> bool:
    """Whether the caller may read the learner's lots too (see the module docstring).

    The learner reads their own; the programme's institution a learner admitted into it; admins
    and auditors anyone. Raises: Forbidden (anyone else, or a learner not admitted)."""
    if who.role is Role.learner:
        if who.subject != learner_id:
            raise Forbidden(msg("detail.catalog.progress.own_only"))
        return True
    if who.role is Role.institution:
        admitted = session.get(ProgrammeLearner, (programme.id, learner_id))
        if programme.institution_id != who.subject or admitted is None:
            raise Forbidden(msg("detail.catalog.progress.not_your_learner", learner_id=learner_id))
        try:
            with session.begin_nested():
                learners.authorise_read(session, who, learner_id, "graduation audit")
        except CreditBankError:
            return False
        return True
    if who.role in (Role.admin, Role.auditor):
        learners.authorise_read(session, who, learner_id, "graduation audit")
        return True
    raise Forbidden(msg("detail.catalog.progress.own_only"))


# -- the audit -----------------------------------------------------------------------------------


def _category(item_kind: str, code: str, by_code: dict[str, CurriculumCourse]) -> str:
    course = by_code.get(code)
    if course is not None:
        return course.category
    return "general" if item_kind == "generic_course" else "elective"


def _live_conversions(session: Session, programme_id: str, learner_id: str) -> list[Conversion]:
    reversed_ids = select(JournalTransaction.reverses_id).where(
        col(JournalTransaction.reverses_id).is_not(None)
    )
    return list(
        session.exec(
            select(Conversion).where(
                col(Conversion.programme_id) == programme_id,
                col(Conversion.learner_id) == learner_id,
                col(Conversion.ledger_tx_id).not_in(reversed_ids),
            )
        ).all()
    )


def _earned(
    session: Session, programme: Programme, learner_id: str, codes: Iterable[str]
) -> dict[str, Decimal]:
    """Credits of the home school's own lots for curriculum courses, by course code."""
    rows = session.exec(
        select(col(Outcome.course_code), col(Lot.credits))
        .join(Lot, col(Lot.outcome_id) == col(Outcome.id))
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(
            col(Lot.learner_id) == learner_id,
            col(Lot.issuer_id) == programme.institution_id,
            col(Outcome.course_code).in_(sorted(codes)),
            col(Recognition.status) == "recognised",
            col(Lot.id).not_in(select(LotLock.lot_id)),
        )
    ).all()
    found: dict[str, Decimal] = defaultdict(Decimal)
    for code, credits in rows:
        if code:
            found[code] += Decimal(credits)
    return found


def _course_lot(course: SharedCourse, lot_id: str) -> LotFacts:
    """A shared course as the lot its passed result would become."""
    return LotFacts(
        lot_id=lot_id,
        outcome_type="degree_course",
        title=course.title_zh,
        credits=course.credits,
        level=course.level,
        category="degree_course",
        field=course.field or None,
        course_code=course.code,
    )


def _facts(programme: Programme, converted: Decimal) -> ProgrammeFacts:
    return ProgrammeFacts(
        programme_id=programme.id,
        institution_id=programme.institution_id,
        title=programme.title_zh,
        graduation_credits=programme.graduation_credits,
        already_converted_credits=converted,
        already_converted_certificates=0,
    )


def audit(
    session: Session,
    ctx: AppContext,
    who: Principal,
    programme_id: str,
    learner_id: str,
    *,
    suggestions: bool = True,
    today: dt.date | None = None,
) -> Progress:
    """The learner's progress in the programme (module docstring), with suggestions unless asked not.

    Raises: ProgrammeNotFound, Forbidden.
    """
    today = today or dt.date.today()
    programme = catalog.get_programme(session, programme_id)
    may_read_lots = authorise(session, who, programme, learner_id)
    rows, needs = curriculum(session, programme_id)
    by_code = {c.code: c for c in rows}
    figures = {c: CategoryFigures(c) for c in CREDIT_CATEGORIES}
    for need in needs:
        figures[need.category].needed = need.credits
    states = {c.code: "open" for c in rows}
    # earned: the home school's own courses
    for code, credits in _earned(session, programme, learner_id, by_code).items():
        figures[by_code[code].category].earned += credits
        states[code] = "earned"
    # converted: the stored plans of live conversions
    conversions = _live_conversions(session, programme_id, learner_id)
    converted_total = Decimal(0)
    for conversion in conversions:
        converted_total += conversion.credits
        for item in conversion.plan.get("items", []):
            code = str(item.get("destination_code", ""))
            figures[_category(str(item.get("destination_kind", "")), code, by_code)].converted += Decimal(
                str(item.get("credits", "0"))
            )
            if code in states and states[code] == "open":
                states[code] = "converted"
    # planned: live enrolments, planned by the rule engine
    enrolments = [
        e
        for e in courses.list_enrolments(session, Principal(Role.learner, learner_id, None))
        if e.programme_id == programme_id and e.status in LIVE
    ]
    if enrolments:
        shared = {c.id: c for c in catalog.list_shared_courses(session)}
        for enrolment in enrolments:
            course = shared.get(enrolment.course_id)
            if course is None:
                continue
            rule_set = rule_set_for(
                session, ctx, programme.institution_id, today, only=enrolment.equivalence_id
            )
            plan = convert(
                rule_set,
                [_course_lot(course, f"planned-{enrolment.id}")],
                _facts(programme, converted_total),
                as_of=today,
            )
            for item in plan.items:
                figures[
                    _category(item.destination_kind, item.destination_code, by_code)
                ].planned += item.credits
                if item.destination_code in states and states[item.destination_code] == "open":
                    states[item.destination_code] = "planned"
    progress = Progress(
        programme=programme,
        learner_id=learner_id,
        categories=[figures[c] for c in CREDIT_CATEGORIES],
        courses=[CourseState(c, states[c.code]) for c in rows],
        lots_hidden=not may_read_lots,
    )
    if suggestions:
        gaps = {c for c, f in figures.items() if f.missing > 0}
        if gaps:
            progress.suggestions = _suggest(
                session,
                ctx,
                programme,
                learner_id,
                gaps,
                by_code,
                enrolments,
                converted_total,
                may_read_lots,
                today,
            )
    return progress


def _suggest(
    session: Session,
    ctx: AppContext,
    programme: Programme,
    learner_id: str,
    gaps: set[str],
    by_code: dict[str, CurriculumCourse],
    enrolments: Sequence[CourseEnrolment],
    converted: Decimal,
    may_read_lots: bool,
    today: dt.date,
) -> list[Suggestion]:
    found: list[Suggestion] = []

    def keep(kind: str, ref: str, title: str, items: Iterable[ConversionItem]) -> None:
        for item in items:
            category = _category(item.destination_kind, item.destination_code, by_code)
            if category in gaps and sum(1 for s in found if s.kind == kind) < MAX_SUGGESTIONS:
                found.append(Suggestion(kind, ref, title, category, item))

    # 1. the learner's unconverted lots
    if may_read_lots:
        lots = session.exec(
            select(Lot.id)
            .join(Recognition, col(Recognition.outcome_id) == col(Lot.outcome_id))
            .where(
                col(Lot.learner_id) == learner_id,
                col(Recognition.status) == "recognised",
                col(Lot.id).not_in(select(LotLock.lot_id)),
            )
            .order_by(col(Lot.created_at))
        ).all()
        if lots:
            _, plan = plan_conversion(session, ctx, programme, list(lots), today)
            titles = {line.lot_id: line.title for line in plan.lines}
            for item in plan.items:
                keep("lot", ",".join(item.lot_ids), titles.get(item.lot_ids[0], item.lot_ids[0]), [item])
    rule_set = rule_set_for(session, ctx, programme.institution_id, today)
    facts = _facts(programme, converted)
    # 2. shared courses open to the learner
    taken = {e.course_id for e in courses.list_enrolments(session, Principal(Role.learner, learner_id, None))}
    for course in catalog.list_shared_courses(session):
        closed = course.enrolment_deadline is not None and today > course.enrolment_deadline
        if course.id in taken or closed or course.seats_taken >= course.seats:
            continue
        if course.institution_id == programme.institution_id:
            continue
        plan = convert(rule_set, [_course_lot(course, f"course-{course.id}")], facts, as_of=today)
        keep("shared_course", course.id, course.title_zh, plan.items)
    # 3. recognised certificates of the catalogue
    keep_certificates(session, rule_set, facts, today, keep)
    return found


def keep_certificates(
    session: Session, rule_set: RuleSet, facts: ProgrammeFacts, today: dt.date, keep: Any
) -> None:
    """Each certificate of the catalogue in force, at each level, recognised by the rules as if
    achieved today by an issuer of the first kind accredited for its type, then planned."""
    certificate_types = effective_caps(rule_set, today).certificate_types
    for entry in accreditation.in_force(session):
        if entry.outcome_type not in certificate_types:
            continue
        issuer_kind = next(
            (k for k, types in DEFAULT_SCOPE.items() if entry.outcome_type in types), "training_body"
        )
        levels: list[str | None] = list(entry.levels) or [None]
        for level in levels:
            outcome = OutcomeFacts(
                outcome_type=entry.outcome_type,
                title=entry.name_zh,
                achieved_on=today,
                level=level,
                identity_verified=True,
                issuer_kind=issuer_kind,
                attributes={"catalogue_code": entry.code},
            )
            recognition = evaluate(rule_set, outcome, today)
            if recognition.status != "recognised" or recognition.credits is None or recognition.credits <= 0:
                continue
            lot = LotFacts(
                lot_id=f"certificate-{entry.code}",
                outcome_type=entry.outcome_type,
                title=entry.name_zh,
                credits=recognition.credits,
                level=recognition.level or 3,
                outcome_level=level,
                category=recognition.category,
                field=recognition.field,
            )
            plan = convert(rule_set, [lot], facts, as_of=today)
            title = f"{entry.name_zh}（{level}）" if level else entry.name_zh
            keep("certificate", entry.code, title, plan.items)
            if plan.items:
                break  # the lowest level that fills a gap is enough
