"""The API of appeals (申诉/复核): the learner appeals a rejection or a recognition's credits with a
statement and evidence; a city centre reviewer who took no part in the decision decides it. See
:mod:`creditbank.applications.appeals`."""

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field
from sqlmodel import Session

from creditbank.applications import appeals
from creditbank.applications.schemas import EvidencePublic
from creditbank.applications.views import read_files
from creditbank.auth.deps import LearnerOnly, LearnerOrReviewer, ReviewerOnly
from creditbank.auth.models import Role
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.i18n import msg
from creditbank.limits import APPLICATION, body_limit
from creditbank.outcomes import idempotent, review
from creditbank.outcomes.models import Appeal
from creditbank.request_models import REQUEST_BODY

router = APIRouter(prefix="/api/v1/appeals", tags=["appeals"])


class AppealPublic(BaseModel):
    id: str = Field(description="apc_...")
    outcome_id: str
    learner_id: str
    statement: str
    was: str = Field(description="the decision appealed: recognised or rejected")
    status: str = Field(description="open, upheld or changed")
    credits_before: Decimal
    credits_after: Decimal | None
    decided_by: str | None = Field(description="the reviewer account that decided")
    reason: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime
    evidence: list[EvidencePublic]
    ledger: list[str] = Field(default_factory=list, description="journal transactions of the decision")


class AppealDecisionRequest(BaseModel):
    model_config = REQUEST_BODY

    decision: Literal["uphold", "change"] = Field(
        description="uphold: the decision stands; change: the credits become `credits`"
    )
    reason: str = Field(
        min_length=2, max_length=500, description="why; recorded in the ledger (no personal data)"
    )
    credits: Decimal | None = Field(
        None, gt=0, le=100, max_digits=6, decimal_places=1, description="the credits after a change"
    )


def appeal_public(session: Session, appeal: Appeal, txs: list[str] | None = None) -> AppealPublic:
    return AppealPublic(
        id=appeal.id,
        outcome_id=appeal.outcome_id,
        learner_id=appeal.learner_id,
        statement=appeal.statement,
        was=appeal.was,
        status=appeal.status,
        credits_before=appeal.credits_before,
        credits_after=appeal.credits_after,
        decided_by=appeal.decided_by,
        reason=appeal.reason,
        decided_at=appeal.decided_at,
        created_at=appeal.created_at,
        evidence=[
            EvidencePublic(
                id=f.id,
                filename=f.filename,
                media_type=f.media_type,
                size=f.size,
                sha256=f.sha256,
                round=f.round,
                url=f"/appeals/{appeal.id}/evidence/{f.id}",
                created_at=f.created_at,
            )
            for f in appeals.files_of(session, appeal.id)
        ],
        ledger=txs or [],
    )


@router.post("", response_model=AppealPublic, status_code=201, openapi_extra=body_limit(APPLICATION))
async def appeal(
    session: SessionDep,
    ctx: ContextDep,
    who: LearnerOnly,
    outcome_id: Annotated[str, Form(max_length=40, description="the outcome whose decision you appeal")],
    statement: Annotated[str, Form(max_length=2000, description="why you appeal")],
    files: Annotated[list[UploadFile], File(description="evidence: PDF, JPEG or PNG")],
) -> AppealPublic:
    """Appeal a rejection or a recognition's credits within the appeal period (default 30 days from
    the decision), with a statement and evidence files (checked like an application's). One appeal
    per outcome (409 `duplicate-appeal`); after the period a 409 `appeal-period-over`."""
    checked = await read_files(files, ctx.settings)
    done = appeals.file_appeal(session, ctx, who.subject or "", outcome_id, statement, checked)
    return appeal_public(session, done.appeal)


@router.get("", response_model=list[AppealPublic])
def list_appeals(session: SessionDep, who: LearnerOrReviewer) -> list[AppealPublic]:
    """A learner's own appeals; for a city centre reviewer, the open appeals, oldest first."""
    if who.role is Role.learner:
        return [appeal_public(session, a) for a in appeals.of_learner(session, who.subject or "")]
    reviewer = review.reviewer_of(session, who)
    if reviewer.district is not None:
        raise appeals.AppealCityCentreOnly(msg("detail.appeals.city_centre_only", district=reviewer.district))
    return [appeal_public(session, a) for a in appeals.open_appeals(session)]


@router.get("/{appeal_id}", response_model=AppealPublic)
def get_appeal(appeal_id: str, session: SessionDep, who: LearnerOrReviewer) -> AppealPublic:
    """One appeal with its evidence, for its learner and the city centre's reviewers."""
    return appeal_public(session, appeals.authorise(session, who, appeal_id))


@router.post("/{appeal_id}/decision", response_model=AppealPublic)
def decide(
    appeal_id: str,
    body: AppealDecisionRequest,
    session: SessionDep,
    who: ReviewerOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Decide an appeal: uphold the decision, or change the credits (a recognition's lot is reversed
    and a new one of the new credits recorded; a rejected outcome is recognised). Only a city centre
    reviewer who took no part in the decision (403 `appeal-reviewer-took-part`). Needs an
    `Idempotency-Key`."""
    reviewer = review.reviewer_of(session, who)

    def work() -> tuple[int, AppealPublic]:
        done = appeals.decide_appeal(
            session,
            appeal_id,
            reviewer=reviewer,
            decision=body.decision,
            reason=body.reason,
            credits=body.credits,
        )
        return 200, appeal_public(session, done.appeal, [tx.id for tx in done.ledger])

    return idempotent.run(
        session,
        who,
        idempotency_key,
        method="POST",
        path=f"/api/v1/appeals/{appeal_id}/decision",
        request=body.model_dump(mode="json"),
        work=work,
    )
