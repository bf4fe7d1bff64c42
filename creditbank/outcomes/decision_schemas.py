"""Request and response shapes for what happens to an outcome after it was posted: review decisions,
revocations and corrections."""

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from creditbank.outcomes.schemas import LedgerRef, OutcomePublic
from creditbank.request_models import REQUEST_BODY

ReviewStageName = Literal["district", "city"]
DecisionName = Literal["approve", "reject", "return"]


class ReviewDecisionRequest(BaseModel):
    """A reviewer's decision on an outcome waiting in the review queue."""

    model_config = REQUEST_BODY

    decision: DecisionName = Field(
        description="approve: district moves the outcome to the city stage, city recognises it; "
        "reject: the outcome is not recognised; return: (a learner's application only) back to the "
        "learner for more material, the reason saying what is missing"
    )
    reason: str = Field(
        min_length=2,
        max_length=500,
        description="why; recorded in the ledger and shown to the learner (no personal data)",
    )
    credits: Decimal | None = Field(
        None,
        gt=0,
        le=100,
        max_digits=6,
        decimal_places=1,
        description="credits to grant instead of the proposed (half-credit steps); approvals only",
    )
    stage: ReviewStageName | None = Field(
        None,
        description="the stage you are deciding (as listed); if the outcome is no longer in it, 409",
    )


class ReviewItem(BaseModel):
    """One outcome waiting for a reviewer."""

    outcome: OutcomePublic = Field(description="the outcome's facts and its current recognition")
    stage: ReviewStageName = Field(description="the stage it waits in")
    district: str = Field(
        description="the district whose sub-centre decides the district stage: the posting institution's "
        "(for a learner's own application, the learner's)"
    )
    proposed_credits: Decimal = Field(description="credits the rules (or the district reviewer) propose")
    reason_zh: str | None = Field(description="why the rules sent it to review (Chinese)")
    reason_en: str | None = Field(description="why the rules sent it to review (English)")
    district_reviewer: str | None = Field(
        description="who approved it at the district stage (may not decide the city stage)"
    )
    waiting_since: dt.datetime = Field(description="when it entered this stage")
    application: str | None = Field(
        None,
        description="for a learner's own application: its id (evidence at /api/v1/applications/{id})",
    )


class DecisionRecord(BaseModel):
    stage: ReviewStageName = Field(description="the stage that was decided")
    decision: DecisionName
    reviewer: str = Field(description="the reviewer's subject, or token id when the token names none")
    reason: str
    credits: Decimal | None = Field(None, description="credits approved (approvals only)")


class DecisionPublic(BaseModel):
    """The outcome after a decision, the decision, and the ledger entry that records it."""

    outcome: OutcomePublic
    decision: DecisionRecord
    decision_ledger: LedgerRef = Field(description="the review_decision journal entry")


class RevocationPublic(BaseModel):
    """A revoked outcome and the journal entries that undid its credits."""

    outcome: OutcomePublic
    ledger: list[LedgerRef] = Field(
        description="reversals (of a conversion first, then of the recognition), or a note when the "
        "outcome had no credits"
    )


class CorrectionPublic(BaseModel):
    """A correction: the new outcome, the one it supersedes, and what changed."""

    outcome: OutcomePublic = Field(description="the new outcome (supersedes_id names the old one)")
    superseded: OutcomePublic = Field(description="the old outcome, now 'superseded'")
    changes: list[str] = Field(description="the facts that differ, e.g. 'hours: 40 -> 48'")
    ledger: list[LedgerRef] = Field(description="journal entries that undid the old outcome's credits")
