"""Shared courses across schools (课程跨校共享): enrolment, approval, acceptance, result, conversion.

How this works
--------------
A *home institution* admits a learner into one of its programmes (:func:`admit`; only a school
that already holds the learner's record may). The learner then asks to enrol in another school's
shared course for that programme (:func:`request_enrolment`):

1. the course must still take enrolments (its deadline not passed) and have a free seat: the seat
   is taken by one conditional ``UPDATE shared_courses SET seats_taken = seats_taken + 1 WHERE
   seats_taken < seats``, so concurrent requests for the last seat serialise on the row and all
   but one find it full (a CHECK on the table backs this up);
2. the learner's consent that the home institution may convert the result is recorded
   (``given_via = 'enrolment'``; its lot is filled in when the result exists).

The home institution approves and names one of its course equivalences (:func:`approve`); the
host accepts only an approved enrolment (:func:`accept`); either may decline while it is theirs to
decide, which frees the seat (:func:`decline`). When the host posts the result
(:func:`post_result`), it goes through the one posting path (rules, ledger) as the host's outcome,
and, when recognised, the home institution's named equivalence converts its lot into the learner's
programme in the same transaction, using up the consent. A consent the learner revoked meanwhile
stops the conversion (the result stays banked in the learner's archive). A result the rules send to
review waits as ``in_review``; the review decision that recognises it converts it the same way, in
the deciding transaction (:mod:`creditbank.catalog.enrolment_results`).

Everyone in the chain sees it (:func:`authorise`): the learner, the home institution, the host,
admins and auditors; anyone else gets ``enrolment-not-found``, so ids cannot be probed.
"""

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import enrolment_results as results
from creditbank.catalog import service as catalog
from creditbank.catalog.models import (
    Consent,
    CourseEnrolment,
    CourseEquivalence,
    ProgrammeLearner,
    SharedCourse,
)
from creditbank.catalog.schemas import EnrolmentResult
from creditbank.context import AppContext
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.institutions import service as institutions
from creditbank.learners.models import LearnerLink
from creditbank.outcomes import service as outcomes
from creditbank.outcomes.schemas import OutcomeCreate


class CourseNotFound(NotFound):
    slug = "course-not-found"
    title = "No such shared course"


class EnrolmentNotFound(NotFound):
    slug = "enrolment-not-found"
    title = "No such enrolment"


class NotInProgramme(Forbidden):
    slug = "not-in-programme"
    title = "The learner is not admitted into this programme"


class LearnerNotHeld(Forbidden):
    slug = "learner-not-held"
    title = "Your institution holds no record of this learner"


class EnrolmentClosed(Conflict):
    slug = "enrolment-closed"
    title = "The enrolment deadline of this course has passed"


class CourseFull(Conflict):
    slug = "course-full"
    title = "Every seat of this course is taken"


class AlreadyEnrolled(Conflict):
    slug = "already-enrolled"
    title = "The learner already asked to enrol in this course"


class EnrolmentState(Conflict):
    slug = "enrolment-state"
    title = "The enrolment is not in a state that allows this"


class NotTheHomeSchool(Forbidden):
    slug = "not-the-home-school"
    title = "Only the learner's home institution may decide this"


class NotTheHost(Forbidden):
    slug = "not-the-host"
    title = "Only the host institution of the course may decide this"


class EquivalenceNotYours(ValidationFailed):
    slug = "equivalence-not-yours"
    title = "The equivalence is not one your institution published"


# -- programme learners --------------------------------------------------------------------------


def admit(session: Session, who: Principal, programme_id: str, learner_id: str) -> ProgrammeLearner:
    """The home institution admits a learner whose record it holds into one of its programmes
    (admitting twice is a no-op).

    Raises: ProgrammeNotFound (not this institution's), LearnerNotHeld.
    """
    programme = catalog.get_programme(session, programme_id)
    if who.role is not Role.institution or programme.institution_id != who.subject:
        raise catalog.ProgrammeNotFound(msg("detail.catalog.no_programme", programme_id=programme_id))
    if session.get(LearnerLink, (learner_id, programme.institution_id)) is None:
        raise LearnerNotHeld(msg("detail.catalog.courses.learner_not_held", learner_id=learner_id))
    row = session.get(ProgrammeLearner, (programme_id, learner_id))
    if row is None:
        row = ProgrammeLearner(programme_id=programme_id, learner_id=learner_id)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # admitted concurrently
            row = session.get(ProgrammeLearner, (programme_id, learner_id)) or row
    return row


def programme_learners(session: Session, who: Principal, programme_id: str) -> list[ProgrammeLearner]:
    """The learners of one of the caller's programmes (admins and auditors: any programme).

    Raises: ProgrammeNotFound.
    """
    programme = catalog.get_programme(session, programme_id)
    if who.role not in (Role.admin, Role.auditor) and (
        who.role is not Role.institution or programme.institution_id != who.subject
    ):
        raise catalog.ProgrammeNotFound(msg("detail.catalog.no_programme", programme_id=programme_id))
    stmt = (
        select(ProgrammeLearner)
        .where(col(ProgrammeLearner.programme_id) == programme_id)
        .order_by(col(ProgrammeLearner.admitted_at), col(ProgrammeLearner.learner_id))
    )
    return list(session.exec(stmt).all())


def programmes_of_learner(session: Session, learner_id: str) -> list[ProgrammeLearner]:
    """The programmes a learner is admitted into (a read already authorised: the learner's own)."""
    stmt = select(ProgrammeLearner).where(col(ProgrammeLearner.learner_id) == learner_id)
    return list(session.exec(stmt.order_by(col(ProgrammeLearner.admitted_at))).all())


# -- courses and enrolments ----------------------------------------------------------------------


def get_course(session: Session, course_id: str) -> SharedCourse:
    """Raises: CourseNotFound."""
    row = session.get(SharedCourse, course_id)
    if row is None or not row.open_to_other_schools:
        raise CourseNotFound(msg("detail.catalog.courses.no_course", course_id=course_id))
    return row


def _take_seat(session: Session, course: SharedCourse) -> None:
    """Raises: CourseFull."""
    stmt = (
        update(SharedCourse)
        .where(col(SharedCourse.id) == course.id, col(SharedCourse.seats_taken) < col(SharedCourse.seats))
        .values(seats_taken=col(SharedCourse.seats_taken) + 1)
    )
    result: CursorResult[tuple[()]] = session.execute(stmt)  # type: ignore[assignment]
    if result.rowcount != 1:
        raise CourseFull(msg("detail.catalog.courses.course_full", code=course.code, seats=course.seats))
    session.refresh(course)


def _free_seat(session: Session, course_id: str) -> None:
    session.execute(
        update(SharedCourse)
        .where(col(SharedCourse.id) == course_id, col(SharedCourse.seats_taken) > 0)
        .values(seats_taken=col(SharedCourse.seats_taken) - 1)
    )


def request_enrolment(
    session: Session,
    who: Principal,
    *,
    course_id: str,
    programme_id: str,
    learner_id: str | None = None,
    today: dt.date | None = None,
) -> CourseEnrolment:
    """A learner asks to enrol in a shared course for one of their programmes (steps in the module
    docstring).

    Raises: Forbidden (someone else's enrolment), CourseNotFound, NotInProgramme, EnrolmentClosed,
    AlreadyEnrolled, CourseFull.
    """
    if who.role is not Role.learner or not who.subject or (learner_id and learner_id != who.subject):
        raise Forbidden(msg("detail.catalog.courses.learner_enrols_only_self"))
    learner = who.subject
    course = get_course(session, course_id)
    today = today or dt.date.today()
    if course.enrolment_deadline is not None and today > course.enrolment_deadline:
        raise EnrolmentClosed(
            msg(
                "detail.catalog.courses.enrolment_closed",
                code=course.code,
                deadline=course.enrolment_deadline.isoformat(),
            )
        )
    programme = catalog.get_programme(session, programme_id)
    if session.get(ProgrammeLearner, (programme_id, learner)) is None:
        raise NotInProgramme(msg("detail.catalog.courses.not_in_programme", programme_id=programme_id))
    enrolment_id = random_id("enr")
    consent = Consent(
        id=random_id("cns"),
        learner_id=learner,
        destination_institution_id=programme.institution_id,
        lot_ids=[],
        given_via="enrolment",
    )
    row = CourseEnrolment(
        id=enrolment_id,
        course_id=course.id,
        learner_id=learner,
        programme_id=programme.id,
        home_institution_id=programme.institution_id,
        host_institution_id=course.institution_id,
        consent_id=consent.id,
    )
    try:
        with session.begin_nested():
            session.add(consent)
            session.flush()
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise AlreadyEnrolled(msg("detail.catalog.courses.already_enrolled", code=course.code)) from exc
    _take_seat(session, course)
    return row


def get_enrolment(session: Session, enrolment_id: str, *, lock: bool = False) -> CourseEnrolment:
    """Raises: EnrolmentNotFound."""
    stmt = select(CourseEnrolment).where(col(CourseEnrolment.id) == enrolment_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.exec(stmt.execution_options(populate_existing=True)).first()
    if row is None:
        raise EnrolmentNotFound(msg("detail.catalog.courses.no_enrolment", enrolment_id=enrolment_id))
    return row


def authorise(who: Principal, row: CourseEnrolment) -> None:
    """The learner, the home institution, the host, admins and auditors see an enrolment.

    Raises: EnrolmentNotFound (to everyone else)."""
    if who.role in (Role.admin, Role.auditor):
        return
    if who.role is Role.learner and who.subject == row.learner_id:
        return
    if who.role is Role.institution and who.subject in (row.home_institution_id, row.host_institution_id):
        return
    raise EnrolmentNotFound(msg("detail.catalog.courses.no_enrolment", enrolment_id=row.id))


def read(session: Session, who: Principal, enrolment_id: str) -> CourseEnrolment:
    """Raises: EnrolmentNotFound."""
    row = get_enrolment(session, enrolment_id)
    authorise(who, row)
    return row


def list_enrolments(
    session: Session, who: Principal, *, course_id: str | None = None, limit: int = 500
) -> list[CourseEnrolment]:
    """The enrolments the caller may see, newest first: a learner's own, an institution's as home
    or host, all for admins and auditors (none for reviewers)."""
    stmt = select(CourseEnrolment).order_by(col(CourseEnrolment.created_at).desc(), col(CourseEnrolment.id))
    if who.role is Role.learner:
        stmt = stmt.where(col(CourseEnrolment.learner_id) == who.subject)
    elif who.role is Role.institution:
        stmt = stmt.where(
            or_(
                col(CourseEnrolment.home_institution_id) == who.subject,
                col(CourseEnrolment.host_institution_id) == who.subject,
            )
        )
    elif who.role not in (Role.admin, Role.auditor):
        return []
    if course_id:
        stmt = stmt.where(col(CourseEnrolment.course_id) == course_id)
    return list(session.exec(stmt.limit(limit)).all())


ENROLMENT_STATES = ("requested", "approved", "accepted", "completed", "declined")


def institution_enrolments(
    session: Session,
    who: Principal,
    *,
    side: str,
    status: str = "",
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[CourseEnrolment], int]:
    """The registrar's list: the caller's enrolments as the learner's home institution (``side =
    "home"``) or as the course's host (``"host"``), of one state or all, newest first; one page
    of them and how many there are. Anyone but an institution: none."""
    if who.role is not Role.institution or not who.subject:
        return [], 0
    column = CourseEnrolment.home_institution_id if side == "home" else CourseEnrolment.host_institution_id
    where = [col(column) == who.subject]
    if status in ENROLMENT_STATES:
        where.append(col(CourseEnrolment.status) == status)
    total = session.exec(select(func.count()).select_from(CourseEnrolment).where(*where)).one()
    stmt = (
        select(CourseEnrolment)
        .where(*where)
        .order_by(col(CourseEnrolment.created_at).desc(), col(CourseEnrolment.id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(stmt).all()), int(total)


def _decided(session: Session, who: Principal, enrolment_id: str, *, home: bool) -> CourseEnrolment:
    """The enrolment, locked, if the caller is its home institution (``home``) or its host.

    Raises: EnrolmentNotFound, NotTheHomeSchool, NotTheHost."""
    row = get_enrolment(session, enrolment_id, lock=True)
    authorise(who, row)
    if home and (who.role is not Role.institution or who.subject != row.home_institution_id):
        raise NotTheHomeSchool(msg("detail.catalog.courses.not_home_school", enrolment_id=enrolment_id))
    if not home and (who.role is not Role.institution or who.subject != row.host_institution_id):
        raise NotTheHost(msg("detail.catalog.courses.not_host", enrolment_id=enrolment_id))
    return row


def _expect(row: CourseEnrolment, *states: str) -> None:
    if row.status not in states:
        raise EnrolmentState(
            msg("detail.catalog.courses.wrong_state", enrolment_id=row.id, status=row.status)
        )


def approve(session: Session, who: Principal, enrolment_id: str, equivalence_id: str) -> CourseEnrolment:
    """The home institution approves a requested enrolment and names the equivalence of its own
    that will convert the result.

    Raises: EnrolmentNotFound, NotTheHomeSchool, EnrolmentState, EquivalenceNotYours.
    """
    row = _decided(session, who, enrolment_id, home=True)
    _expect(row, "requested")
    equivalence = session.get(CourseEquivalence, equivalence_id)
    if equivalence is None or equivalence.institution_id != row.home_institution_id:
        raise EquivalenceNotYours(
            msg("detail.catalog.courses.equivalence_not_yours", equivalence_id=equivalence_id)
        )
    row.status, row.equivalence_id, row.approved_at = "approved", equivalence.id, utcnow()
    session.add(row)
    session.flush()
    return row


def accept(session: Session, who: Principal, enrolment_id: str) -> CourseEnrolment:
    """The host accepts an enrolment its learner's home institution approved.

    Raises: EnrolmentNotFound, NotTheHost, EnrolmentState (not approved, or decided already).
    """
    row = _decided(session, who, enrolment_id, home=False)
    _expect(row, "approved")
    row.status, row.accepted_at = "accepted", utcnow()
    session.add(row)
    session.flush()
    return row


def decline(session: Session, who: Principal, enrolment_id: str, reason: str) -> CourseEnrolment:
    """The home institution declines a request, or the host an approved enrolment; the seat is freed.

    Raises: EnrolmentNotFound, NotTheHomeSchool, NotTheHost, EnrolmentState.
    """
    peek = read(session, who, enrolment_id)
    home = (
        who.role is Role.institution
        and who.subject == peek.home_institution_id
        and peek.status == "requested"
    )
    row = _decided(session, who, enrolment_id, home=home)
    _expect(row, "requested" if home else "approved")
    row.status, row.reason, row.declined_at = "declined", reason, utcnow()
    session.add(row)
    session.flush()
    _free_seat(session, row.course_id)
    return row


def post_result(
    session: Session, ctx: AppContext, who: Principal, enrolment_id: str, body: EnrolmentResult
) -> CourseEnrolment:
    """The host posts the learner's result; when the rules recognise it, the home institution's
    named equivalence converts it into the learner's programme under the enrolment's consent.

    Raises: EnrolmentNotFound, NotTheHost, EnrolmentState, and what posting an outcome raises.
    """
    row = _decided(session, who, enrolment_id, home=False)
    _expect(row, "accepted")
    course = session.get(SharedCourse, row.course_id)
    assert course is not None  # a foreign key
    host = institutions.get(session, row.host_institution_id)
    # 1. the result, posted by the host through the one posting path (rules, ledger)
    posted = outcomes.post_one(
        session,
        ctx,
        host,
        OutcomeCreate(
            learner_id=row.learner_id,
            reference=f"shared-course:{row.id}",
            outcome_type="degree_course",
            title=course.title_zh,
            achieved_on=body.achieved_on,
            score=body.score,
            grade=body.grade,
            field=course.field or None,
            course_code=course.code,
            identity_verified=True,
            attributes={"credits": format(course.credits.normalize(), "f"), "framework_level": course.level},
        ),
    )
    row.status, row.completed_at = "completed", utcnow()
    row.outcome_id = posted.outcome.id if posted.outcome else None
    recognition = posted.recognition
    row.lot_id = recognition.lot_id if recognition is not None else None
    if recognition is None or recognition.status != "recognised" or row.lot_id is None:
        row.result = (
            "in_review" if recognition is not None and recognition.status == "review" else "not_recognised"
        )
    else:
        row.result, row.conversion_id = results.convert(session, ctx, row, body.achieved_on)
    session.add(row)
    session.flush()
    return row


def conversion_credits(session: Session, rows: list[CourseEnrolment]) -> dict[str, Decimal]:
    """The credits each converted enrolment counted towards its programme, by enrolment id (a read
    already authorised: the enrolments were listed for the reader)."""
    ids = [r.conversion_id for r in rows if r.conversion_id]
    found = catalog.conversions_by_id(session, ids)
    return {r.id: found[r.conversion_id].credits for r in rows if r.conversion_id in found}
