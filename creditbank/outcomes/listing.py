"""An institution's outcomes as its registrar works through them: search, filters and pages that
stay fast over many thousands of rows, and the answer to a learner's correction request.

How this works:

* :func:`page` lists the institution's outcomes newest first, filtered by recognition status and
  outcome type and searched by reference, title, or an outcome or learner id. Pages are read by
  keyset: the cursor is the (``created_at``, ``id``) of the last row shown, and the next page starts
  strictly after it, through the index ``ix_outcomes_institution_created`` (institution, time, id).
  A page costs the same at row 10 and at row 100,000, and rows posted meanwhile never shift a page.
* :func:`refuse_correction` declines the learner's open correction requests on one outcome with a
  reason: a ``correction_refused`` history row the learner sees in the archive and the inbox, after
  which the console no longer lists those requests. Accepting one is posting the correction
  (:func:`creditbank.outcomes.corrections.correct`).
"""

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from creditbank.auth.service import Principal
from creditbank.errors import Conflict, ValidationFailed
from creditbank.i18n import msg
from creditbank.outcomes import records
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition

PAGE_SIZE = 50


class CursorInvalid(ValidationFailed):
    slug = "cursor-invalid"
    title = "The page cursor cannot be read"


class NoOpenCorrectionRequest(Conflict):
    slug = "no-open-correction-request"
    title = "The outcome has no open correction request"


@dataclass(frozen=True)
class Filters:
    text: str = ""
    status: str = ""
    outcome_type: str = ""


@dataclass(frozen=True)
class Page:
    rows: list[tuple[Outcome, Recognition]]
    next_cursor: str | None  # None: this is the last page


def cursor_of(outcome: Outcome) -> str:
    return f"{outcome.created_at.isoformat()}~{outcome.id}"


def _read_cursor(cursor: str) -> tuple[dt.datetime, str]:
    at, sep, outcome_id = cursor.partition("~")
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if not sep or moment is None or moment.tzinfo is None or not outcome_id:
        raise CursorInvalid(msg("detail.outcomes.listing.cursor_invalid"))
    return moment, outcome_id


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page(
    session: Session,
    principal: Principal,
    filters: Filters,
    *,
    after: str | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of the principal's institution's outcomes, newest first (see the module docstring).

    Raises:
        Forbidden: the principal is not an institution.
        CursorInvalid: ``after`` is not a cursor this function wrote.
    """
    institution_id = records.institution_of(principal)
    query = (
        select(Outcome, Recognition)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(col(Outcome.institution_id) == institution_id)
        .where(col(Outcome.created_at).is_not(None))  # the predicate of the list's partial index
    )
    if filters.status:
        query = query.where(col(Recognition.status) == filters.status)
    if filters.outcome_type:
        query = query.where(col(Outcome.outcome_type) == filters.outcome_type)
    text = filters.text.strip()
    if text:
        pattern = f"%{_like(text)}%"
        query = query.where(
            col(Outcome.reference).ilike(pattern, escape="\\")
            | col(Outcome.title).ilike(pattern, escape="\\")
            | (col(Outcome.id) == text)
            | (col(Outcome.learner_id) == text)
        )
    if after:
        moment, outcome_id = _read_cursor(after)
        query = query.where(
            (col(Outcome.created_at) < moment)
            | ((col(Outcome.created_at) == moment) & (col(Outcome.id) < outcome_id))
        )
    rows = list(
        session.exec(
            query.order_by(col(Outcome.created_at).desc(), col(Outcome.id).desc()).limit(size + 1)
        ).all()
    )
    more = len(rows) > size
    shown = [(o, r) for o, r in rows[:size]]
    return Page(shown, cursor_of(shown[-1][0]) if more and shown else None)


def refuse_correction(session: Session, principal: Principal, outcome_id: str, reason: str) -> OutcomeEvent:
    """Decline the open correction requests on an outcome this institution posted, with a reason.

    Raises:
        Forbidden: the principal is not an institution.
        OutcomeNotFound: no such outcome of this institution (another's looks the same).
        NoOpenCorrectionRequest: nothing to decline (answered already, or the outcome is final).
    """
    institution_id = records.institution_of(principal)
    open_ids = {o.id for o, _ in records.open_correction_requests(session, principal, limit=10_000)}
    outcome, _ = records.get_outcome(session, outcome_id)
    if outcome.institution_id != institution_id:
        raise records.OutcomeNotFound(
            msg("detail.outcomes.corrections.no_outcome_yours", outcome_id=outcome_id)
        )
    if outcome.id not in open_ids:
        raise NoOpenCorrectionRequest(
            msg("detail.outcomes.listing.no_open_request", outcome_id=outcome.id), outcome_id=outcome.id
        )
    zh, en = msg("correction.refused_event", reason=reason).pair()
    return records.add_event(
        session,
        outcome.id,
        records.CORRECTION_REFUSED,
        actor_role="institution",
        actor=institution_id,
        zh=zh,
        en=en,
    )
