"""The records of posted outcomes: reading and locking an outcome with its recognition, its history,
what the rules see of it and what the ledger cites of it.

Posting (:mod:`creditbank.outcomes.service`), review (:mod:`.review`), corrections
(:mod:`.corrections`) and rule previews (:mod:`.rule_preview`) share these; only posting inserts
outcomes.
"""

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from creditbank import canonical
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.db import utcnow
from creditbank.errors import Forbidden, NotFound
from creditbank.i18n import Both, Catalogue, Message, catalogue, msg
from creditbank.ids import InstitutionId, LearnerId
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition, RecognitionStatus
from creditbank.rule_engine import OutcomeFacts, RuleSet
from creditbank.rule_engine import Recognition as RuleRecognition


class OutcomeNotFound(NotFound):
    slug = "outcome-not-found"
    title = "No such outcome"


def _two_places(value: Decimal | None) -> str | None:
    """A stored amount as text, the same before and after the NUMERIC round trip."""
    return str(Decimal(value).quantize(Decimal("0.01"))) if value is not None else None


def ledger_content(outcome: Outcome) -> str:
    """``sha256:<hex>`` of the outcome's facts as the ledger cites them: RFC 8785 JSON of the stored
    outcome with the pseudonymous learner id and no personal field. The learner (or anyone shown the
    outcome) can recompute it from their archive."""
    facts = {
        "id": outcome.id,
        "learner": outcome.learner_id,
        "institution": outcome.institution_id,
        "reference": outcome.reference,
        "outcome_type": outcome.outcome_type,
        "title": outcome.title,
        "achieved_on": outcome.achieved_on.isoformat(),
        "hours": _two_places(outcome.hours),
        "level": outcome.level,
        "score": _two_places(outcome.score),
        "grade": outcome.grade,
        "field": outcome.field,
        "course_code": outcome.course_code,
        "identity_verified": outcome.identity_verified,
        "attributes": {k: str(v) for k, v in sorted(outcome.attributes.items())},
    }
    return "sha256:" + hashlib.sha256(canonical.dumps(facts)).hexdigest()


def outcome_facts(outcome: Outcome, issuer_kind: str) -> OutcomeFacts:
    """What the rules see of a stored outcome (also used to preview rule changes)."""
    return OutcomeFacts(
        outcome_id=outcome.id,
        outcome_type=outcome.outcome_type,
        title=outcome.title,
        achieved_on=outcome.achieved_on,
        hours=outcome.hours,
        level=outcome.level,
        score=outcome.score,
        grade=outcome.grade,
        identity_verified=outcome.identity_verified,
        issuer_kind=issuer_kind,
        field=outcome.field,
        attributes={
            **outcome.attributes,
            **({"course_code": outcome.course_code} if outcome.course_code else {}),
        },
    )


def recognition_fields(result: RuleRecognition, rule_set: RuleSet, now: dt.datetime) -> dict[str, Any]:
    """The fields of a recognition row for a decision, all but the outcome's id (shared by the rows
    of a call that share their facts; each row gets its own copy)."""
    status = RecognitionStatus(result.status)
    return {
        "status": status.value,
        "stage": result.review_stages[0]
        if status is RecognitionStatus.review and result.review_stages
        else None,
        "credits": result.credits,
        "level": result.level,
        "category": result.category,
        "field": result.field,
        "rule_id": result.rule_id,
        "rule_version": str(result.rule_version) if result.rule_version is not None else None,
        "rule_set_id": rule_set.id,
        "rule_set_version": rule_set.version,
        "rule_set_hash": rule_set.hash,
        "explanation_zh": result.explanation.zh,
        "explanation_en": result.explanation.en,
        "review_reason_zh": result.review_reason.zh if result.review_reason else None,
        "review_reason_en": result.review_reason.en if result.review_reason else None,
        "expires_on": result.expires_on,
        "count_once_key": result.count_once_key,
        "lot_id": None,
        "district_reviewer": None,
        "updated_at": now,
    }


def recognition_for_lot(outcome: Outcome, rec: Recognition) -> ledger.Recognition:
    return ledger.Recognition(
        learner_id=LearnerId(outcome.learner_id),
        issuer_id=InstitutionId(outcome.institution_id),
        credits=rec.credits,
        category=rec.category or "general",
        level=rec.level or 1,
        field=rec.field or "",
        rule_id=rec.rule_id or "manual",
        rule_version=rec.rule_version or "0",
        rule_set_hash=rec.rule_set_hash,
        outcome_id=outcome.id,
        expires_on=rec.expires_on,
        details={
            "outcome_type": outcome.outcome_type,
            "content": ledger_content(outcome),
            **({"supersedes": outcome.supersedes_id} if outcome.supersedes_id else {}),
        },
    )


def posted_event(
    outcome: Outcome, rec: Recognition, institution_id: str, tx_id: str | None
) -> dict[str, Any]:
    if outcome.supersedes_id:
        zh, en = msg(
            "event.posted_correction",
            supersedes=outcome.supersedes_id,
            status=_posted_status(rec.status),
            explanation=Both(rec.explanation_zh, rec.explanation_en),
        ).pair()
    else:
        zh, en = _posted_texts(rec.status, rec.explanation_zh, rec.explanation_en)
    return {
        "outcome_id": outcome.id,
        "kind": rec.status,
        "actor_role": "institution",
        "actor": institution_id,
        "detail_zh": zh,
        "detail_en": en,
        "ledger_tx_id": tx_id,
        "at": outcome.created_at,
    }


def _posted_status(status: str) -> Message:
    return {
        "recognised": msg("event.posted_status.recognised"),
        "review": msg("event.posted_status.review"),
        "rejected": msg("event.posted_status.rejected"),
    }[status]


class _PostedTexts:
    """The posted event's texts in Chinese and English by the recognition's status and explanation:
    a function of those and of the catalogues alone, which the postings of one set of facts share (a
    cohort, the rows of a batch), so rendered once for them. Kept for the catalogues they were
    rendered from (forgotten when another is loaded) and at most :data:`POSTED_TEXTS_MAX` at a time
    (forgotten all at once when full)."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._catalogues: tuple[Catalogue, Catalogue] | None = None

    def __call__(self, status: str, explanation_zh: str, explanation_en: str) -> tuple[str, str]:
        catalogues = (catalogue("zh"), catalogue("en"))
        if self._catalogues is None or any(
            a is not b for a, b in zip(catalogues, self._catalogues, strict=True)
        ):
            self._found, self._catalogues = {}, catalogues
        key = (status, explanation_zh, explanation_en)
        found = self._found.get(key)
        if found is None:
            explanation = Both(explanation_zh, explanation_en)
            found = msg("event.posted", status=_posted_status(status), explanation=explanation).pair()
            if len(self._found) >= POSTED_TEXTS_MAX:
                self._found = {}
            self._found[key] = found
        return found


POSTED_TEXTS_MAX = 1024
_posted_texts = _PostedTexts()


def get_outcome(session: Session, outcome_id: str) -> tuple[Outcome, Recognition]:
    """Raises: OutcomeNotFound."""
    outcome = session.get(Outcome, outcome_id)
    rec = session.get(Recognition, outcome_id)
    if outcome is None or rec is None:
        raise OutcomeNotFound(msg("detail.outcomes.records.no_outcome", outcome_id=outcome_id))
    return outcome, rec


def lock_outcome(session: Session, outcome_id: str) -> tuple[Outcome, Recognition]:
    """The outcome and its recognition, the recognition row locked until the transaction ends
    (so two decisions or corrections of one outcome run one after the other).

    Raises: OutcomeNotFound.
    """
    outcome = session.get(Outcome, outcome_id)
    if outcome is None:
        raise OutcomeNotFound(msg("detail.outcomes.records.no_outcome", outcome_id=outcome_id))
    rec = session.exec(
        select(Recognition)
        .where(col(Recognition.outcome_id) == outcome_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if rec is None:  # pragma: no cover - every outcome is inserted with its recognition
        raise OutcomeNotFound(msg("detail.outcomes.records.no_recognition", outcome_id=outcome_id))
    return outcome, rec


def add_event(
    session: Session,
    outcome_id: str,
    kind: str,
    *,
    actor_role: str,
    actor: str | None,
    zh: str,
    en: str,
    tx: JournalTransaction | None = None,
) -> OutcomeEvent:
    """Append one history row (the archive shows it)."""
    event = OutcomeEvent(
        outcome_id=outcome_id,
        kind=kind,
        actor_role=actor_role,
        actor=actor,
        detail_zh=zh,
        detail_en=en,
        ledger_tx_id=tx.id if tx else None,
        at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def save_recognition(session: Session, rec: Recognition) -> None:
    """Write a changed recognition (a projection: its history is in outcome_events and the ledger)."""
    rec.updated_at = utcnow()
    session.add(rec)
    session.flush()


# -- an institution's records, and learners' correction requests ---------------------------------

CORRECTION_REQUESTED = "correction_requested"
"""Kind of the outcome history row a learner's correction request appends."""
CORRECTION_REFUSED = "correction_refused"
"""Kind of the history row an institution appends when it declines the requests made before it."""

FINAL_STATES = (RecognitionStatus.revoked.value, RecognitionStatus.superseded.value)
"""An outcome in these states takes no more corrections (the request is answered or moot)."""


def institution_of(principal: Principal) -> str:
    if principal.role is not Role.institution or not principal.subject:
        raise Forbidden(msg("detail.outcomes.records.institution_only"))
    return principal.subject


def of_institution(
    session: Session, principal: Principal, *, limit: int = 50
) -> list[tuple[Outcome, Recognition]]:
    """The latest outcomes the principal's institution posted, with their recognitions, newest first.

    Raises:
        Forbidden: the principal is not an institution.
    """
    institution_id = institution_of(principal)
    return [
        (o, r)
        for o, r in session.exec(
            select(Outcome, Recognition)
            .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
            .where(col(Outcome.institution_id) == institution_id)
            .order_by(col(Outcome.created_at).desc(), col(Outcome.id))
            .limit(limit)
        ).all()
    ]


def open_correction_requests(
    session: Session, principal: Principal, *, limit: int = 50
) -> list[tuple[Outcome, OutcomeEvent]]:
    """Learners' correction requests on the principal's institution's outcomes that are still open
    (the outcome was neither corrected nor revoked since, and the institution did not decline the
    request), newest first.

    Raises:
        Forbidden: the principal is not an institution.
    """
    institution_id = institution_of(principal)
    refused = aliased(OutcomeEvent)
    answered = (
        select(refused.id)
        .where(
            col(refused.outcome_id) == col(OutcomeEvent.outcome_id),
            col(refused.kind) == CORRECTION_REFUSED,
            col(refused.id) > col(OutcomeEvent.id),
        )
        .exists()
    )
    rows = session.exec(
        select(Outcome, OutcomeEvent)
        .join(OutcomeEvent, col(OutcomeEvent.outcome_id) == col(Outcome.id))
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(
            col(Outcome.institution_id) == institution_id,
            col(OutcomeEvent.kind) == CORRECTION_REQUESTED,
            col(Recognition.status).not_in(FINAL_STATES),
            ~answered,
        )
        .order_by(col(OutcomeEvent.at).desc(), col(OutcomeEvent.id).desc())
        .limit(limit)
    ).all()
    return [(outcome, event) for outcome, event in rows]


def request_correction(session: Session, principal: Principal, outcome_id: str, text: str) -> OutcomeEvent:
    """A learner asks the institution to correct one of their outcomes: a history row the
    institution's console lists until the outcome is corrected or revoked.

    Raises:
        OutcomeNotFound: no such outcome of this learner (another learner's looks the same).
    """
    outcome, _ = get_outcome(session, outcome_id)
    if principal.role is not Role.learner or outcome.learner_id != principal.subject:
        raise OutcomeNotFound(msg("detail.web.archive_endpoints.no_outcome_yours", outcome_id=outcome_id))
    zh, en = msg("event.correction_requested", text=text).pair()
    return add_event(
        session,
        outcome.id,
        CORRECTION_REQUESTED,
        actor_role=Role.learner.value,
        actor=principal.subject,
        zh=zh,
        en=en,
    )
