"""Appeals (申诉/复核) against a rejection or a recognition's credits.

How this works:

* :func:`file_appeal`: the learner whose outcome it is appeals within ``appeal_days`` of the
  decision (the recognition row's last change), with a statement and evidence files (checked and
  sealed like an application's). One appeal per outcome; the outcome's history and the learner's
  inbox say it was filed.
* :func:`decide_appeal`: a reviewer of the city centre who took no part in the decision (neither the
  district approver nor anyone who decided the outcome's review) decides, with the recognition row
  locked:

  1. **upheld**: nothing changes but the record (a ``note`` in the ledger, the history, the inbox);
  2. **changed** with credits: the old lot, if any, is reversed through the ledger (the correction
     path: :func:`creditbank.ledger.service.revoke_lot`, its conversion first), and a new lot of the
     new credits is recorded citing the same rule and the appeal; a rejected outcome becomes
     recognised. The recognition's explanation (the archive's and the certificate's "说明") then
     leads with the change: the day, the new credits, what they were, the reason; the explanation
     before the appeal follows it, marked as such. The history's event is ``appeal_changed``.
"""

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlmodel import Session, col, select

from creditbank.applications.evidence import Evidence
from creditbank.applications.service import EvidenceNotFound
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditbank.i18n import Both, msg
from creditbank.ids import random_id
from creditbank.learners import service as learners
from creditbank.learners import vault
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, TxKind
from creditbank.outcomes import records, review
from creditbank.outcomes.models import (
    Appeal,
    ApplicationFile,
    Outcome,
    OutcomeEvent,
    Recognition,
    RecognitionStatus,
)
from creditbank.outcomes.service import LearnerErased

APPEALABLE = (RecognitionStatus.recognised.value, RecognitionStatus.rejected.value)


class AppealNotFound(NotFound):
    slug = "appeal-not-found"
    title = "No such appeal"


class NotAppealable(Conflict):
    slug = "not-appealable"
    title = "Only a rejection or a recognition can be appealed"


class AppealPeriodOver(Conflict):
    slug = "appeal-period-over"
    title = "The period for an appeal has ended"


class DuplicateAppeal(Conflict):
    slug = "duplicate-appeal"
    title = "This outcome was appealed already"


class AppealDecided(Conflict):
    slug = "appeal-decided"
    title = "The appeal was decided already"


class AppealCityCentreOnly(Forbidden):
    slug = "appeal-city-centre-only"
    title = "Appeals are decided by the city centre's reviewers"


class TookPartInDecision(Forbidden):
    slug = "appeal-reviewer-took-part"
    title = "A reviewer who took part in the decision may not decide its appeal"


class StatementRequired(ValidationFailed):
    slug = "appeal-statement-required"
    title = "Say why you appeal (at least a few words)"


@dataclass
class AppealDone:
    appeal: Appeal
    outcome: Outcome
    recognition: Recognition
    ledger: list[JournalTransaction]


def file_appeal(
    session: Session,
    ctx: AppContext,
    learner_id: str,
    outcome_id: str,
    statement: str,
    files: list[Evidence],
    *,
    now: dt.datetime | None = None,
) -> AppealDone:
    """File an appeal (see the module docstring).

    Raises:
        OutcomeNotFound: no such outcome of this learner (another learner's: the same answer).
        LearnerErased, NotAppealable, AppealPeriodOver, DuplicateAppeal, StatementRequired.
    """
    now = now or utcnow()
    said = statement.strip()
    if len(said) < 2:
        raise StatementRequired(msg("detail.appeals.statement_required"))
    outcome, rec = records.lock_outcome(session, outcome_id)
    check_appealable(session, ctx, learner_id, outcome, rec, now=now)
    appeal = Appeal(
        id=random_id("apc"),
        outcome_id=outcome_id,
        learner_id=learner_id,
        statement=said,
        was=rec.status,
        credits_before=rec.credits if rec.status == RecognitionStatus.recognised.value else Decimal(0),
        created_at=now,
    )
    session.add(appeal)
    session.flush()
    for item in files:
        file_id = random_id("evd")
        session.add(
            ApplicationFile(
                id=file_id,
                application_id=None,
                appeal_id=appeal.id,
                learner_id=learner_id,
                round=1,
                filename=item.filename,
                media_type=item.media_type,
                size=len(item.data),
                sha256=item.sha256,
                sealed=vault.seal_file(session, ctx.secrets.master_key, learner_id, item.data, file_id),
            )
        )
    session.flush()
    zh, en = msg("appeals.filed_event", count=len(files)).pair()
    records.add_event(
        session, outcome_id, "appealed", actor_role=Role.learner.value, actor=learner_id, zh=zh, en=en
    )
    return AppealDone(appeal, outcome, rec, [])


def period_ends(ctx: AppContext, rec: Recognition) -> dt.datetime:
    """When the period for an appeal against the recognition's current decision ends."""
    return rec.updated_at + dt.timedelta(days=ctx.settings.appeal_days)


def check_appealable(
    session: Session,
    ctx: AppContext,
    learner_id: str,
    outcome: Outcome,
    rec: Recognition,
    *,
    now: dt.datetime | None = None,
) -> dt.datetime:
    """Whether the learner may appeal the outcome's decision now; when the period ends.

    Raises:
        OutcomeNotFound: another learner's outcome.
        LearnerErased, NotAppealable, AppealPeriodOver, DuplicateAppeal.
    """
    if outcome.learner_id != learner_id:
        raise records.OutcomeNotFound(msg("detail.appeals.no_outcome", outcome_id=outcome.id))
    if learners.get(session, learner_id).erased_at is not None:
        raise LearnerErased(msg("detail.applications.learner_erased", learner_id=learner_id))
    if rec.status not in APPEALABLE:
        raise NotAppealable(msg("detail.appeals.not_appealable", outcome_id=outcome.id, status=rec.status))
    ends = period_ends(ctx, rec)
    if (now or utcnow()) > ends:
        raise AppealPeriodOver(
            msg("detail.appeals.period_over", days=ctx.settings.appeal_days, ended=ends.date().isoformat())
        )
    taken = session.exec(select(Appeal.id).where(col(Appeal.outcome_id) == outcome.id)).first()
    if taken is not None:
        raise DuplicateAppeal(msg("detail.appeals.duplicate", appeal_id=taken), appeal=taken)
    return ends


def _took_part(session: Session, outcome_id: str, rec: Recognition) -> set[str]:
    """The reviewers who decided any stage of the outcome's review."""
    actors = session.exec(
        select(OutcomeEvent.actor).where(
            col(OutcomeEvent.outcome_id) == outcome_id, col(OutcomeEvent.actor_role) == Role.reviewer.value
        )
    ).all()
    return {a for a in actors if a} | ({rec.district_reviewer} if rec.district_reviewer else set())


def check_may_decide(session: Session, reviewer: review.Reviewer, outcome_id: str, rec: Recognition) -> None:
    """Whether the reviewer may decide an appeal against the outcome's decision.

    Raises:
        AppealCityCentreOnly: a district sub-centre's reviewer.
        TookPartInDecision: the reviewer decided a stage of the outcome's review.
    """
    if reviewer.district is not None:
        raise AppealCityCentreOnly(msg("detail.appeals.city_centre_only", district=reviewer.district))
    if reviewer.id in _took_part(session, outcome_id, rec):
        raise TookPartInDecision(msg("detail.appeals.took_part"))


def decide_appeal(
    session: Session,
    appeal_id: str,
    *,
    reviewer: review.Reviewer,
    decision: Literal["uphold", "change"],
    reason: str,
    credits: Decimal | None = None,
) -> AppealDone:
    """Decide an appeal (see the module docstring).

    Raises:
        AppealNotFound, AppealDecided, AppealCityCentreOnly, TookPartInDecision,
        ReviewCreditsInvalid: a change without credits, or not in half-credit steps above zero.
    """
    appeal = session.get(Appeal, appeal_id)
    if appeal is None:
        raise AppealNotFound(msg("detail.appeals.not_found", appeal_id=appeal_id))
    if reviewer.district is not None:
        raise AppealCityCentreOnly(msg("detail.appeals.city_centre_only", district=reviewer.district))
    outcome, rec = records.lock_outcome(session, appeal.outcome_id)
    session.refresh(appeal, with_for_update=True)
    if appeal.status != "open":
        raise AppealDecided(msg("detail.appeals.decided", appeal_id=appeal_id, status=appeal.status))
    check_may_decide(session, reviewer, outcome.id, rec)
    amount: Decimal | None = None
    if decision == "change":
        amount = review.check_credits(credits if credits is not None else Decimal(0))
    record = {
        "appeal": appeal.id,
        "outcome": outcome.id,
        "decision": decision,
        "reviewer": reviewer.id,
        "reason": reason,
        **({"credits": str(amount)} if amount is not None else {}),
    }
    txs: list[JournalTransaction] = []
    decided_at = utcnow()
    if amount is None or (rec.status == RecognitionStatus.recognised.value and amount == rec.credits):
        txs.append(ledger.record_event(session, TxKind.note, learner_id=outcome.learner_id, details=record))
        appeal.status = "upheld"
        zh, en = msg("appeals.upheld_event", reason=reason).pair()
        kind = "appeal_upheld"
    else:
        if rec.lot_id:
            txs += ledger.revoke_lot(
                session, rec.lot_id, reason=f"appeal {appeal.id}: {reason}", by=reviewer.id
            )
        before = (
            msg("appeals.before_credits", credits=review.words(appeal.credits_before))
            if appeal.was == RecognitionStatus.recognised.value
            else msg("appeals.before_rejected")
        )
        rec.explanation_zh, rec.explanation_en = msg(
            "appeals.changed_explanation",
            date=decided_at.date().isoformat(),
            after=review.words(amount),
            before=before,
            reason=reason,
            explanation=Both(rec.explanation_zh, rec.explanation_en),
        ).pair()
        rec.credits = amount
        lot_rec = records.recognition_for_lot(outcome, rec)
        lot_rec = dataclasses.replace(lot_rec, details={**lot_rec.details, "appeal": record})
        [(tx, lot)] = ledger.record_recognitions(session, [lot_rec])
        txs.append(tx)
        rec.status = RecognitionStatus.recognised.value
        rec.stage = None
        rec.lot_id = lot.id
        records.save_recognition(session, rec)
        appeal.status = "changed"
        appeal.credits_after = amount
        zh, en = msg(
            "appeals.changed_event",
            before=review.words(appeal.credits_before),
            after=review.words(amount),
            reason=reason,
        ).pair()
        kind = "appeal_changed"
    appeal.decided_by = reviewer.id
    appeal.reason = reason
    appeal.decided_at = decided_at
    session.add(appeal)
    session.flush()
    records.add_event(
        session, outcome.id, kind, actor_role=reviewer.role, actor=reviewer.id, zh=zh, en=en, tx=txs[-1]
    )
    return AppealDone(appeal, outcome, rec, txs)


def of_learner(session: Session, learner_id: str) -> list[Appeal]:
    stmt = select(Appeal).where(col(Appeal.learner_id) == learner_id).order_by(col(Appeal.created_at).desc())
    return list(session.exec(stmt).all())


def open_appeals(session: Session, limit: int = 100) -> list[Appeal]:
    stmt = select(Appeal).where(col(Appeal.status) == "open").order_by(col(Appeal.created_at)).limit(limit)
    return list(session.exec(stmt).all())


def files_of(session: Session, appeal_id: str) -> list[ApplicationFile]:
    stmt = (
        select(ApplicationFile)
        .where(col(ApplicationFile.appeal_id) == appeal_id)
        .order_by(col(ApplicationFile.created_at), col(ApplicationFile.id))
    )
    return list(session.exec(stmt).all())


def authorise(session: Session, who: Principal, appeal_id: str) -> Appeal:
    """The appeal, for its learner or a city centre reviewer.

    Raises: AppealNotFound (another learner's: the same), AppealCityCentreOnly, ReviewerAccountRequired.
    """
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or (who.role is Role.learner and appeal.learner_id != who.subject):
        raise AppealNotFound(msg("detail.appeals.not_found", appeal_id=appeal_id))
    if who.role is Role.reviewer:
        reviewer = review.reviewer_of(session, who)
        if reviewer.district is not None:
            raise AppealCityCentreOnly(msg("detail.appeals.city_centre_only", district=reviewer.district))
    elif who.role is not Role.learner:  # pragma: no cover - the routes admit learners and reviewers only
        raise AppealNotFound(msg("detail.appeals.not_found", appeal_id=appeal_id))
    return appeal


def open_evidence(
    session: Session, ctx: AppContext, who: Principal, appeal_id: str, file_id: str
) -> tuple[ApplicationFile, bytes]:
    """One file of an appeal, opened, for the people :func:`authorise` admits.

    Raises: what :func:`authorise` raises; EvidenceNotFound; VaultShredded (the learner was erased).
    """
    appeal = authorise(session, who, appeal_id)
    row = session.get(ApplicationFile, file_id)
    if row is None or row.appeal_id != appeal.id:
        raise EvidenceNotFound(msg("detail.applications.evidence_not_found", file_id=file_id))
    return row, vault.open_file(session, ctx.secrets.master_key, appeal.learner_id, row.sealed, row.id)
