from typing import Annotated, Any

from fastapi import APIRouter, Query

from creditbank.auth.deps import ReviewerOnly, ReviewerOrAdmin
from creditbank.catalog import enrolment_results
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.outcomes import idempotent, review
from creditbank.outcomes.decision_schemas import (
    DecisionPublic,
    DecisionRecord,
    ReviewDecisionRequest,
    ReviewItem,
    ReviewStageName,
)
from creditbank.outcomes.models import BANK_ID
from creditbank.outcomes.views import ledger_ref, outcome_public

router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"])


def _item(session: SessionDep, waiting: review.Waiting) -> ReviewItem:
    outcome, rec = waiting.outcome, waiting.recognition
    return ReviewItem(
        outcome=outcome_public(session, outcome, rec),
        stage="city" if rec.stage == "city" else "district",
        district=waiting.district,
        proposed_credits=rec.credits,
        reason_zh=rec.review_reason_zh,
        reason_en=rec.review_reason_en,
        district_reviewer=rec.district_reviewer,
        waiting_since=rec.updated_at,
        application=outcome.reference if outcome.institution_id == BANK_ID else None,
    )


@router.get("", response_model=list[ReviewItem])
def list_reviews(
    session: SessionDep,
    who: ReviewerOrAdmin,
    stage: Annotated[ReviewStageName | None, Query(description="district or city; both when omitted")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many items")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="skip this many items")] = 0,
) -> list[ReviewItem]:
    """The review queue: outcomes the rules sent to manual review, longest-waiting first, with their
    facts, the proposed credits and why they need a reviewer. A district sub-centre's reviewer sees
    only the district stage of its own district's reviews (a review belongs to the district of the
    institution that posted the outcome); the city centre's reviewers and admins see every review."""
    scope = review.scope_of(session, who)
    return [
        _item(session, waiting)
        for waiting in review.queue(session, stage, district=scope, limit=limit, offset=offset)
    ]


@router.get("/{outcome_id}", response_model=ReviewItem)
def get_review(outcome_id: str, session: SessionDep, who: ReviewerOrAdmin) -> ReviewItem:
    """One outcome waiting for review, by its id. A district reviewer opens only its own district's
    district-stage reviews (403 `review-outside-district`, 403 `city-stage-only`); an outcome not in
    review is a 409 `not-in-review`."""
    return _item(session, review.open_review(session, outcome_id, district=review.scope_of(session, who)))


@router.post("/{outcome_id}/decision", response_model=DecisionPublic)
def decide(
    outcome_id: str,
    body: ReviewDecisionRequest,
    session: SessionDep,
    ctx: ContextDep,
    who: ReviewerOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Decide an outcome in review. At the district stage an approval sends it on to the city stage;
        at the city stage an approval recognises it (the credits given, or those proposed); a rejection
        at either stage ends it. The reviewer who approved the district stage may not decide the city
        stage: four eyes compares reviewer accounts, so two tokens of one account are one reviewer.
        Only reviewer tokens naming a reviewer account decide (403 `reviewer-account-required`); a
        district sub-centre's reviewer decides only the district stage of its own district's reviews
        (403 `review-outside-district`, 403 `city-stage-only`), the city centre's either stage. Every
        decision is recorded in the ledger with reviewer and reason. When the outcome is a shared course's
    result, the approval that recognises it also converts it into the learner's home programme (the
    equivalence the home school named, under the consent given at enrolment). Needs an `Idempotency-Key`; an
        outcome not waiting in that stage is a 409."""
    reviewer = review.reviewer_of(session, who)

    def work() -> tuple[int, DecisionPublic]:
        done = enrolment_results.decide(
            session,
            ctx,
            outcome_id,
            decision=body.decision,
            reason=body.reason,
            reviewer=reviewer,
            credits=body.credits,
            stage=body.stage,
        )
        decision_ref = ledger_ref(session, done.decision_tx)
        assert decision_ref is not None
        return 200, DecisionPublic(
            outcome=outcome_public(session, done.outcome, done.recognition, done.recognition_tx),
            decision=DecisionRecord.model_validate(done.record),
            decision_ledger=decision_ref,
        )

    return idempotent.run(
        session,
        who,
        idempotency_key,
        method="POST",
        path=f"/api/v1/reviews/{outcome_id}/decision",
        request=body.model_dump(mode="json"),
        work=work,
    )
