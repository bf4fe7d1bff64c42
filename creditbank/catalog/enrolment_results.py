"""A shared course's result becoming credits in the learner's programme (课程跨校共享).

How this works
--------------
When the host posts an enrolment's result (:func:`creditbank.catalog.courses.post_result`) and the
rules recognise it at once, :func:`convert` converts its lot into the learner's programme by the
equivalence the home institution named, in the same transaction.

When the rules send the result to review instead, the enrolment waits as ``in_review``. Whoever
takes a review decision calls :func:`settle` in the deciding transaction, after the decision:

* the review recognised the outcome (the city stage approved it): the enrolment takes the lot and
  :func:`convert` converts it, under the consent given at enrolment, locked first (a consent the
  learner withdrew meanwhile, or one already used, converts nothing: ``consent_revoked``);
* the review rejected it: ``not_recognised``;
* otherwise (a district approval, a return) nothing changes yet.

:func:`decide` is the review decision with that step: the review endpoints, the review desk and the
demo decide through it. Only a completed enrolment still ``in_review`` is settled (a declined
enrolment never has a result), with its row locked, so settling twice, or concurrently, converts
once.
"""

import datetime as dt
from decimal import Decimal
from typing import Literal

from sqlmodel import Session, col, select

from creditbank.catalog import consent as consents
from creditbank.catalog import service as catalog
from creditbank.catalog.models import Consent, Conversion, CourseEnrolment
from creditbank.catalog.planning import plan_conversion
from creditbank.context import AppContext
from creditbank.ids import random_id
from creditbank.ledger import service as ledger
from creditbank.outcomes import review
from creditbank.outcomes.models import Outcome, Recognition, RecognitionStatus

IN_REVIEW = "in_review"


def decide(
    session: Session,
    ctx: AppContext,
    outcome_id: str,
    *,
    decision: Literal["approve", "reject", "return"],
    reason: str,
    reviewer: review.Reviewer,
    credits: Decimal | None = None,
    stage: str | None = None,
) -> review.Decided:
    """One review decision (:func:`creditbank.outcomes.review.decide`, which says what it raises),
    then, in the same transaction, the shared-course enrolment waiting for it settled (:func:`settle`)."""
    done = review.decide(
        session, outcome_id, decision=decision, reason=reason, reviewer=reviewer, credits=credits, stage=stage
    )
    settle(session, ctx, done.outcome, done.recognition)
    return done


def settle(
    session: Session, ctx: AppContext, outcome: Outcome, recognition: Recognition
) -> CourseEnrolment | None:
    """After a review decision on ``outcome``: finish the shared-course enrolment whose result it
    is, if one waits for that review (see the module docstring). Returns the enrolment settled."""
    row = session.exec(
        select(CourseEnrolment)
        .where(
            col(CourseEnrolment.outcome_id) == outcome.id,
            col(CourseEnrolment.status) == "completed",
            col(CourseEnrolment.result) == IN_REVIEW,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return None
    if recognition.status == RecognitionStatus.rejected.value:
        row.result = "not_recognised"
    elif recognition.status == RecognitionStatus.recognised.value and recognition.lot_id:
        row.lot_id = recognition.lot_id
        row.result, row.conversion_id = convert(session, ctx, row, outcome.achieved_on)
    else:
        return None
    session.add(row)
    session.flush()
    return row


def convert(
    session: Session, ctx: AppContext, row: CourseEnrolment, today: dt.date
) -> tuple[str, str | None]:
    """Convert the result's lot by the named equivalence under the enrolment's consent: the
    result (``converted``, ``consent_revoked`` or ``not_converted``) and the conversion's id."""
    consent = session.exec(
        select(Consent)
        .where(col(Consent.id) == row.consent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if consent.revoked_at is not None or consent.used_at is not None:
        return "consent_revoked", None
    lot_id = row.lot_id or ""
    programme = catalog.get_programme(session, row.programme_id)
    _, plan = plan_conversion(
        session, ctx, programme, [lot_id], max(today, dt.date.today()), only_equivalence=row.equivalence_id
    )
    used = list(dict.fromkeys(str(lot) for item in plan.items for lot in item.lot_ids))
    if not used:
        return "not_converted", None
    conversion_id = random_id("cnv")
    tx = ledger.convert_lots(
        session,
        learner_id=row.learner_id,
        lot_ids=used,
        programme_id=programme.id,
        institution_id=programme.institution_id,
        details={
            "conversion": conversion_id,
            "credits": str(plan.total_credits),
            "rule_set_hash": plan.rule_set_hash,
            "enrolment": row.id,
            "items": [
                {
                    "rule": i.rule_id,
                    "version": i.rule_version,
                    "destination": i.destination_code,
                    "lots": list(i.lot_ids),
                }
                for i in plan.items
            ],
        },
    )
    conversion = Conversion(
        id=conversion_id,
        learner_id=row.learner_id,
        institution_id=programme.institution_id,
        programme_id=programme.id,
        credential_ids=[],
        lot_ids=used,
        credits=plan.total_credits,
        plan=plan.model_dump(mode="json"),
        ledger_tx_id=tx.id,
        consent_id=consent.id,
    )
    session.add(conversion)
    session.flush()
    consent.lot_ids = [lot_id]
    consents.mark_used(session, consent, conversion_id)
    return "converted", conversion_id
