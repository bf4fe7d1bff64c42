"""What the shared-course page (``/courses``) and the registrar's enrolment lists
(``/console/enrolments``) show over the catalogue's services (no queries)."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import courses
from creditbank.catalog import service as catalog
from creditbank.catalog.models import CourseEnrolment, CourseEquivalence, Programme, SharedCourse
from creditbank.learners import service as learners
from creditbank.web.views import Names, institution_names


@dataclass(frozen=True)
class CourseRow:
    course: SharedCourse
    seats_left: int
    closed: bool  # the enrolment deadline has passed
    mine: CourseEnrolment | None  # the learner's enrolment in it, if any


@dataclass(frozen=True)
class EnrolmentRow:
    enrolment: CourseEnrolment
    course: SharedCourse | None
    programme: Programme | None
    counted: Decimal | None  # credits the conversion counted towards the programme


@dataclass(frozen=True)
class CoursesPage:
    courses: list[CourseRow]
    programmes: list[Programme]  # the learner's programmes (to enrol for)
    enrolments: list[EnrolmentRow]
    names: Names


def courses_page(session: Session, who: Principal | None, today: dt.date | None = None) -> CoursesPage:
    """The catalogue of shared courses; for a signed-in learner also their programmes and their
    enrolments with the chain each left."""
    today = today or dt.date.today()
    published = catalog.list_shared_courses(session)
    learner = who.subject if who is not None and who.role is Role.learner else None
    enrolments = courses.list_enrolments(session, who) if learner and who else []
    by_course = {e.course_id: e for e in enrolments}
    rows = [
        CourseRow(
            course=c,
            seats_left=max(c.seats - c.seats_taken, 0),
            closed=c.enrolment_deadline is not None and today > c.enrolment_deadline,
            mine=by_course.get(c.id),
        )
        for c in published
    ]
    admitted = courses.programmes_of_learner(session, learner) if learner else []
    programmes = catalog.programmes_by_id(
        session, [a.programme_id for a in admitted] + [e.programme_id for e in enrolments]
    )
    course_by_id = {c.id: c for c in published}
    counted = courses.conversion_credits(session, enrolments)
    names = institution_names(
        session,
        [c.institution_id for c in published] + [p.institution_id for p in programmes.values()],
    )
    return CoursesPage(
        courses=rows,
        programmes=[programmes[a.programme_id] for a in admitted if a.programme_id in programmes],
        enrolments=[
            EnrolmentRow(e, course_by_id.get(e.course_id), programmes.get(e.programme_id), counted.get(e.id))
            for e in enrolments
        ],
        names=names,
    )


@dataclass(frozen=True)
class RegistrarEnrolments:
    """One page of the registrar's enrolment list (``/console/enrolments``)."""

    side: str  # home or host
    status: str  # one state, or "" for all
    rows: list[EnrolmentRow]
    total: int
    offset: int
    per_page: int
    equivalences: list[CourseEquivalence]  # the home school's, to name when approving
    names: Names
    learner_names: dict[str, str]  # only those the institution may read now


def registrar_enrolments(
    session: Session,
    who: Principal,
    master_key: bytes,
    *,
    side: str,
    status: str,
    offset: int,
    per_page: int = 50,
) -> RegistrarEnrolments:
    """The institution's enrolments as home or host, a page of them, with what the forms need."""
    found, total = courses.institution_enrolments(
        session, who, side=side, status=status, offset=offset, limit=per_page
    )
    published = {c.id: c for c in catalog.list_shared_courses(session)}
    programmes = catalog.programmes_by_id(session, [e.programme_id for e in found])
    counted = courses.conversion_credits(session, found)
    names = institution_names(
        session, [e.host_institution_id for e in found] + [e.home_institution_id for e in found]
    )
    learner_names = learners.names_an_institution_may_read(
        session, master_key, who, [e.learner_id for e in found], "name (enrolment list)"
    )
    return RegistrarEnrolments(
        side=side,
        status=status,
        rows=[
            EnrolmentRow(e, published.get(e.course_id), programmes.get(e.programme_id), counted.get(e.id))
            for e in found
        ],
        total=total,
        offset=offset,
        per_page=per_page,
        equivalences=catalog.list_equivalences(session, who.subject or "") if side == "home" else [],
        names=names,
        learner_names=learner_names,
    )
