"""Revoking and correcting posted outcomes. Nothing is edited: both append.

* :func:`revoke` ends an outcome (``revoked``): its credit lot is reversed through the ledger
  (a conversion of the lot is reversed first); an outcome without credits gets a ledger note.
* :func:`correct` supersedes an outcome by a new one, in one transaction: the old recognition
  becomes ``superseded`` (its lot reversed, as above), and the new outcome is posted through the
  same path as any other (:func:`creditbank.outcomes.service.post_rows`) with ``supersedes_id``
  naming the old one. The archive lists both, with what changed and when.

References of corrections: the new outcome needs a reference of its own (references are unique per
institution). Send a new reference, or repeat the old one: a repeated reference is stored with the
suffix ``~c<N>``, N counting the corrections of that outcome chain (``R-1`` -> ``R-1~c1`` ->
``R-1~c2``). Re-sending the original file later then reports the original rows as duplicates.

Only the institution that posted an outcome may revoke or correct it; revoked and superseded
outcomes are final.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from creditbank.context import AppContext
from creditbank.errors import Conflict, ValidationFailed
from creditbank.i18n import Message, msg
from creditbank.institutions.models import Institution
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, TxKind
from creditbank.outcomes import records, service
from creditbank.outcomes.models import Outcome, Recognition, RecognitionStatus
from creditbank.outcomes.schemas import OutcomeCreate

CORRECTION_SUFFIX = "~c"
FINAL = (RecognitionStatus.revoked.value, RecognitionStatus.superseded.value)
COMPARED = (
    "outcome_type",
    "title",
    "achieved_on",
    "hours",
    "level",
    "score",
    "grade",
    "field",
    "course_code",
    "identity_verified",
    "evidence_hash",
    "attributes",
)


class OutcomeFinal(Conflict):
    slug = "outcome-final"
    title = "The outcome was already revoked or superseded"


class NothingToCorrect(ValidationFailed):
    slug = "nothing-to-correct"
    title = "The correction states the same facts as the outcome it would correct"


class CorrectionReferenceTaken(service.ReferenceConflict):
    slug = "correction-reference-taken"
    title = "The correction's reference is already used by another outcome"


@dataclass
class Revoked:
    outcome: Outcome
    recognition: Recognition
    ledger: list[JournalTransaction]


@dataclass
class Corrected:
    new: service.RowResult
    old: Outcome
    old_recognition: Recognition
    changes: list[str]
    ledger: list[JournalTransaction]


def owned_outcome(session: Session, outcome_id: str, institution_id: str) -> tuple[Outcome, Recognition]:
    """Lock an outcome that this institution posted; others' outcomes look missing.

    Raises: OutcomeNotFound, OutcomeFinal.
    """
    outcome, rec = records.lock_outcome(session, outcome_id)
    if outcome.institution_id != institution_id:
        raise records.OutcomeNotFound(
            msg("detail.outcomes.corrections.no_outcome_yours", outcome_id=outcome_id)
        )
    if rec.status in FINAL:
        raise OutcomeFinal(
            msg("detail.outcomes.corrections.outcome_already", outcome_id=outcome_id, status=rec.status),
            status=rec.status,
        )
    return outcome, rec


def _undo_credits(
    session: Session, outcome: Outcome, rec: Recognition, *, action: str, reason: str, by: str
) -> list[JournalTransaction]:
    """Reverse the outcome's lot (its conversion first), or note the change when it has none."""
    if rec.lot_id:
        return ledger.revoke_lot(session, rec.lot_id, reason=f"{action}: {reason}", by=by)
    note = ledger.record_event(
        session,
        TxKind.note,
        learner_id=outcome.learner_id,
        details={"outcome": outcome.id, "action": action, "was": rec.status, "reason": reason, "by": by},
    )
    return [note]


def revoke(session: Session, outcome_id: str, institution_id: str, reason: str) -> Revoked:
    """Revoke an outcome this institution posted (see the module docstring).

    Raises: OutcomeNotFound, OutcomeFinal.
    """
    outcome, rec = owned_outcome(session, outcome_id, institution_id)
    txs = _undo_credits(session, outcome, rec, action="revoked", reason=reason, by=institution_id)
    was = rec.status
    rec.status = RecognitionStatus.revoked.value
    rec.stage = None
    records.save_recognition(session, rec)
    reversed_ = msg("correction.reversed", credits=rec.credits) if rec.lot_id else ""
    zh, en = msg("correction.revoked_event", was=_status(was), reversed=reversed_, reason=reason).pair()
    records.add_event(
        session,
        outcome.id,
        "revoked",
        actor_role="institution",
        actor=institution_id,
        zh=zh,
        en=en,
        tx=txs[-1],
    )
    return Revoked(outcome, rec, txs)


def _status(status: str) -> Message:
    """A recognition status as people read it (``status.recognised``: 已认定 / recognised)."""
    return Message(f"status.{status}", {})


def _root_and_depth(session: Session, outcome: Outcome) -> tuple[str, int]:
    """The reference of the first outcome of a correction chain, and how many corrections it has."""
    depth, current = 0, outcome
    while current.supersedes_id is not None:
        previous = session.get(Outcome, current.supersedes_id)
        if previous is None:  # pragma: no cover - a foreign key guards it
            break
        depth, current = depth + 1, previous
    return current.reference, depth


def correction_reference(session: Session, old: Outcome, wanted: str) -> str:
    """The reference the correction is stored under (see the module docstring)."""
    root, depth = _root_and_depth(session, old)
    if wanted in (old.reference, root):
        return f"{root}{CORRECTION_SUFFIX}{depth + 1}"
    return wanted


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def changes_between(old: Outcome, new: OutcomeCreate, new_learner: str | None) -> list[str]:
    """The facts that differ, as 'name: old -> new' (decimals compared by value)."""
    found: list[str] = []
    for name in COMPARED:
        before, after = getattr(old, name), getattr(new, name)
        if name == "attributes":
            before, after = dict(before or {}), dict(after or {})
        if before != after:
            found.append(f"{name}: {_text(before)} -> {_text(after)}")
    if new_learner is not None and new_learner != old.learner_id:
        found.append(f"learner: {old.learner_id} -> {new_learner}")
    return found


def correct(
    session: Session,
    ctx: AppContext,
    institution: Institution,
    outcome_id: str,
    body: OutcomeCreate,
    *,
    today: dt.date | None = None,
) -> Corrected:
    """Supersede an outcome by a corrected one, all or nothing (see the module docstring).

    Raises:
        OutcomeNotFound, OutcomeFinal: as for :func:`revoke`.
        CorrectionReferenceTaken: the (suffixed) reference is already used.
        NothingToCorrect: the body states the same facts for the same learner.
        LearnerNotFound, LearnerErased, InvalidIdentityNumber, ...: the new row's own problem.
    """
    # 1. the old outcome, locked; the new reference must be free
    old, rec = owned_outcome(session, outcome_id, institution.id)
    reference = correction_reference(session, old, body.reference)
    taken = session.exec(
        select(Outcome.id).where(
            col(Outcome.institution_id) == institution.id, col(Outcome.reference) == reference
        )
    ).first()
    if taken is not None:
        raise CorrectionReferenceTaken(
            msg(
                "detail.outcomes.corrections.reference_already_used_outcome", reference=reference, taken=taken
            )
        )
    item = body.model_copy(update={"reference": reference})
    if body.learner_id == old.learner_id and not changes_between(old, item, None):
        raise NothingToCorrect(
            msg("detail.outcomes.corrections.correction_states_same_facts", outcome_id=outcome_id)
        )
    # 2. the old recognition leaves the count (count-once keys, review queue) before the new is posted
    was = rec.status
    rec.status = RecognitionStatus.superseded.value
    rec.stage = None
    records.save_recognition(session, rec)
    # 3. the new outcome, through the ordinary path
    [result] = service.post_rows(session, ctx, institution, [(1, item)], today=today, supersedes={1: old.id})
    if result.error is not None:
        raise result.error
    if result.outcome is None or result.status != "created":  # pragma: no cover - the reference was free
        raise CorrectionReferenceTaken(
            msg("detail.outcomes.corrections.reference_already_used", reference=reference)
        )
    new = result.outcome
    changes = changes_between(old, item, new.learner_id)
    if not changes:
        raise NothingToCorrect(
            msg("detail.outcomes.corrections.correction_states_same_facts", outcome_id=outcome_id)
        )
    # 4. undo the old credits, citing the new outcome (the ledger names the changed facts, not their
    #    values: its leaves stay free of anything about the person); then the history of both
    changed = sorted({change.split(":", 1)[0] for change in changes})
    reason = f"superseded by {new.id} (changed: {', '.join(changed)})"
    txs = _undo_credits(session, old, rec, action="corrected", reason=reason, by=institution.id)
    summary = "; ".join(changes)
    reversed_ = msg("correction.reversed", credits=rec.credits) if rec.lot_id else ""
    old_zh, old_en = msg(
        "correction.superseded_event",
        new=new.id,
        reference=reference,
        was=_status(was),
        reversed=reversed_,
        summary=summary,
    ).pair()
    new_zh, new_en = msg(
        "correction.corrects_event", old=old.id, reference=old.reference, summary=summary
    ).pair()
    records.add_event(
        session,
        old.id,
        "corrected",
        actor_role="institution",
        actor=institution.id,
        zh=old_zh,
        en=old_en,
        tx=txs[-1],
    )
    records.add_event(
        session,
        new.id,
        "corrected",
        actor_role="institution",
        actor=institution.id,
        zh=new_zh,
        en=new_en,
    )
    return Corrected(result, old, rec, changes, txs)
