"""Posting outcomes: validated facts in, recognised credits out, all in one transaction.

How a batch of rows is posted (:func:`post_rows`; a single posting is a batch of one):

1. Each row is checked on its own: its learner is resolved (by bank id, or by the keyed HMAC of
   the identity number, registering the person when a name is given), and its reference is looked
   up: the same reference with the same content is a duplicate (reported, nothing applied), with
   other content a conflict.
2. The rule set in force evaluates every remaining row (pure, no database).
3. Outcomes, recognitions and history rows are inserted; every recognised row becomes a credit lot
   through ONE ledger append for the whole batch (gapless sequence numbers, Merkle leaves).

A row that fails in 1 is reported and skipped; the others go on. Everything a call writes commits
or rolls back with the caller's transaction.

The content hash that detects duplicates (and that the ledger cites as ``content``) is an HMAC keyed
from the service's pepper, never a plain hash: a posted row may carry an identity number and a
name, and a plain SHA-256 of it could be brute-forced from the other, known fields.
"""

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from creditbank.context import AppContext
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import bulk_insert, construct, set_fields, utcnow
from creditbank.errors import Conflict, CreditBankError, NotFound
from creditbank.identifiers import normalise_identity_number
from creditbank.ids import random_id
from creditbank.institutions.models import Institution
from creditbank.learners import service as learners
from creditbank.learners.models import Learner
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition, RecognitionStatus
from creditbank.outcomes.rulesets import rule_book
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import OutcomeFacts, RuleSet, evaluate
from creditbank.rule_engine import Recognition as RuleRecognition


class ReferenceConflict(Conflict):
    slug = "reference-conflict"
    title = "This reference was already posted with different content"


class OutcomeNotFound(NotFound):
    slug = "outcome-not-found"
    title = "No such outcome"


class CountedOnce(Conflict):
    slug = "counted-once"
    title = "This achievement was already recognised for the learner and counts once"


class LearnerErased(Conflict):
    slug = "learner-erased"
    title = "The learner's personal data was erased; nothing more can be posted for them"


@dataclass
class RowResult:
    """What happened to one posted row."""

    row: int
    reference: str | None
    status: str  # created | duplicate | error
    outcome: Outcome | None = None
    recognition: Recognition | None = None
    tx: JournalTransaction | None = None
    error: CreditBankError | None = None


def content_key(ctx: AppContext) -> bytes:
    """Key of the HMAC over posted content (derived from the pepper, like the other lookup keys)."""
    return hmac_sha256(ctx.secrets.pepper, b"creditbank/outcome-content")


def request_hash(key: bytes, item: OutcomeCreate) -> str:
    """Hex HMAC-SHA-256 of the content of a posted outcome, learner as given.

    The content is serialised with sorted keys (an internal fingerprint, compared only with itself;
    the standard library's encoder is used here because it is many times faster than RFC 8785 on
    the bulk path, and nothing outside the service ever recomputes it).
    """
    body = item.model_dump(mode="json", exclude_none=True)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac_sha256(key, text.encode()).hex()


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


def _recognition_row(outcome: Outcome, result: RuleRecognition, rule_set: RuleSet) -> Recognition:
    status = RecognitionStatus(result.status)
    return construct(
        Recognition,
        outcome_id=outcome.id,
        status=status.value,
        stage=result.review_stages[0]
        if status is RecognitionStatus.review and result.review_stages
        else None,
        credits=result.credits,
        level=result.level,
        category=result.category,
        field=result.field,
        rule_id=result.rule_id,
        rule_version=str(result.rule_version) if result.rule_version is not None else None,
        rule_set_id=rule_set.id,
        rule_set_version=rule_set.version,
        rule_set_hash=rule_set.hash,
        explanation_zh=result.explanation.zh,
        explanation_en=result.explanation.en,
        review_reason_zh=result.review_reason.zh if result.review_reason else None,
        review_reason_en=result.review_reason.en if result.review_reason else None,
        expires_on=result.expires_on,
        count_once_key=result.count_once_key,
        lot_id=None,
        district_reviewer=None,
        updated_at=utcnow(),
    )


def recognition_for_lot(outcome: Outcome, rec: Recognition) -> ledger.Recognition:
    return ledger.Recognition(
        learner_id=outcome.learner_id,
        issuer_id=outcome.institution_id,
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
            "evidence": outcome.evidence_hash,
            "content": outcome.request_hash,
            **({"supersedes": outcome.supersedes_id} if outcome.supersedes_id else {}),
        },
    )


def _resolve_learners(
    session: Session, ctx: AppContext, institution: Institution, rows: Sequence[tuple[int, OutcomeCreate]]
) -> tuple[dict[int, str], dict[int, CreditBankError]]:
    found: dict[int, str] = {}
    errors: dict[int, CreditBankError] = {}
    by_id = {item.learner_id for _, item in rows if item.learner_id}
    known: dict[str, bool] = (
        {
            lid: erased is not None
            for lid, erased in session.exec(
                select(Learner.id, Learner.erased_at).where(col(Learner.id).in_(by_id))
            ).all()
        }
        if by_id
        else {}
    )
    digests: dict[int, str] = {}
    for row, item in rows:
        if item.learner_id:
            if item.learner_id not in known:
                errors[row] = learners.LearnerNotFound(f"no learner {item.learner_id}")
            elif known[item.learner_id]:
                errors[row] = LearnerErased(f"learner {item.learner_id} was erased")
            else:
                found[row] = item.learner_id
        else:
            try:
                number = normalise_identity_number(item.identity_number or "")
            except CreditBankError as exc:
                errors[row] = exc
                continue
            digests[row] = learners.lookup_hash(ctx.identity_key, number)
    if digests:
        stmt = select(Learner.lookup_hmac, Learner.id).where(
            col(Learner.lookup_hmac).in_(set(digests.values()))
        )
        by_digest = {d: i for d, i in session.exec(stmt).all() if d is not None}
        items = dict(rows)
        for row, digest in digests.items():
            if digest in by_digest:
                found[row] = by_digest[digest]
            elif items[row].learner_name:
                learner, _ = learners.register(
                    session,
                    identity_key=ctx.identity_key,
                    master_key=ctx.secrets.master_key,
                    name=items[row].learner_name or "",
                    identity_number=items[row].identity_number or "",
                    institution_id=institution.id,
                )
                found[row] = by_digest[digest] = learner.id
            else:
                errors[row] = learners.LearnerNotFound(
                    "no learner with that identity number; register them first or send learner_name"
                )
    return found, errors


def post_rows(
    session: Session,
    ctx: AppContext,
    institution: Institution,
    rows: Sequence[tuple[int, OutcomeCreate]],
    *,
    today: dt.date | None = None,
    supersedes: Mapping[int, str] | None = None,
) -> list[RowResult]:
    """Post rows of one institution; return one result per row, in order (see module docstring).

    ``supersedes`` maps a row number to the outcome that row corrects (see
    :mod:`creditbank.outcomes.corrections`, which marks the old outcome first). Raises nothing for
    a row's own problems (they are in its result); raises what the ledger raises.
    """
    today = today or dt.date.today()
    supersedes = supersedes or {}
    results: dict[int, RowResult] = {}
    key = content_key(ctx)
    hashes = {row: request_hash(key, item) for row, item in rows}
    # 1. references: duplicates and conflicts, also within the batch
    refs = [item.reference for _, item in rows]
    existing = {
        o.reference: o
        for o in session.exec(
            select(Outcome).where(
                col(Outcome.institution_id) == institution.id, col(Outcome.reference).in_(refs)
            )
        ).all()
    }
    pending: list[tuple[int, OutcomeCreate]] = []
    seen: dict[str, int] = {}
    for row, item in rows:
        prior = existing.get(item.reference)
        if prior is not None or item.reference in seen:
            same = (
                prior.request_hash == hashes[row]
                if prior is not None
                else hashes[seen[item.reference]] == hashes[row]
            )
            if same:
                results[row] = RowResult(row, item.reference, "duplicate", outcome=prior)
            else:
                results[row] = RowResult(
                    row,
                    item.reference,
                    "error",
                    error=ReferenceConflict(
                        f"reference {item.reference!r} was already posted with other content"
                    ),
                )
            continue
        seen[item.reference] = row
        pending.append((row, item))
    learner_of, learner_errors = _resolve_learners(session, ctx, institution, pending)
    for row, exc in learner_errors.items():
        results[row] = RowResult(row, dict(pending)[row].reference, "error", error=exc)
    pending = [(row, item) for row, item in pending if row in learner_of]
    # 2. rules
    rule_set = rule_book(ctx.settings.rules_dir).in_force(today)
    outcomes: list[Outcome] = []
    recognitions: list[Recognition] = []
    for row, item in pending:
        outcome = construct(
            Outcome,
            id=random_id("out"),
            learner_id=learner_of[row],
            institution_id=institution.id,
            reference=item.reference,
            outcome_type=item.outcome_type,
            title=item.title,
            achieved_on=item.achieved_on,
            hours=item.hours,
            level=item.level,
            score=item.score,
            grade=item.grade,
            field=item.field,
            course_code=item.course_code,
            identity_verified=item.identity_verified,
            evidence_hash=item.evidence_hash,
            attributes=dict(item.attributes),
            request_hash=hashes[row],
            supersedes_id=supersedes.get(row),
        )
        rec = _recognition_row(
            outcome, evaluate(rule_set, outcome_facts(outcome, institution.kind), today), rule_set
        )
        outcomes.append(outcome)
        recognitions.append(rec)
        results[row] = RowResult(row, item.reference, "created", outcome=outcome, recognition=rec)
    _apply_count_once(session, outcomes, recognitions)
    # 3. write, with one ledger append for all recognised rows
    if outcomes:
        bulk_insert(session, Outcome, [o.model_dump() for o in outcomes])
        to_credit = [
            (o, r)
            for o, r in zip(outcomes, recognitions, strict=True)
            if r.status == RecognitionStatus.recognised
        ]
        txs: dict[str, JournalTransaction] = {}
        if to_credit:
            pairs = ledger.record_recognitions(session, [recognition_for_lot(o, r) for o, r in to_credit])
            for (o, r), (tx, lot) in zip(to_credit, pairs, strict=True):
                set_fields(r, lot_id=lot.id)
                txs[o.id] = tx
        bulk_insert(session, Recognition, [r.model_dump() for r in recognitions])
        bulk_insert(
            session,
            OutcomeEvent,
            [
                _posted_event(o, r, institution.id, txs.get(o.id))
                for o, r in zip(outcomes, recognitions, strict=True)
            ],
        )
        for result in results.values():
            if result.outcome is not None and result.status == "created":
                result.tx = txs.get(result.outcome.id)
        learners.link_many(session, {o.learner_id for o in outcomes}, institution.id)
    return [results[row] for row, _ in rows]


def _apply_count_once(session: Session, outcomes: list[Outcome], recognitions: list[Recognition]) -> None:
    """An achievement with a count-once key is recognised once per learner (e.g. one competition)."""
    keyed = [
        (o, r)
        for o, r in zip(outcomes, recognitions, strict=True)
        if r.count_once_key and r.status != "rejected"
    ]
    if not keyed:
        return
    stmt = (
        select(Outcome.learner_id, Recognition.count_once_key)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(
            col(Outcome.learner_id).in_({o.learner_id for o, _ in keyed}),
            col(Recognition.count_once_key).in_({r.count_once_key for _, r in keyed}),
            col(Recognition.status).in_(["recognised", "review"]),
        )
    )
    taken = {(lid, key) for lid, key in session.exec(stmt).all()}
    for outcome, rec in keyed:
        slot = (outcome.learner_id, rec.count_once_key)
        if slot in taken:
            rec.status = RecognitionStatus.rejected.value
            rec.stage = None
            rec.explanation_zh = f"同一成果只计一次（{rec.count_once_key}），已认定过；" + rec.explanation_zh
            rec.explanation_en = (
                f"Counted once ({rec.count_once_key}) and already recognised. " + rec.explanation_en
            )
        else:
            taken.add(slot)


def _posted_event(
    outcome: Outcome, rec: Recognition, institution_id: str, tx: JournalTransaction | None
) -> dict[str, Any]:
    words = {
        "recognised": ("已认定", "recognised"),
        "review": ("待人工审核", "sent to review"),
        "rejected": ("未予认定", "not recognised"),
    }[rec.status]
    posted_zh, posted_en = (
        (f"作为对 {outcome.supersedes_id} 的更正提交", f"Posted as the correction of {outcome.supersedes_id}")
        if outcome.supersedes_id
        else ("提交", "Posted")
    )
    return {
        "outcome_id": outcome.id,
        "kind": rec.status,
        "actor_role": "institution",
        "actor": institution_id,
        "detail_zh": f"{posted_zh}并{words[0]}：{rec.explanation_zh}",
        "detail_en": f"{posted_en} and {words[1]}: {rec.explanation_en}",
        "ledger_tx_id": tx.id if tx else None,
        "at": outcome.created_at,
    }


def get_outcome(session: Session, outcome_id: str) -> tuple[Outcome, Recognition]:
    """Raises: OutcomeNotFound."""
    outcome = session.get(Outcome, outcome_id)
    rec = session.get(Recognition, outcome_id)
    if outcome is None or rec is None:
        raise OutcomeNotFound(f"no outcome {outcome_id}")
    return outcome, rec


def lock_outcome(session: Session, outcome_id: str) -> tuple[Outcome, Recognition]:
    """The outcome and its recognition, the recognition row locked until the transaction ends
    (so two decisions or corrections of one outcome run one after the other).

    Raises: OutcomeNotFound.
    """
    outcome = session.get(Outcome, outcome_id)
    if outcome is None:
        raise OutcomeNotFound(f"no outcome {outcome_id}")
    rec = session.exec(
        select(Recognition)
        .where(col(Recognition.outcome_id) == outcome_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if rec is None:  # pragma: no cover - every outcome is inserted with its recognition
        raise OutcomeNotFound(f"no recognition for outcome {outcome_id}")
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
