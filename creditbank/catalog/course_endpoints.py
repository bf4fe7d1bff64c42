"""Shared courses across schools: programme learners and enrolments (:mod:`creditbank.catalog.courses`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from creditbank.auth.deps import AnyRole, InstitutionOnly, InstitutionOrAdmin, LearnerOnly, Public
from creditbank.catalog import courses, progress
from creditbank.catalog import service as catalog
from creditbank.catalog.models import CourseEnrolment, CurriculumCourse, Programme, ProgrammeRequirement
from creditbank.catalog.schemas import (
    CategoryProgressPublic,
    CourseProgressPublic,
    CurriculumCourseIn,
    CurriculumIn,
    CurriculumPublic,
    EnrolmentApprove,
    EnrolmentCreate,
    EnrolmentDecline,
    EnrolmentPublic,
    EnrolmentResult,
    ProgrammeLearnerCreate,
    ProgrammeLearnerPublic,
    ProgressPublic,
    SuggestionPublic,
)
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.outcomes import idempotent

router = APIRouter(prefix="/api/v1", tags=["shared courses"])


def _public(row: CourseEnrolment) -> EnrolmentPublic:
    return EnrolmentPublic.model_validate(row, from_attributes=True)


@router.post(
    "/programmes/{programme_id}/learners",
    status_code=status.HTTP_201_CREATED,
    response_model=ProgrammeLearnerPublic,
)
def admit_learner(
    programme_id: str,
    body: ProgrammeLearnerCreate,
    session: SessionDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Admit a learner whose record your institution holds into one of your programmes (their home
    institution). Needs an `Idempotency-Key`."""

    def work() -> tuple[int, ProgrammeLearnerPublic]:
        row = courses.admit(session, who, programme_id, body.learner_id)
        return 201, ProgrammeLearnerPublic.model_validate(row, from_attributes=True)

    path = f"/api/v1/programmes/{programme_id}/learners"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


@router.get("/programmes/{programme_id}/learners", response_model=list[ProgrammeLearnerPublic])
def list_programme_learners(
    programme_id: str, session: SessionDep, who: InstitutionOrAdmin
) -> list[ProgrammeLearnerPublic]:
    """The learners admitted into one of your programmes (admins: any)."""
    return [
        ProgrammeLearnerPublic.model_validate(r, from_attributes=True)
        for r in courses.programme_learners(session, who, programme_id)
    ]


@router.post(
    "/shared-courses/{course_id}/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentPublic,
)
def request_enrolment(
    course_id: str,
    body: EnrolmentCreate,
    session: SessionDep,
    who: LearnerOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Ask to enrol in another school's shared course for one of your programmes: a seat is held
    (409 `course-full` when none is left; 409 `enrolment-closed` after the deadline) and your consent
    that your home institution may convert the result is recorded. Needs an `Idempotency-Key`."""

    def work() -> tuple[int, EnrolmentPublic]:
        row = courses.request_enrolment(
            session, who, course_id=course_id, programme_id=body.programme_id, learner_id=body.learner_id
        )
        return 201, _public(row)

    path = f"/api/v1/shared-courses/{course_id}/enrolments"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


@router.get("/enrolments", response_model=list[EnrolmentPublic])
def list_enrolments(
    session: SessionDep,
    who: AnyRole,
    course_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[EnrolmentPublic]:
    """Enrolments in shared courses: a learner's own; an institution's as home or host; all for
    admins and auditors; none for reviewers."""
    return [_public(r) for r in courses.list_enrolments(session, who, course_id=course_id)]


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentPublic)
def get_enrolment(enrolment_id: str, session: SessionDep, who: AnyRole) -> EnrolmentPublic:
    """One enrolment and its chain (its learner, home institution, host, admins, auditors)."""
    return _public(courses.read(session, who, enrolment_id))


@router.post("/enrolments/{enrolment_id}/approve", response_model=EnrolmentPublic)
def approve_enrolment(
    enrolment_id: str,
    body: EnrolmentApprove,
    session: SessionDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Home institution only: approve a request and name your equivalence that will convert the
    result. Needs an `Idempotency-Key`."""

    def work() -> tuple[int, EnrolmentPublic]:
        return 200, _public(courses.approve(session, who, enrolment_id, body.equivalence_id))

    path = f"/api/v1/enrolments/{enrolment_id}/approve"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


@router.post("/enrolments/{enrolment_id}/accept", response_model=EnrolmentPublic)
def accept_enrolment(
    enrolment_id: str, session: SessionDep, who: InstitutionOnly, idempotency_key: IdempotencyKey = None
) -> Any:
    """Host only: accept an enrolment the learner's home institution approved (409 `enrolment-state`
    otherwise). Needs an `Idempotency-Key`."""

    def work() -> tuple[int, EnrolmentPublic]:
        return 200, _public(courses.accept(session, who, enrolment_id))

    return idempotent.post(
        session, who, idempotency_key, f"/api/v1/enrolments/{enrolment_id}/accept", {}, work
    )


@router.post("/enrolments/{enrolment_id}/decline", response_model=EnrolmentPublic)
def decline_enrolment(
    enrolment_id: str,
    body: EnrolmentDecline,
    session: SessionDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The home institution declines a request, or the host an approved enrolment, with a reason;
    the seat is freed. Needs an `Idempotency-Key`."""

    def work() -> tuple[int, EnrolmentPublic]:
        return 200, _public(courses.decline(session, who, enrolment_id, body.reason))

    path = f"/api/v1/enrolments/{enrolment_id}/decline"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


@router.post("/enrolments/{enrolment_id}/result", response_model=EnrolmentPublic)
def post_result(
    enrolment_id: str,
    body: EnrolmentResult,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Host only: post the learner's result of an accepted enrolment. It is recognised by the rules
    like any posted outcome and, when recognised, converted at once into the learner's programme
    by the equivalence the home institution named, under the consent given at enrolment. Needs an
    `Idempotency-Key`."""

    def work() -> tuple[int, EnrolmentPublic]:
        return 200, _public(courses.post_result(session, ctx, who, enrolment_id, body))

    path = f"/api/v1/enrolments/{enrolment_id}/result"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


# -- curricula and the graduation audit (学业进度) -------------------------------------------------


def _curriculum(
    programme: Programme, rows: list[CurriculumCourse], needs: list[ProgrammeRequirement]
) -> CurriculumPublic:
    return CurriculumPublic(
        programme_id=programme.id,
        graduation_credits=programme.graduation_credits,
        courses=[CurriculumCourseIn.model_validate(r, from_attributes=True) for r in rows],
        requirements={n.category: n.credits for n in needs},
    )


@router.put("/programmes/{programme_id}/curriculum", response_model=CurriculumPublic)
def set_curriculum(
    programme_id: str, body: CurriculumIn, session: SessionDep, who: InstitutionOnly
) -> CurriculumPublic:
    """Replace the curriculum of one of your programmes: its courses, each in a credit category
    (required, major, general, elective), and the credits needed in each category to graduate."""
    return _curriculum(*progress.set_curriculum(session, who, programme_id, body))


@router.get("/programmes/{programme_id}/curriculum", response_model=CurriculumPublic, dependencies=[Public])
def get_curriculum(programme_id: str, session: SessionDep) -> CurriculumPublic:
    """A programme's curriculum and graduation requirements (public)."""
    programme = catalog.get_programme(session, programme_id)
    return _curriculum(programme, *progress.curriculum(session, programme_id))


def progress_public(found: progress.Progress) -> ProgressPublic:
    return ProgressPublic(
        programme_id=found.programme.id,
        learner_id=found.learner_id,
        graduation_credits=found.programme.graduation_credits,
        categories=[
            CategoryProgressPublic(
                category=f.category,
                needed=f.needed,
                earned=f.earned,
                converted=f.converted,
                planned=f.planned,
                missing=f.missing,
            )
            for f in found.categories
        ],
        courses=[
            CourseProgressPublic.model_validate({**c.course.model_dump(), "state": c.state})
            for c in found.courses
        ],
        suggestions=[
            SuggestionPublic(
                kind=s.kind,
                ref=s.ref,
                title=s.title,
                category=s.category,
                destination_code=s.item.destination_code,
                destination_title_zh=s.item.destination_title.zh,
                destination_title_en=s.item.destination_title.en,
                credits=s.item.credits,
                rule_id=s.item.rule_id,
            )
            for s in found.suggestions
        ],
        lots_hidden=found.lots_hidden,
    )


@router.get("/programmes/{programme_id}/progress/{learner_id}", response_model=ProgressPublic)
def learner_progress(
    programme_id: str, learner_id: str, session: SessionDep, ctx: ContextDep, who: AnyRole
) -> ProgressPublic:
    """学业进度: per credit category, the credits a learner earned, converted, planned (live shared-course
    enrolments) and still misses, each curriculum course's state, and what would fill the gaps (the
    learner's unconverted lots, open shared courses, recognised certificates), as the rule engine's
    equivalences plan them. The learner reads their own; the programme's institution its admitted
    learners (suggestions from the learner's lots only under their grant); admins and auditors any."""
    return progress_public(progress.audit(session, ctx, who, programme_id, learner_id))


@router.get("/programmes/{programme_id}/progress", response_model=list[ProgressPublic])
def programme_progress(
    programme_id: str, session: SessionDep, ctx: ContextDep, who: InstitutionOrAdmin
) -> list[ProgressPublic]:
    """The registrar's view: the progress of every learner admitted into one of your programmes
    (figures and course states; no suggestions)."""
    return [
        progress_public(progress.audit(session, ctx, who, programme_id, row.learner_id, suggestions=False))
        for row in courses.programme_learners(session, who, programme_id)
    ]
