"""A learner's lifelong learning archive (终身学习档案), its export, and erasure.

How this works:

* The archive is read, never stored: every outcome posted for the learner with its recognition
  (status, explanation in Chinese and English, rule citation) and its history; every credit lot
  with its explanation and state; balances by category and framework level; conversions; and a
  ledger reference (log, index, leaf hash) for every journal entry of the learner, so that each
  item can be checked against the public transparency log; and the transfer certificates issued
  for the learner (listed by the credentials domain).
* The export adds what the vault holds about the person (name, identity number, contact) and the
  log of who else read the archive: everything the bank keeps about the learner, as one JSON file.
* Erasure (:func:`creditbank.archive.erasure.erase`) destroys the personal data and keeps the
  record: the vault row and with it the only copy of the learner's data key are deleted (crypto-
  shredding), the identity-number HMAC is cleared (the person can no longer be found), the learner's
  tokens are revoked (with the browser sessions opened with them), every grant and share link of the
  learner stops, and a tombstone entry (no personal data) is appended to the ledger. The ledger,
  lots and outcomes stay, under the random learner id; the archive keeps working, without a name. No
  leaf holds a function of personal data (see :func:`creditbank.outcomes.records.ledger_content`),
  so nothing in the public log links the random id back to the person. The keyed hashes computed
  over what was posted for the person (``outcomes.request_hash``, the duplicate-detection HMAC over
  the row as posted, identity number and name included, and the stored ``Idempotency-Key``
  fingerprints of the requests, which are functions of it) are overwritten with
  :data:`creditbank.archive.erasure.ERASED`: with the pepper, either would confirm a guess of the
  identity number. After the commit, :func:`creditbank.archive.erasure.vacuum_after_erasure` vacuums
  the tables that held the data, so the old row versions do not wait for autovacuum (``VACUUM``
  cannot run inside a transaction). ``docs/operations.md`` says how long copies survive in the
  write-ahead log and in backups.
"""

import base64
import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from creditbank.archive.rows import pipelined_reads
from creditbank.archive.schemas import (
    AccessRecord,
    Archive,
    ArchiveExport,
    ArchiveLearner,
    BalancePublic,
    ConversionPublic,
    PersonalData,
)
from creditbank.catalog import consent as consents
from creditbank.catalog.models import Consent, Conversion
from creditbank.catalog.schemas import ConsentPublic
from creditbank.credentials import service as credentials
from creditbank.credentials.models import Certificate
from creditbank.credentials.schemas import CertificatePublic
from creditbank.db import construct, utcnow
from creditbank.learners import access as grants
from creditbank.learners import service as learners
from creditbank.learners import vault
from creditbank.learners.access import grant_public
from creditbank.learners.models import ArchiveAccess, Learner, LearnerVault
from creditbank.ledger import queries
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, Lot, LotLock, Posting, TxKind
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition
from creditbank.outcomes.schemas import LedgerRef, RecognitionPublic
from creditbank.rule_engine.conversion import expired
from creditbank.rule_engine.models import ConversionPlan
from creditbank.standards.tlog import merkle

log = logging.getLogger(__name__)

# -- reading -------------------------------------------------------------------------------------


class Journalled(Protocol):
    """A journal entry as :func:`ref` reads it: a :class:`JournalTransaction` or a plain row of one."""

    @property
    def id(self) -> str: ...
    @property
    def log_id(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def leaf(self) -> bytes: ...


def ref(tx: Journalled) -> LedgerRef:
    """A journal entry's place in its log; the leaf hash is SHA-256(0x00 || leaf), in base64."""
    return LedgerRef(
        log=tx.log_id,
        index=tx.seq,
        leaf_hash=base64.b64encode(merkle.leaf_hash(tx.leaf)).decode(),
        transaction_id=tx.id,
    )


def _ref_fields(tx: Journalled) -> dict[str, Any]:
    """:func:`ref` as the plain fields the archive is validated from."""
    return {
        "log": tx.log_id,
        "index": tx.seq,
        "leaf_hash": base64.b64encode(merkle.leaf_hash(tx.leaf)).decode(),
        "transaction_id": tx.id,
    }


def _learner_view(learner: Learner, data: vault.PersonalData | None) -> ArchiveLearner:
    return ArchiveLearner(
        id=learner.id,
        created_at=learner.created_at,
        erased=learner.erased_at is not None,
        erased_at=learner.erased_at,
        name=data.name if data else None,
        identity_number_masked=learners.mask_identity_number(data.identity_number) if data else None,
    )


def _certificates(
    rows: Sequence[Any], parts: Sequence[Any], with_credentials: bool
) -> list[CertificatePublic]:
    """Transfer certificates issued for the learner (the rows of :data:`_CERTIFICATES`, newest
    first) with the ids of their parts (the rows of :data:`_PARTS`, in order), shaped as the
    credentials domain shapes them. The caller has authorised the read of the archive, which covers
    them; so they are not read through :func:`creditbank.credentials.service.list_for_learner`,
    which would check and log the same read a second time."""
    bundled: dict[str, list[str]] = defaultdict(list)
    for part in parts:
        bundled[part.bundle_id].append(part.id)
    found = []
    for fields in rows:
        row = construct(Certificate, **fields._asdict())
        found.append(
            CertificatePublic.of(
                row, credentials.status_of(row), bundled.get(row.id, []), with_credential=with_credentials
            )
        )
    return found


# The archive is read as plain rows (these Core statements, with the ORM's column types; on
# PostgreSQL all ten in one round trip, rows.pipelined_reads) and validated once, as a whole, from
# plain fields: building an ORM object and a pydantic model for every outcome, lot and event cost
# about 0.4 ms an outcome (bench/reads.py). tests/learners/test_archive_rendering.py checks it byte
# for byte against the archive as it was built from ORM objects.
_OUTCOME_COLUMNS = [c for c in Outcome.__table__.c if c.name != "request_hash"]  # type: ignore[attr-defined]
_RECOGNITION_FIELDS = list(RecognitionPublic.model_fields)
_OUTCOMES = (
    core_select(
        *_OUTCOME_COLUMNS,
        *[Recognition.__table__.c[name].label(f"r_{name}") for name in _RECOGNITION_FIELDS],  # type: ignore[attr-defined]
    )
    .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
    .where(col(Outcome.learner_id) == bindparam("learner_id"))
    .order_by(col(Outcome.achieved_on), col(Outcome.created_at))
)
_OUTCOME_NAMES = [c.name for c in _OUTCOME_COLUMNS]
# by the learner's outcomes (an index scan), not by a list of their ids: PostgreSQL scanned every
# outcome event against a list of hundreds (bench/reads.py)
_EVENTS = (
    core_select(OutcomeEvent.__table__)  # type: ignore[attr-defined]
    .join(Outcome, col(Outcome.id) == col(OutcomeEvent.outcome_id))
    .where(col(Outcome.learner_id) == bindparam("learner_id"))
    .order_by(col(OutcomeEvent.at), col(OutcomeEvent.id))
)
_HISTORY = (
    core_select(JournalTransaction.__table__)  # type: ignore[attr-defined]
    .where(col(JournalTransaction.learner_id) == bindparam("learner_id"))
    .order_by(col(JournalTransaction.created_at), col(JournalTransaction.seq))
)
_OTHER_ENTRIES = core_select(JournalTransaction.__table__).where(  # type: ignore[attr-defined]
    col(JournalTransaction.id).in_(bindparam("ids", expanding=True))
)
_LOTS = (
    core_select(Lot.__table__)  # type: ignore[attr-defined]
    .where(col(Lot.learner_id) == bindparam("learner_id"))
    .order_by(col(Lot.created_at))
)
_LOCKS = (
    core_select(col(LotLock.lot_id), col(LotLock.programme_id))
    .join(Lot, col(Lot.id) == col(LotLock.lot_id))
    .where(col(Lot.learner_id) == bindparam("learner_id"))
)


_CERTIFICATES = (
    core_select(Certificate.__table__)  # type: ignore[attr-defined]
    .where(col(Certificate.learner_id) == bindparam("learner_id"))
    .order_by(col(Certificate.created_at).desc(), col(Certificate.id))
)
# the parts of the learner's bundles, in each bundle's order (credentials.service.parts_of)
_PARTS = (
    core_select(col(Certificate.bundle_id), col(Certificate.id))
    .where(
        col(Certificate.bundle_id).in_(
            core_select(col(Certificate.id)).where(col(Certificate.learner_id) == bindparam("learner_id"))
        )
    )
    .order_by(col(Certificate.created_at), col(Certificate.id))
)
_CONSENTS = (  # consent.list_for_learner
    core_select(Consent.__table__)  # type: ignore[attr-defined]
    .where(col(Consent.learner_id) == bindparam("learner_id"))
    .order_by(col(Consent.created_at).desc(), col(Consent.id))
)
_VAULT = core_select(col(LearnerVault.wrapped_key), col(LearnerVault.sealed)).where(
    col(LearnerVault.learner_id) == bindparam("learner_id")
)


def build_archive(
    session: Session, master_key: bytes, learner: Learner, *, with_credentials: bool = True
) -> Archive:
    """The learner's archive (see the module docstring). Authorisation is the caller's concern
    (:func:`creditbank.learners.service.authorise_read`); so is ``with_credentials``: the signed
    certificates themselves go only to the learner (others see the certificates' records)."""
    mine = {"learner_id": learner.id}
    reads = [
        (_HISTORY, mine),
        (_OUTCOMES, mine),
        (_EVENTS, mine),
        (_LOTS, mine),
        (_LOCKS, mine),
        (queries.BALANCES, queries.balances_params(learner.id)),
        (_CERTIFICATES, mine),
        (_PARTS, mine),
        (_CONSENTS, mine),
        (_VAULT, mine),
    ]
    found = pipelined_reads(session, reads)  # one round trip on PostgreSQL
    if found is None:
        found = [list(session.execute(statement, params).all()) for statement, params in reads]
    history, rows, event_rows, lots, lock_rows, balance_rows, certificates, parts, consented, sealed = found
    txs: dict[str, Any] = {tx.id: tx for tx in history}
    reversed_ids = {tx.reverses_id for tx in history if tx.reverses_id}
    # entries named by an event or a lot but not the learner's own (none so far): one statement
    named = {e.ledger_tx_id for e in event_rows} | {lot.recognition_tx_id for lot in lots}
    others = {tx_id for tx_id in named if tx_id and tx_id not in txs}
    if others:
        txs.update((tx.id, tx) for tx in session.execute(_OTHER_ENTRIES, {"ids": sorted(others)}).all())
    refs: dict[str, dict[str, Any] | None] = {}  # an entry is named by its outcome, lot and events: made once

    def tx_ref(tx_id: str | None) -> dict[str, Any] | None:
        if tx_id is None:
            return None
        if tx_id not in refs:
            tx = txs.get(tx_id)
            refs[tx_id] = _ref_fields(tx) if tx is not None else None
        return refs[tx_id]

    # outcomes, recognitions and their history
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in event_rows:
        events[e.outcome_id].append(
            {
                "kind": e.kind,
                "at": e.at,
                "actor_role": e.actor_role,
                "actor": e.actor,
                "detail_zh": e.detail_zh,
                "detail_en": e.detail_en,
                "ledger": tx_ref(e.ledger_tx_id),
            }
        )
    width = len(_OUTCOME_NAMES)
    outcome_fields = [dict(zip(_OUTCOME_NAMES, row[:width], strict=True)) for row in rows]
    recognitions = [dict(zip(_RECOGNITION_FIELDS, row[width:], strict=True)) for row in rows]
    superseded_by = {o["supersedes_id"]: o["id"] for o in outcome_fields if o["supersedes_id"]}
    lot_tx = {lot.id: lot.recognition_tx_id for lot in lots}
    outcomes = []
    for outcome, rec in zip(outcome_fields, recognitions, strict=True):
        outcome["recognition"] = rec
        outcome["ledger"] = tx_ref(lot_tx[rec["lot_id"]]) if rec["lot_id"] in lot_tx else None
        outcome["superseded_by"] = superseded_by.get(outcome["id"])
        outcome["events"] = events.get(outcome["id"], [])
        outcomes.append(outcome)
    # lots, explained by the recognition of their outcome
    by_outcome = {o["id"]: rec for o, rec in zip(outcome_fields, recognitions, strict=True)}
    locks = {lot_id: programme for lot_id, programme in lock_rows if lot_id in lot_tx}
    today = dt.date.today()
    archive_lots = [_lot_fields(lot, by_outcome, locks, reversed_ids, tx_ref, today) for lot in lots]
    # balances (expired lots apart from what can be converted) and conversions
    lines = queries.balance_lines(balance_rows, learner.id)
    balances = balances_of(
        lines, [(v["category"], v["level"], v["credits"]) for v in archive_lots if v["state"] == "expired"]
    )
    conversions = _conversions(session, history, reversed_ids)
    live = [c for c in conversions if not c.reversed]
    return Archive.model_validate(
        {
            "learner": _learner_view(
                learner, vault.open_record(master_key, learner.id, *sealed[0]) if sealed else None
            ),
            "generated_at": utcnow(),
            "outcomes": outcomes,
            "lots": archive_lots,
            "balances": balances,
            "total_available": ledger.credits(sum((b.available for b in balances), Decimal(0))),
            "total_expired": ledger.credits(sum((b.expired for b in balances), Decimal(0))),
            "total_converted": ledger.credits(sum((b.converted for b in balances), Decimal(0))),
            "total_counted": ledger.credits(sum((c.counted_credits or c.credits for c in live), Decimal(0))),
            "total_forfeited": ledger.credits(
                sum((c.forfeited_credits or Decimal(0) for c in live), Decimal(0))
            ),
            "conversions": conversions,
            "certificates": _certificates(certificates, parts, with_credentials),
            "consents": [
                ConsentPublic.of(row, consents.state_of(row))
                for row in (construct(Consent, **fields._asdict()) for fields in consented)
            ],
            "ledger": [{**(tx_ref(tx.id) or {}), "kind": tx.kind, "at": tx.created_at} for tx in history],
        }
    )


def _lot_fields(
    lot: Any,
    recognitions: dict[str, dict[str, Any]],
    locks: dict[str, str],
    reversed_ids: set[str],
    tx_ref: Callable[[str | None], dict[str, Any] | None],
    today: dt.date,
) -> dict[str, Any]:
    """A lot as the archive shows it (the fields of :class:`ArchiveLot`)."""
    rec = recognitions.get(lot.outcome_id or "")
    if lot.recognition_tx_id in reversed_ids:
        state = "reversed"
    elif lot.id in locks:
        state = "converted"
    elif expired(lot.expires_on, today):
        state = "expired"
    else:
        state = "available"
    zh = rec["explanation_zh"] if rec else f"按规则 {lot.rule_id} 第 {lot.rule_version} 版认定"
    en = rec["explanation_en"] if rec else f"recognised by rule {lot.rule_id} version {lot.rule_version}"
    return {
        "id": lot.id,
        "outcome_id": lot.outcome_id,
        "issuer_id": lot.issuer_id,
        "credits": lot.credits,
        "category": lot.category,
        "level": lot.level,
        "field": lot.field,
        "rule_id": lot.rule_id,
        "rule_version": lot.rule_version,
        "rule_set_hash": lot.rule_set_hash,
        "expires_on": lot.expires_on,
        "created_at": lot.created_at,
        "state": state,
        "converted_into": locks[lot.id] if state == "converted" else None,
        "explanation_zh": zh,
        "explanation_en": en,
        "ledger": tx_ref(lot.recognition_tx_id),
    }


def balances_of(lines: Sequence[Any], expired: Iterable[tuple[str, int, Decimal]]) -> list[BalancePublic]:
    """The balance lines with the expired lots' credits (category, level, credits) apart from what
    can still be converted."""
    lapsed: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for category, level, credits in expired:
        lapsed[(category, level)] += credits
    balances = []
    for line in lines:
        gone = ledger.credits(lapsed.get((line.category, line.level), Decimal(0)))
        balances.append(
            BalancePublic(
                category=line.category,
                level=line.level,
                available=ledger.credits(line.available - gone),
                expired=gone,
                converted=line.converted,
            )
        )
    return balances


def _conversions(session: Session, history: list[Any], reversed_ids: set[str]) -> list[ConversionPublic]:
    converted = [tx for tx in history if tx.kind == TxKind.conversion.value]
    if not converted:
        return []
    postings: dict[str, list[Posting]] = defaultdict(list)
    for posting in ledger.postings_of(session, [tx.id for tx in converted]):
        postings[posting.transaction_id].append(posting)
    plans = {
        row.ledger_tx_id: row
        for row in session.exec(
            select(Conversion).where(col(Conversion.ledger_tx_id).in_([tx.id for tx in converted]))
        ).all()
    }
    found: list[ConversionPublic] = []
    for tx in converted:
        details = json.loads(tx.leaf).get("details", {})
        mine = postings[tx.id]
        row = plans.get(tx.id)
        plan = ConversionPlan.model_validate(row.plan) if row is not None else None
        found.append(
            ConversionPublic(
                transaction_id=tx.id,
                at=tx.created_at,
                programme_id=details.get("programme"),
                institution_id=details.get("institution"),
                lot_ids=sorted({p.lot_id for p in mine if p.lot_id}),
                credits=ledger.credits(sum((p.amount for p in mine if p.amount > 0), Decimal(0))),
                counted_credits=ledger.credits(row.credits) if row is not None else None,
                forfeited_credits=_forfeited(plan),
                lines=list(plan.lines) if plan is not None else [],
                reversed=tx.id in reversed_ids,
                ledger=ref(tx),
            )
        )
    return found


def _forfeited(plan: ConversionPlan | None) -> Decimal | None:
    """Credits of the converted lots that the plan counted nowhere, item by item (so an item that
    grants more than its lots' credits never hides another item's remainder)."""
    if plan is None:
        return None
    return ledger.credits(sum((item.remainder for item in plan.items), Decimal(0)))


def build_export(
    session: Session, master_key: bytes, learner: Learner, *, with_credentials: bool = True
) -> ArchiveExport:
    """The archive, the vault's personal data and the access log, for download."""
    archive = build_archive(session, master_key, learner, with_credentials=with_credentials)
    data = vault.load(session, master_key, learner.id)
    access = session.exec(
        select(ArchiveAccess)
        .where(col(ArchiveAccess.learner_id) == learner.id)
        .order_by(col(ArchiveAccess.at), col(ArchiveAccess.id))
    ).all()
    return ArchiveExport(
        **dict(archive),
        personal_data=PersonalData(name=data.name, identity_number=data.identity_number, contact=data.contact)
        if data
        else None,
        access_log=[
            AccessRecord(at=a.at, reader_role=a.reader_role, reader_subject=a.reader_subject, what=a.what)
            for a in access
        ],
        grants=[grant_public(g) for g in grants.list_grants(session, learner.id)],
    )
