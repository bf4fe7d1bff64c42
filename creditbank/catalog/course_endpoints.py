"""Shared courses across schools: programme learners and enrolments (:mod:`creditbank.catalog.courses`)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from creditbank.auth.deps import AnyRole, InstitutionOnly, InstitutionOrAdmin, LearnerOnly
from creditbank.catalog import courses
from creditbank.catalog.models import CourseEnrolment
from creditbank.catalog.schemas import (
    EnrolmentApprove,
    EnrolmentCreate,
    EnrolmentDecline,
    EnrolmentPublic,
    EnrolmentResult,
    ProgrammeLearnerCreate,
    ProgrammeLearnerPublic,
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
