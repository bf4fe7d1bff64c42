"""Posting outcomes: validated facts in, recognised credits out, all in one transaction.

How a batch of rows is posted (:func:`post_rows`; a single posting is a batch of one):

1. Each row is checked on its own: its learner is resolved (by bank id, or by the keyed HMAC of
   the identity number, registering the person when a name is given), and its reference is looked
   up: the same reference with the same content is a duplicate (reported, nothing applied), with
   other content a conflict.
2. The rule set in force evaluates every remaining row (pure, no database), once for all the rows
   of a call that share their facts (a cohort: the same course, date and hours).
3. Outcomes, recognitions and history rows are inserted; every recognised row becomes a credit lot
   through ONE ledger append for the whole batch (gapless sequence numbers, Merkle leaves).

A row that fails in 1 is reported and skipped; the others go on. Everything a call writes commits
or rolls back with the caller's transaction.

The content hash that detects duplicates (``outcomes.request_hash``) is an HMAC keyed from the
service's pepper, never a plain hash: a posted row may carry an identity number and a name, and a
plain SHA-256 of it could be brute-forced from the other, known fields. It stays inside the service
(erasure overwrites it). The ledger cites another hash as ``content`` (:func:`.records.ledger_content`): the
stored outcome's facts with the pseudonymous learner id, and no personal field (no name, identity
number or evidence file hash), so nothing in the public log is a function of personal data that
would survive erasure.
"""

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from creditbank.accreditation import service as accreditation
from creditbank.context import AppContext
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import (
    bulk_insert,
    construct,
    few_rows_pipelined,
    fields_of,
    set_fields,
    utcnow,
)
from creditbank.errors import Conflict, CreditBankError
from creditbank.i18n import msg
from creditbank.identifiers import normalise_identity_number
from creditbank.ids import random_id
from creditbank.institutions.models import Institution
from creditbank.learners import access
from creditbank.learners import service as learners
from creditbank.learners.models import Learner
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes import lookups, records
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition, RecognitionStatus
from creditbank.outcomes.rulesets import rule_book
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import Recognition as RuleRecognition
from creditbank.rule_engine import RuleSet, evaluate
from creditbank.transparency import store


class ReferenceConflict(Conflict):
    slug = "reference-conflict"
    title = "This reference was already posted with different content"


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
    return _content_key_of(ctx.secrets.pepper)


def previous_content_key(ctx: AppContext) -> bytes | None:
    """The content key under the pepper before the last rotation, while that pepper is live: content
    posted before the rotation is compared under it (new content is always keyed by the current one)."""
    previous = ctx.secrets.previous_pepper
    return _content_key_of(previous) if previous is not None else None


@functools.lru_cache(maxsize=4)  # a function of the pepper alone: derived once per pepper, not per posting
def _content_key_of(pepper: bytes) -> bytes:
    return hmac_sha256(pepper, b"creditbank/outcome-content")


def content_hashes(ctx: AppContext, item: OutcomeCreate) -> tuple[str, list[str]]:
    """The content hash of a posted outcome under the current pepper, and (in a list, while the
    previous pepper is live) under the previous one: what an idempotent request posted before a
    rotation was fingerprinted with."""
    previous = previous_content_key(ctx)
    return request_hash(content_key(ctx), item), [] if previous is None else [request_hash(previous, item)]


def request_hash(key: bytes, item: OutcomeCreate) -> str:
    """Hex HMAC-SHA-256 of the content of a posted outcome, learner as given.

    The content is serialised with sorted keys (an internal fingerprint, compared only with itself;
    the standard library's encoder is used here because it is many times faster than RFC 8785 on
    the bulk path, and nothing outside the service ever recomputes it).
    """
    body = item.model_dump(mode="json", exclude_none=True)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac_sha256(key, text.encode()).hex()


def _facts_key(item: OutcomeCreate) -> tuple[Any, ...]:
    """Everything :func:`.records.outcome_facts` gives the rules of the outcome posted as ``item``, except its
    id (the institution and the evaluation date are the same for a whole call of :func:`post_rows`)."""
    return (
        item.outcome_type,
        item.title,
        item.achieved_on,
        item.hours,
        item.level,
        item.score,
        item.grade,
        item.identity_verified,
        item.field,
        item.course_code,
        json.dumps(item.attributes, sort_keys=True, default=str) if item.attributes else "",
    )


class Decisions:
    """The rules' decisions of this process's recent postings, by rule set (its id, version and
    content hash), issuer kind, evaluation date and facts (:func:`_facts_key`): a single posting
    whose facts a recent one had (a cohort: one course, one date, one number of hours, posted one
    learner at a time) takes that decision instead of evaluating the rules again (about 0.3-0.5 ms).

    Exact: :func:`creditbank.rule_engine.evaluate` is pure (the same set, facts and date give the
    same decision), and a rule set that changes in any way has another hash, so nothing decided
    under an earlier set or date is found. At most :data:`DECISIONS_MAX` kept (forgotten all at
    once when full, so memory stays bounded).
    """

    def __init__(self) -> None:
        self._found: dict[tuple[Any, ...], RuleRecognition] = {}

    def decide(
        self, rule_set: RuleSet, outcome: Outcome, issuer_kind: str, today: dt.date, facts: tuple[Any, ...]
    ) -> RuleRecognition:
        key = (rule_set.id, rule_set.version, rule_set.hash, issuer_kind, today, facts)
        found = self._found.get(key)
        if found is None:
            found = evaluate(rule_set, records.outcome_facts(outcome, issuer_kind), today)
            if len(self._found) >= DECISIONS_MAX:
                self._found.clear()
            self._found[key] = found
        return found


DECISIONS_MAX = 1024
decisions = Decisions()


def _resolve_learners(
    session: Session,
    ctx: AppContext,
    institution: Institution,
    rows: Sequence[tuple[int, OutcomeCreate]],
    known: dict[str, bool] | None = None,
) -> tuple[dict[int, str], dict[int, CreditBankError]]:
    """``known``: the rows' learners as :func:`.lookups.learners_erased` gives them, if read already."""
    found: dict[int, str] = {}
    errors: dict[int, CreditBankError] = {}
    by_id = sorted({item.learner_id for _, item in rows if item.learner_id})
    if known is None:
        known = lookups.learners_erased(session, by_id) if by_id else {}
    digests: dict[int, str] = {}
    for row, item in rows:
        if item.learner_id:
            if item.learner_id not in known:
                errors[row] = learners.LearnerNotFound(
                    msg("detail.learners.no_learner", learner_id=item.learner_id)
                )
            elif known[item.learner_id]:
                errors[row] = LearnerErased(
                    msg("detail.outcomes.service.learner_erased", learner_id=item.learner_id)
                )
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
        # "no learner with that number" tells whether a person has an account: a lookup, logged and limited
        lookup_limit = ctx.settings.identity_lookups_per_minute
        misses = [r for r, d in digests.items() if d not in by_digest and not items[r].learner_name]
        allowed = access.answer_unknown_numbers(session, institution.id, len(misses), lookup_limit)
        refused = set(misses[allowed:])
        for row, digest in digests.items():
            if digest in by_digest:
                found[row] = by_digest[digest]
            elif row in refused:
                errors[row] = access.refused_posting_miss(lookup_limit)
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
                errors[row] = learners.LearnerNotFound(msg("detail.outcomes.service.no_learner_register"))
    return found, errors


def unknown_number(
    session: Session, ctx: AppContext, institution: Institution, item: OutcomeCreate
) -> CreditBankError | None:
    """For a single posting by identity number without a name: the "no learner with that identity
    number" answer, already logged as a lookup (the caller must answer it, not raise it, so that the
    log row is committed), or None when the number is known (or the posting is by learner id or
    brings a name to register).

    Raises:
        TooManyLookups: the institution had its minute's answers about unknown numbers.
        InvalidIdentityNumber: and the other refusals of the number itself.
    """
    if not item.identity_number or item.learner_name:
        return None
    _, errors = _resolve_learners(session, ctx, institution, [(1, item)])
    error = errors.get(1)
    if isinstance(error, learners.LearnerNotFound):
        return error
    if error is not None:
        raise error
    return None


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
    staged = stage_rows(session, ctx, institution, rows, today=today, supersedes=supersedes)
    attach(staged, ledger.append(session, store.DEFAULT_LOG, staged.entries) if staged.entries else [])
    return staged.results


def post_one(session: Session, ctx: AppContext, institution: Institution, item: OutcomeCreate) -> RowResult:
    """Post one outcome (:func:`post_rows` of one row).

    Raises:
        CreditBankError: the row's own problem (its learner unknown, its reference taken, ...).
    """
    [result] = post_rows(session, ctx, institution, [(1, item)])
    if result.error is not None:
        raise result.error
    return result


@dataclass
class StagedRows:
    """Rows written up to their ledger entries (:func:`stage_rows`): the results, in row order, and
    the journal entries still to append (``credited[i]`` is the outcome of ``entries[i]``)."""

    results: list[RowResult]
    entries: list[ledger.EntrySpec]
    credited: list[str]


def attach(staged: StagedRows, appended: Sequence[JournalTransaction]) -> None:
    """Give the created results the journal transactions of their entries, once appended."""
    txs = dict(zip(staged.credited, appended, strict=True))
    for result in staged.results:
        if result.outcome is not None and result.status == "created":
            result.tx = txs.get(result.outcome.id)


def stage_rows(
    session: Session,
    ctx: AppContext,
    institution: Institution,
    rows: Sequence[tuple[int, OutcomeCreate]],
    *,
    today: dt.date | None = None,
    supersedes: Mapping[int, str] | None = None,
    hashed: Mapping[int, str] | None = None,
    read: lookups.ReadAhead | None = None,
) -> StagedRows:
    """:func:`post_rows` without the ledger append: the outcome rows are written, and their journal
    entries are returned for the caller to append (with others: see
    :mod:`creditbank.outcomes.grouped`) and :func:`attach`. ``hashed``: rows' content hashes under
    the current pepper the caller computed already (:func:`content_hashes`), by row number; ``read``:
    the rows' :func:`.lookups.read_ahead`, if the caller read it already."""
    today = today or dt.date.today()
    supersedes = supersedes or {}
    results: dict[int, RowResult] = {}
    key, previous_key = content_key(ctx), previous_content_key(ctx)
    hashed = hashed or {}
    hashes = {row: hashed.get(row) or request_hash(key, item) for row, item in rows}
    # 1. references: duplicates and conflicts, also within the batch
    ahead = read if read is not None else lookups.read_ahead(session, institution, rows)
    existing = (
        ahead.posted
        if ahead is not None
        else lookups.posted_references(session, institution.id, [item.reference for _, item in rows])
    )
    pending: list[tuple[int, OutcomeCreate]] = []
    seen: dict[str, int] = {}
    for row, item in rows:
        prior = existing.get(item.reference)
        if prior is not None or item.reference in seen:
            same = (
                prior[1] == hashes[row] if prior is not None else hashes[seen[item.reference]] == hashes[row]
            )
            if not same and prior is not None and previous_key is not None:  # posted before a rotation
                same = prior[1] == request_hash(previous_key, item)
            if same:
                outcome = session.get(Outcome, prior[0]) if prior is not None else None
                results[row] = RowResult(row, item.reference, "duplicate", outcome=outcome)
            else:
                results[row] = RowResult(
                    row,
                    item.reference,
                    "error",
                    error=ReferenceConflict(
                        msg("detail.outcomes.service.reference_conflict", reference=item.reference)
                    ),
                )
            continue
        seen[item.reference] = row
        pending.append((row, item))
    # accreditation: each row within the institution's scope (a 403 naming the scope otherwise)
    scope = ahead.scope if ahead is not None else accreditation.scope_of(session, institution)
    outside: list[tuple[int, OutcomeCreate]] = []
    for row, item in pending:
        code = item.attributes.get("catalogue_code")
        try:
            accreditation.check_posting(
                scope, session, item.outcome_type, None if code is None else str(code)
            )
        except CreditBankError as refused:
            results[row] = RowResult(row, item.reference, "error", error=refused)
            outside.append((row, item))
    pending = [entry for entry in pending if entry not in outside]
    learner_of, learner_errors = _resolve_learners(
        session, ctx, institution, pending, ahead.learners if ahead is not None else None
    )
    references = {row: item.reference for row, item in pending}
    for row, exc in learner_errors.items():
        results[row] = RowResult(row, references[row], "error", error=exc)
    pending = [(row, item) for row, item in pending if row in learner_of]
    # 2. rules
    rule_set = rule_book(ctx.settings.rules_dir).in_force(today)
    outcomes: list[Outcome] = []
    recognitions: list[Recognition] = []
    decided: dict[tuple[Any, ...], dict[str, Any]] = {}  # facts -> recognition fields
    now = utcnow()
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
            created_at=now,
        )
        # the rules' decision depends on the facts alone (not on the outcome's id): rows with the
        # same facts (a cohort: one course, one date, one number of hours) are evaluated once
        facts_key = _facts_key(item)
        fields = decided.get(facts_key)
        if fields is None:
            decision = decisions.decide(rule_set, outcome, institution.kind, today, facts_key)
            fields = decided[facts_key] = records.recognition_fields(decision, rule_set, now)
        rec = construct(Recognition, outcome_id=outcome.id, **fields)
        outcomes.append(outcome)
        recognitions.append(rec)
        results[row] = RowResult(row, item.reference, "created", outcome=outcome, recognition=rec)
    _apply_count_once(session, outcomes, recognitions)
    # 3. write: the outcome rows first, the ledger append last (the caller's), so the issuer's
    #    account and the log stay locked (until commit) for as short a time as possible
    specs: list[ledger.EntrySpec] = []
    credited: list[str] = []
    if outcomes:
        to_credit = [
            (o, r)
            for o, r in zip(outcomes, recognitions, strict=True)
            if r.status == RecognitionStatus.recognised
        ]
        entries = [ledger.recognition_entry(records.recognition_for_lot(o, r)) for o, r in to_credit]
        tx_of: dict[str, str] = {}
        for (o, r), (spec, lot) in zip(to_credit, entries, strict=True):
            set_fields(r, lot_id=lot.id)
            tx_of[o.id] = spec.tx_id
            specs.append(spec)
            credited.append(o.id)
        events = [
            records.posted_event(o, r, institution.id, tx_of.get(o.id))
            for o, r in zip(outcomes, recognitions, strict=True)
        ]
        with few_rows_pipelined(session, len(outcomes)):  # a single posting's four writes: one trip
            bulk_insert(session, Outcome, [fields_of(o) for o in outcomes])
            bulk_insert(session, Recognition, [fields_of(r) for r in recognitions])
            bulk_insert(session, OutcomeEvent, events)
            learners.link_many(session, {o.learner_id for o in outcomes}, institution.id)
    return StagedRows([results[row] for row, _ in rows], specs, credited)


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
