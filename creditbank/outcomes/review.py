"""Manual review of outcomes in two stages: the district sub-centre, then the city centre.

How this works:

* The rules send an outcome to review (``recognitions.status = 'review'``, ``stage = 'district'``);
  it waits in the queue (:func:`queue`).
* :func:`decide` takes one decision on it, with the recognition row locked:

  1. the outcome must be in review, and (when the reviewer names it) in the stage they decide;
  2. at the city stage the reviewer must not be the person who approved the district stage (four
     eyes: two reviewer accounts, whatever tokens they use);
  3. the decision is appended to the ledger (``review_decision``: outcome, stage, decision,
     reviewer, reason, credits), then applied: a district approval moves the outcome to the city
     stage (recording the district reviewer and any credits they set), a city approval recognises
     it (a credit lot through the ledger, whose entry carries the decision too), a rejection at
     either stage ends it as ``rejected``;
  4. an ``outcome_events`` row tells the archive what happened.

A reviewer is a person: a ``reviewer_accounts`` row, named by the subject of every reviewer token
that acts for it (:func:`reviewer_of`). A token without an account decides nothing, and admins, who
act for no person, list the queue but do not decide.

Three tiers (:mod:`creditbank.institutions.districts`): a review belongs to the district of the
institution that posted the outcome. A reviewer account of a district sub-centre sees and decides
only the district-stage reviews of its district (another district's: 403
``review-outside-district``; the city stage: 403 ``city-stage-only``); a reviewer account of the
city centre (no district) sees every review and decides either stage, and admins see every review.
The scope is checked with the outcome locked, before anything is written.

A learner's own application (:mod:`creditbank.applications`) is reviewed the same way; its district
is the learner's (``applications.district``), not that of the bank that posted it, and it may also be
**returned** for more material: it then waits with the learner (``stage = 'returned'``, out of every
queue) until they resubmit, when it starts again at the district stage.
"""

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import Session, col, select

from creditbank.auth.models import ReviewerAccount, Role
from creditbank.auth.service import Principal
from creditbank.errors import Conflict, Forbidden, ValidationFailed
from creditbank.i18n import Both, Message, msg
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, TxKind
from creditbank.outcomes import records
from creditbank.outcomes.models import Application, Outcome, Recognition, RecognitionStatus
from creditbank.rule_engine.conversion import expired

STAGES = ("district", "city")
RETURNED = "returned"
"""The stage of an application returned to the learner for more material (waiting for them)."""
HALF = Decimal("0.5")


class NotInReview(Conflict):
    slug = "not-in-review"
    title = "The outcome is not waiting for a review decision"


class ReviewStageMismatch(Conflict):
    slug = "review-stage-mismatch"
    title = "The outcome is not in the review stage you decided"


class FourEyesRequired(Forbidden):
    slug = "four-eyes-required"
    title = "The reviewer who approved the district stage may not decide the city stage"


class ReviewerAccountRequired(Forbidden):
    slug = "reviewer-account-required"
    title = "Review decisions are taken by a named reviewer account"


class ReviewOutsideDistrict(Forbidden):
    slug = "review-outside-district"
    title = "The review belongs to another district's sub-centre"


class CityStageOnly(Forbidden):
    slug = "city-stage-only"
    title = "Only the city centre decides the city stage"


class ReturnNotApplicable(Conflict):
    slug = "return-not-applicable"
    title = "Only a learner's own application can be returned for more material"


class ReviewCreditsInvalid(ValidationFailed):
    slug = "review-credits-invalid"
    title = "Approved credits must be more than zero, in half-credit steps"


@dataclass(frozen=True)
class Reviewer:
    """Who decides: a reviewer account id, the role they act in, and the district sub-centre they
    work at (None: the city centre)."""

    id: str
    role: str
    district: str | None = None


def scope_of(session: Session, who: Principal) -> str | None:
    """The district whose reviews a caller may see: a district reviewer's district, or None (every
    district) for the city centre's reviewers and for admins."""
    if who.role is not Role.reviewer or not who.subject:
        return None
    account = session.get(ReviewerAccount, who.subject)
    return account.district if account is not None else None


def check_scope(district: str | None, outcome_id: str, outcome_district: str, stage: str | None) -> None:
    """Whether a reviewer whose scope is ``district`` may open or decide this review.

    Raises:
        ReviewOutsideDistrict: a district reviewer and another district's review.
        CityStageOnly: a district reviewer and a review in the city stage.
    """
    if district is None:
        return
    if outcome_district != district:
        raise ReviewOutsideDistrict(
            msg(
                "detail.outcomes.review.outcome_reviewed_another_district",
                outcome_id=outcome_id,
                district=district,
            ),
            district=district,
        )
    if stage == "city":
        raise CityStageOnly(
            msg("detail.outcomes.review.outcome_waits_city_centre", outcome_id=outcome_id), district=district
        )


def reviewer_of(session: Session, who: Principal) -> Reviewer:
    """The reviewer account a caller decides as.

    Raises:
        ReviewerAccountRequired: not a reviewer token, or its subject names no reviewer account.
    """
    account = session.get(ReviewerAccount, who.subject) if who.role is Role.reviewer and who.subject else None
    if account is None:
        raise ReviewerAccountRequired(msg("detail.outcomes.review.decide_reviewer_token_names"))
    return Reviewer(id=account.id, role=who.role.value, district=account.district)


@dataclass
class Decided:
    outcome: Outcome
    recognition: Recognition
    record: dict[str, Any]
    decision_tx: JournalTransaction
    recognition_tx: JournalTransaction | None


@dataclass(frozen=True)
class Waiting:
    """One outcome in review, with the district whose sub-centre decides its first stage."""

    outcome: Outcome
    recognition: Recognition
    district: str


def queue(
    session: Session,
    stage: str | None = None,
    *,
    district: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Waiting]:
    """Outcomes waiting for review (at ``stage``, or at either), longest-waiting first.

    ``district`` is the caller's scope (:func:`scope_of`): a district reviewer's queue holds only the
    district stage of that district's reviews; None lists every district.
    """
    if district is not None and stage == "city":
        return []
    where = func.coalesce(col(Application.district), col(Institution.district))
    stmt = (
        select(Outcome, Recognition, where)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .outerjoin(Application, col(Application.outcome_id) == col(Outcome.id))
        .where(col(Recognition.status) == RecognitionStatus.review.value, col(Recognition.stage).in_(STAGES))
    )
    if district is not None:
        stmt = stmt.where(col(Recognition.stage) == "district", where == district)
    elif stage is not None:
        stmt = stmt.where(col(Recognition.stage) == stage)
    stmt = stmt.order_by(col(Recognition.updated_at), col(Outcome.id)).offset(offset).limit(limit)
    return [Waiting(o, r, d) for o, r, d in session.exec(stmt).all()]


def district_of(session: Session, outcome: Outcome) -> str:
    """The district whose sub-centre decides an outcome's first stage: the learner's for their own
    application, else the posting institution's."""
    application = session.exec(select(Application).where(col(Application.outcome_id) == outcome.id)).first()
    if application is not None:
        return application.district
    return institutions.lookup(session, outcome.institution_id).district


def open_review(session: Session, outcome_id: str, *, district: str | None) -> Waiting:
    """One outcome in review, for a caller whose scope is ``district``.

    Raises:
        OutcomeNotFound: no such outcome.
        ReviewOutsideDistrict, CityStageOnly: outside the caller's scope (:func:`check_scope`).
        NotInReview: the outcome is not waiting for a decision.
    """
    outcome, rec = records.get_outcome(session, outcome_id)
    institutions.get(session, outcome.institution_id)
    outcome_district = district_of(session, outcome)
    check_scope(district, outcome_id, outcome_district, rec.stage)
    if rec.status != RecognitionStatus.review.value or rec.stage not in STAGES:
        raise NotInReview(
            msg("detail.outcomes.review.outcome_waiting_review", outcome_id=outcome_id, status=rec.status)
        )
    return Waiting(outcome, rec, outcome_district)


def words(amount: Decimal) -> str:
    """Credits for people: 3 rather than 3.00, 2.5 rather than 2.50."""
    return format(amount.normalize(), "f")


def check_credits(amount: Decimal) -> Decimal:
    """Approved credits: more than zero, in half-credit steps.

    Raises:
        ReviewCreditsInvalid: otherwise.
    """
    if amount <= 0 or amount % HALF != 0:
        raise ReviewCreditsInvalid(msg("detail.outcomes.review.credits_approve_more_than", amount=amount))
    return ledger.credits(amount)


def _lapsed(expires_on: dt.date | None) -> Message | str:
    """The note an approval carries when the outcome's validity had already ended: validity limits
    conversion, not the archive, so the credits are recorded and marked not convertible."""
    if not expired(expires_on, dt.date.today()):
        return ""
    assert expires_on is not None
    return msg("review.lapsed", day=expires_on.isoformat())


def _stage(stage: str) -> Message:
    """A review stage's name (``stage.district``: 区级分中心 / district sub-centre)."""
    return Message(f"stage.{stage}", {})


def decide(
    session: Session,
    outcome_id: str,
    *,
    decision: Literal["approve", "reject", "return"],
    reason: str,
    reviewer: Reviewer,
    credits: Decimal | None = None,
    stage: str | None = None,
) -> Decided:
    """Take one review decision (see the module docstring).

    Raises:
        OutcomeNotFound: no such outcome.
        NotInReview: the outcome is not in review (decided already, revoked, ...).
        ReviewOutsideDistrict: a district reviewer and another district's outcome.
        CityStageOnly: a district reviewer and an outcome in the city stage.
        ReviewStageMismatch: ``stage`` was given and the outcome is in another stage.
        FourEyesRequired: the district approver tries to decide the city stage.
        ReviewCreditsInvalid: the approved credits are zero or not in half-credit steps.
        ReturnNotApplicable: a return of an outcome an institution posted.
    """
    # 1. scope, then state
    outcome, rec = records.lock_outcome(session, outcome_id)
    check_scope(reviewer.district, outcome_id, district_of(session, outcome), rec.stage)
    if rec.status != RecognitionStatus.review.value or rec.stage not in STAGES:
        raise NotInReview(
            msg("detail.outcomes.review.outcome_waiting_review", outcome_id=outcome_id, status=rec.status)
        )
    current = rec.stage
    if stage is not None and stage != current:
        raise ReviewStageMismatch(
            msg(
                "detail.outcomes.review.outcome_stage",
                outcome_id=outcome_id,
                current=_stage(current),
                stage=stage,
            ),
            stage=current,
        )
    # 2. four eyes
    if current == "city" and rec.district_reviewer == reviewer.id:
        raise FourEyesRequired(msg("detail.outcomes.review.you_approved_outcome_district"))
    amount: Decimal | None = None
    is_application = session.exec(
        select(Application.id).where(col(Application.outcome_id) == outcome.id)
    ).first()
    if decision == "return" and is_application is None:
        raise ReturnNotApplicable(msg("detail.outcomes.review.return_not_applicable", outcome_id=outcome_id))
    if decision == "approve":
        amount = check_credits(credits if credits is not None else rec.credits)
    # 3. the ledger first, then the projection
    record: dict[str, Any] = {
        "outcome": outcome.id,
        "stage": current,
        "decision": decision,
        "reviewer": reviewer.id,
        "role": reviewer.role,
        "reason": reason,
        **({"credits": str(amount)} if amount is not None else {}),
    }
    decision_tx = ledger.record_event(
        session, TxKind.review_decision, learner_id=outcome.learner_id, details=record
    )
    stage_name = _stage(current)
    recognition_tx: JournalTransaction | None = None
    if decision == "return":
        rec.stage = RETURNED
        rec.district_reviewer = None
        kind, (zh, en) = RETURNED, msg("review.returned_event", stage=stage_name, reason=reason).pair()
    elif decision == "reject":
        rec.status = RecognitionStatus.rejected.value
        rec.stage = None
        if current == "district":
            rec.district_reviewer = reviewer.id
        rec.explanation_zh, rec.explanation_en = msg(
            "review.rejected_explanation",
            stage=stage_name,
            reason=reason,
            explanation=Both(rec.explanation_zh, rec.explanation_en),
        ).pair()
        kind, (zh, en) = "rejected", msg("review.rejected_event", stage=stage_name, reason=reason).pair()
    elif current == "district":
        assert amount is not None
        rec.stage = "city"
        rec.district_reviewer = reviewer.id
        rec.credits = amount
        said = msg("review.district_approved_event", stage=stage_name, credits=words(amount), reason=reason)
        kind, (zh, en) = "decision", said.pair()
    else:
        assert amount is not None
        rec.credits = amount
        lot_rec = records.recognition_for_lot(outcome, rec)
        lot_rec = dataclasses.replace(lot_rec, details={**lot_rec.details, "decision": record})
        [(recognition_tx, lot)] = ledger.record_recognitions(session, [lot_rec])
        rec.status = RecognitionStatus.recognised.value
        rec.stage = None
        rec.lot_id = lot.id
        granted = words(amount)
        lapsed = _lapsed(rec.expires_on)
        rec.explanation_zh, rec.explanation_en = msg(
            "review.recognised_explanation",
            explanation=Both(rec.explanation_zh, rec.explanation_en),
            credits=granted,
            reason=reason,
            lapsed=lapsed,
        ).pair()
        said = msg("review.recognised_event", stage=stage_name, credits=granted, reason=reason, lapsed=lapsed)
        kind, (zh, en) = "recognised", said.pair()
    records.save_recognition(session, rec)
    # 4. history
    records.add_event(
        session, outcome.id, kind, actor_role=reviewer.role, actor=reviewer.id, zh=zh, en=en, tx=decision_tx
    )
    return Decided(outcome, rec, record, decision_tx, recognition_tx)
