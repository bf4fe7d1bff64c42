"""What the appeal pages read (申诉/复核): for a learner, which of their decisions can still be
appealed and until when, the appeal form's state and their appeals; for a city centre reviewer, the
queue of open appeals and one appeal with the decision it contests, the outcome's history and the
evidence of the application and of the appeal. Writing is :mod:`creditbank.applications.appeals`.
"""

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from creditbank.applications import appeals
from creditbank.applications import service as applications
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.db import utcnow
from creditbank.errors import CreditBankError
from creditbank.i18n import msg
from creditbank.institutions.models import Institution
from creditbank.outcomes import records, review
from creditbank.outcomes.models import (
    Appeal,
    Application,
    ApplicationFile,
    Outcome,
    OutcomeEvent,
    Recognition,
)


@dataclass(frozen=True)
class Window:
    """Where an appeal against one outcome's decision stands for its learner: the appeal made, or
    the end of the period for one (``open`` while it runs)."""

    ends: dt.datetime
    open: bool
    appeal: Appeal | None


def windows(
    session: Session, ctx: AppContext, learner_id: str, *, now: dt.datetime | None = None
) -> dict[str, Window]:
    """By outcome id: each of the learner's recognised or rejected outcomes, and each outcome the
    learner appealed (whatever became of it since)."""
    now = now or utcnow()
    made = {a.outcome_id: a for a in appeals.of_learner(session, learner_id)}
    stmt = (
        select(Recognition)
        .join(Outcome, col(Outcome.id) == col(Recognition.outcome_id))
        .where(col(Outcome.learner_id) == learner_id)
        .where(col(Recognition.status).in_(appeals.APPEALABLE) | col(Recognition.outcome_id).in_(list(made)))
    )
    found = {}
    for rec in session.exec(stmt).all():
        ends = appeals.period_ends(ctx, rec)
        appeal = made.get(rec.outcome_id)
        found[rec.outcome_id] = Window(
            ends, appeal is None and rec.status in appeals.APPEALABLE and now <= ends, appeal
        )
    return found


@dataclass(frozen=True)
class AppealForm:
    """The form of an appeal against one outcome's decision: until when it may be filed, or why
    it may not be (``refusal``)."""

    outcome: Outcome
    recognition: Recognition
    ends: dt.datetime
    refusal: CreditBankError | None


def form_of(session: Session, ctx: AppContext, learner_id: str, outcome_id: str) -> AppealForm:
    """The appeal form for the learner's outcome.

    Raises:
        OutcomeNotFound: no such outcome, or another learner's (the same answer).
    """
    outcome, rec = records.get_outcome(session, outcome_id)
    if outcome.learner_id != learner_id:
        raise records.OutcomeNotFound(msg("detail.appeals.no_outcome", outcome_id=outcome_id))
    refusal: CreditBankError | None = None
    try:
        appeals.check_appealable(session, ctx, learner_id, outcome, rec)
    except CreditBankError as exc:
        refusal = exc
    return AppealForm(outcome, rec, appeals.period_ends(ctx, rec), refusal)


@dataclass(frozen=True)
class AppealItem:
    """One appeal with the outcome it concerns and its evidence files."""

    appeal: Appeal
    outcome: Outcome
    recognition: Recognition
    files: list[ApplicationFile]


def _item(session: Session, appeal: Appeal) -> AppealItem:
    outcome, rec = records.get_outcome(session, appeal.outcome_id)
    return AppealItem(appeal, outcome, rec, appeals.files_of(session, appeal.id))


def of_learner(session: Session, learner_id: str) -> list[AppealItem]:
    """The learner's appeals, newest first."""
    return [_item(session, a) for a in appeals.of_learner(session, learner_id)]


@dataclass(frozen=True)
class QueueItem:
    item: AppealItem
    refusal: CreditBankError | None
    """Why this reviewer may not decide it (they took part in the decision), or None."""


def queue(session: Session, who: Principal) -> list[QueueItem]:
    """The open appeals, oldest first, for a city centre reviewer, each marked when the reviewer
    took part in the decision it contests.

    Raises:
        AppealCityCentreOnly: a district sub-centre's reviewer.
        ReviewerAccountRequired: a reviewer token naming no reviewer account.
    """
    reviewer = review.reviewer_of(session, who)
    if reviewer.district is not None:
        raise appeals.AppealCityCentreOnly(msg("detail.appeals.city_centre_only", district=reviewer.district))
    found = []
    for appeal in appeals.open_appeals(session):
        item = _item(session, appeal)
        found.append(QueueItem(item, _refusal(session, reviewer, item)))
    return found


def _refusal(session: Session, reviewer: review.Reviewer, item: AppealItem) -> CreditBankError | None:
    try:
        appeals.check_may_decide(session, reviewer, item.outcome.id, item.recognition)
    except CreditBankError as exc:
        return exc
    return None


@dataclass(frozen=True)
class Case:
    """One appeal as its reviewer reads it: the decision contested (the recognition), the outcome's
    history, the application's evidence (when the learner applied) and the appeal's."""

    item: AppealItem
    history: list[OutcomeEvent]
    application: Application | None
    application_files: list[ApplicationFile]
    institution: Institution | None
    refusal: CreditBankError | None
    """Why this reviewer may not decide it, or None (a decided appeal: AppealDecided)."""


def case(session: Session, who: Principal, appeal_id: str) -> Case:
    """One appeal for a city centre reviewer.

    Raises:
        AppealNotFound, AppealCityCentreOnly, ReviewerAccountRequired.
    """
    appeal = appeals.authorise(session, who, appeal_id)
    reviewer = review.reviewer_of(session, who)
    item = _item(session, appeal)
    history = session.exec(
        select(OutcomeEvent)
        .where(col(OutcomeEvent.outcome_id) == appeal.outcome_id)
        .order_by(col(OutcomeEvent.id))
    ).all()
    application = applications.by_outcome(session, [appeal.outcome_id]).get(appeal.outcome_id)
    refusal = (
        _refusal(session, reviewer, item)
        if appeal.status == "open"
        else appeals.AppealDecided(msg("detail.appeals.decided", appeal_id=appeal.id, status=appeal.status))
    )
    return Case(
        item,
        list(history),
        application,
        applications.files_of(session, application.id) if application else [],
        session.get(Institution, item.outcome.institution_id),
        refusal,
    )
