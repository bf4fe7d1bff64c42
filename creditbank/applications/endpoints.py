"""The API of applications for recognition: a verified learner files one with evidence files
(multipart), reads their own, and resubmits one returned for more material; the reviewers of its
stage read it. Review decisions are taken at ``/api/v1/reviews/{outcome_id}/decision`` like any
review (``return`` sends an application back to the learner). See :mod:`.service`."""

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from creditbank.applications import service
from creditbank.applications.schemas import ApplicationPublic, ApplicationSummary
from creditbank.applications.views import Text, application_public, claim_of, read_files, state_of
from creditbank.auth.deps import LearnerOnly, LearnerOrReviewer
from creditbank.deps import ContextDep, SessionDep
from creditbank.limits import APPLICATION, body_limit
from creditbank.outcomes.schemas import OutcomeTypeName

router = APIRouter(prefix="/api/v1/applications", tags=["applications"])


Short = Annotated[str, Form(max_length=120)]


@router.post("", response_model=ApplicationPublic, status_code=201, openapi_extra=body_limit(APPLICATION))
async def apply(
    session: SessionDep,
    ctx: ContextDep,
    who: LearnerOnly,
    outcome_type: Annotated[OutcomeTypeName, Form(description="kind of outcome")],
    title: Text,
    achieved_on: Annotated[str, Form(max_length=40, description="date achieved, YYYY-MM-DD")],
    issuer_kind: Annotated[
        str, Form(max_length=40, description="who issued it: " + ", ".join(service.ISSUER_KINDS))
    ],
    files: Annotated[list[UploadFile], File(description="evidence: PDF, JPEG or PNG files")],
    issuer_name: Annotated[str, Form(max_length=200)] = "",
    district: Annotated[
        str,
        Form(
            max_length=40,
            description="deprecated, may be left out: the application goes to your own district's "
            "sub-centre (your account's district); naming another is a 403",
        ),
    ] = "",
    hours: Annotated[str, Form(max_length=20, description="study hours (学时)")] = "",
    level: Annotated[str, Form(max_length=40, description="certificate, award or exam level")] = "",
    score: Annotated[str, Form(max_length=20, description="score")] = "",
    grade: Annotated[str, Form(max_length=40)] = "",
    field: Annotated[str, Form(max_length=120, description="field or trade")] = "",
    course_code: Annotated[str, Form(max_length=60, description="course code")] = "",
    credits: Annotated[str, Form(max_length=20, description="credits of the course or diploma")] = "",
    competition_id: Short = "",
    award_tier: Annotated[str, Form(max_length=20, description="一等奖, 二等奖 or 三等奖")] = "",
    years: Annotated[str, Form(max_length=20, description="years of work experience")] = "",
    certificate_number: Annotated[str, Form(max_length=60)] = "",
    identity_verified: Annotated[
        str,
        Form(
            max_length=3,
            description="a MOOC: did its platform verify your identity at the assessment (实名认证)? yes/no",
        ),
    ] = "",
    statement: Annotated[str, Form(max_length=2000, description="a note to the reviewers")] = "",
) -> ApplicationPublic:
    """Apply for the recognition of an outcome of your own, with evidence files (PDF, JPEG, PNG;
    checked by content; size limits per file and per application). Each outcome type has its own
    fields (`GET /applications/new?type=...` shows them; a required one missing is a 422, a field of
    another type is ignored). It goes to review at your own district's sub-centre (the district
    your account was opened in), then the city centre. A second application for the same outcome is
    a 409 `duplicate-application`; a file that is not what it claims a 422 `evidence-type-mismatch`
    or `evidence-unreadable`, another type a 415, too large a 413. Nothing is kept of a refused
    application. Verified learners only."""
    given = {
        "hours": hours,
        "level": level,
        "score": score,
        "grade": grade,
        "field": field,
        "course_code": course_code,
        "credits": credits,
        "competition_id": competition_id,
        "award_tier": award_tier,
        "years": years,
        "certificate_number": certificate_number,
        "identity_verified": identity_verified,
    }
    claim = claim_of(
        outcome_type=outcome_type,
        title=title,
        achieved_on=achieved_on,
        issuer_kind=issuer_kind,
        issuer_name=issuer_name,
        statement=statement,
        district=district,
        given=given,
    )
    checked = await read_files(files, ctx.settings)
    filed = service.submit(session, ctx, who.subject or "", claim, checked)
    return application_public(session, filed.application, filed.outcome, filed.recognition)


@router.get("", response_model=list[ApplicationSummary])
def my_applications(session: SessionDep, who: LearnerOnly) -> list[ApplicationSummary]:
    """Your applications, newest first."""
    return [
        ApplicationSummary(
            id=a.id,
            outcome_id=o.id,
            title=o.title,
            state=state_of(r),
            credits=r.credits,
            created_at=a.created_at,
        )
        for a, o, r in service.of_learner(session, who.subject or "")
    ]


@router.get("/{application_id}", response_model=ApplicationPublic)
def get_application(application_id: str, session: SessionDep, who: LearnerOrReviewer) -> ApplicationPublic:
    """One application with its evidence and history: for the learner who filed it, and for the
    reviewers whose scope covers it at its current stage (a district sub-centre's reviewers: their
    district's applications at the district stage; 403 otherwise). Another learner's is a 404."""
    application, outcome, rec = service.authorise(session, who, application_id)
    return application_public(session, application, outcome, rec)


@router.post(
    "/{application_id}/resubmission", response_model=ApplicationPublic, openapi_extra=body_limit(APPLICATION)
)
async def resubmit(
    application_id: str,
    session: SessionDep,
    ctx: ContextDep,
    who: LearnerOnly,
    files: Annotated[list[UploadFile], File(description="the further evidence asked for")],
    note: Annotated[str, Form(max_length=2000, description="what you add, in your words")] = "",
) -> ApplicationPublic:
    """Send the material a reviewer asked for when returning the application: it starts again at
    the district stage, its history kept. Only a returned application (409 otherwise)."""
    checked = await read_files(files, ctx.settings)
    filed = service.resubmit(session, ctx, who.subject or "", application_id, note, checked)
    return application_public(session, filed.application, filed.outcome, filed.recognition)
