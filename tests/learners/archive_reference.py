"""The archive as :func:`creditbank.archive.service.build_archive` built it before it read plain
rows: ORM objects for every outcome, recognition, event, lot and journal entry, and a pydantic model
built for each. Kept only so that tests can check the archive built now is byte for byte the same.
The conversions were read as ORM rows then and are now, by the same function (imported, not copied).
"""

import base64
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from sqlmodel import Session, col, select

from creditbank.archive.schemas import (
    Archive,
    ArchiveLearner,
    ArchiveLot,
    ArchiveOutcome,
    LedgerEntryRef,
    OutcomeEventPublic,
)
from creditbank.archive.service import _conversions, balances_of  # read as ORM rows before and now: unchanged
from creditbank.catalog import consent as consents
from creditbank.catalog.schemas import ConsentPublic
from creditbank.credentials import service as credentials
from creditbank.credentials.models import Certificate
from creditbank.credentials.schemas import CertificatePublic
from creditbank.db import utcnow
from creditbank.learners import service as learners
from creditbank.learners import vault
from creditbank.learners.models import Learner
from creditbank.ledger import service as ledger
from creditbank.ledger.models import JournalTransaction, Lot, LotLock
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition
from creditbank.outcomes.schemas import LedgerRef, RecognitionPublic
from creditbank.rule_engine.conversion import expired
from creditbank.standards.tlog import merkle


def ref(tx: JournalTransaction) -> LedgerRef:
    """A journal entry's place in its log; the leaf hash is SHA-256(0x00 || leaf), in base64."""
    return LedgerRef(
        log=tx.log_id,
        index=tx.seq,
        leaf_hash=base64.b64encode(merkle.leaf_hash(tx.leaf)).decode(),
        transaction_id=tx.id,
    )


def _entry(tx: JournalTransaction, known: LedgerRef | None = None) -> LedgerEntryRef:
    return LedgerEntryRef(**(known or ref(tx)).model_dump(), kind=tx.kind, at=tx.created_at)


def _learner_view(session: Session, master_key: bytes, learner: Learner) -> ArchiveLearner:
    data = vault.load(session, master_key, learner.id)
    return ArchiveLearner(
        id=learner.id,
        created_at=learner.created_at,
        erased=learner.erased_at is not None,
        erased_at=learner.erased_at,
        name=data.name if data else None,
        identity_number_masked=learners.mask_identity_number(data.identity_number) if data else None,
    )


def certificates_of(
    session: Session, learner_id: str, *, with_credentials: bool = True
) -> list[CertificatePublic]:
    """Transfer certificates issued for the learner, newest first, shaped as the credentials domain
    shapes them. The caller has authorised the read of the archive, which covers them; so this
    does not go through :func:`creditbank.credentials.service.list_for_learner`, which would check
    and log the same read a second time."""
    rows = session.exec(
        select(Certificate)
        .where(col(Certificate.learner_id) == learner_id)
        .order_by(col(Certificate.created_at).desc(), col(Certificate.id))
    ).all()
    return [
        CertificatePublic.of(
            row,
            credentials.status_of(row),
            [p.id for p in credentials.parts_of(session, row.id)],
            with_credential=with_credentials,
        )
        for row in rows
    ]


def build_archive(
    session: Session, master_key: bytes, learner: Learner, *, with_credentials: bool = True
) -> Archive:
    """The learner's archive (see the module docstring). Authorisation is the caller's concern
    (:func:`creditbank.learners.service.authorise_read`); so is ``with_credentials``: the signed
    certificates themselves go only to the learner (others see the certificates' records)."""
    history = ledger.history(session, learner.id)
    txs = {tx.id: tx for tx in history}
    reversed_ids = {tx.reverses_id for tx in history if tx.reverses_id}
    refs: dict[str, LedgerRef | None] = {}  # an entry is named by its outcome, lot and events: made once

    def tx_ref(tx_id: str | None) -> LedgerRef | None:
        if tx_id is None:
            return None
        if tx_id not in refs:
            tx = txs.get(tx_id) or session.get(JournalTransaction, tx_id)
            refs[tx_id] = ref(tx) if tx is not None else None
        return refs[tx_id]

    # outcomes, recognitions and their history
    rows = session.exec(
        select(Outcome, Recognition)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(col(Outcome.learner_id) == learner.id)
        .order_by(col(Outcome.achieved_on), col(Outcome.created_at))
    ).all()
    outcome_ids = [o.id for o, _ in rows]
    events: dict[str, list[OutcomeEventPublic]] = defaultdict(list)
    if outcome_ids:
        # by the learner's outcomes (an index scan), not by a list of their ids: PostgreSQL scanned
        # every outcome event against a list of hundreds (bench/reads.py)
        for event in session.exec(
            select(OutcomeEvent)
            .join(Outcome, col(Outcome.id) == col(OutcomeEvent.outcome_id))
            .where(col(Outcome.learner_id) == learner.id)
            .order_by(col(OutcomeEvent.at), col(OutcomeEvent.id))
        ).all():
            events[event.outcome_id].append(
                OutcomeEventPublic(
                    kind=event.kind,
                    at=event.at,
                    actor_role=event.actor_role,
                    actor=event.actor,
                    detail_zh=event.detail_zh,
                    detail_en=event.detail_en,
                    ledger=tx_ref(event.ledger_tx_id),
                )
            )
    superseded_by = {o.supersedes_id: o.id for o, _ in rows if o.supersedes_id}
    lots = ledger.lots_of(session, learner.id)
    lot_by_id = {lot.id: lot for lot in lots}
    outcomes = [
        ArchiveOutcome(
            **outcome.model_dump(exclude={"request_hash"}),
            recognition=RecognitionPublic.model_validate(rec, from_attributes=True),
            ledger=tx_ref(lot_by_id[rec.lot_id].recognition_tx_id) if rec.lot_id in lot_by_id else None,
            superseded_by=superseded_by.get(outcome.id),
            events=events.get(outcome.id, []),
        )
        for outcome, rec in rows
    ]
    # lots, explained by the recognition of their outcome
    recognitions = {rec.outcome_id: rec for _, rec in rows}
    locks = {
        lock.lot_id: lock
        for lock in session.exec(
            select(LotLock)
            .join(Lot, col(Lot.id) == col(LotLock.lot_id))
            .where(col(Lot.learner_id) == learner.id)
        ).all()
        if lock.lot_id in lot_by_id
    }
    today = dt.date.today()
    archive_lots = [_lot_view(lot, recognitions, locks, reversed_ids, tx_ref, today) for lot in lots]
    # balances (expired lots apart from what can be converted) and conversions
    lines = ledger.balances(session, learner.id)
    balances = balances_of(
        lines, [(v.category, v.level, v.credits) for v in archive_lots if v.state == "expired"]
    )
    conversions = _conversions(session, history, reversed_ids)
    live = [c for c in conversions if not c.reversed]
    return Archive(
        learner=_learner_view(session, master_key, learner),
        generated_at=utcnow(),
        outcomes=outcomes,
        lots=archive_lots,
        balances=balances,
        total_available=ledger.credits(sum((b.available for b in balances), Decimal(0))),
        total_expired=ledger.credits(sum((b.expired for b in balances), Decimal(0))),
        total_converted=ledger.credits(sum((b.converted for b in balances), Decimal(0))),
        total_counted=ledger.credits(sum((c.counted_credits or c.credits for c in live), Decimal(0))),
        total_forfeited=ledger.credits(sum((c.forfeited_credits or Decimal(0) for c in live), Decimal(0))),
        conversions=conversions,
        certificates=certificates_of(session, learner.id, with_credentials=with_credentials),
        consents=[
            ConsentPublic.of(row, consents.state_of(row))
            for row in consents.list_for_learner(session, learner.id)
        ],
        ledger=[_entry(tx, tx_ref(tx.id)) for tx in history],
    )


def _lot_view(
    lot: Lot,
    recognitions: dict[str, Recognition],
    locks: dict[str, LotLock],
    reversed_ids: set[str],
    tx_ref: Callable[[str | None], LedgerRef | None],
    today: dt.date,
) -> ArchiveLot:
    rec = recognitions.get(lot.outcome_id or "")
    if lot.recognition_tx_id in reversed_ids:
        state = "reversed"
    elif lot.id in locks:
        state = "converted"
    elif expired(lot.expires_on, today):
        state = "expired"
    else:
        state = "available"
    zh = rec.explanation_zh if rec else f"按规则 {lot.rule_id} 第 {lot.rule_version} 版认定"
    en = rec.explanation_en if rec else f"recognised by rule {lot.rule_id} version {lot.rule_version}"
    return ArchiveLot(
        id=lot.id,
        outcome_id=lot.outcome_id,
        issuer_id=lot.issuer_id,
        credits=lot.credits,
        category=lot.category,
        level=lot.level,
        field=lot.field,
        rule_id=lot.rule_id,
        rule_version=lot.rule_version,
        rule_set_hash=lot.rule_set_hash,
        expires_on=lot.expires_on,
        created_at=lot.created_at,
        state=state,
        converted_into=locks[lot.id].programme_id if state == "converted" else None,
        explanation_zh=zh,
        explanation_en=en,
        ledger=tx_ref(lot.recognition_tx_id),
    )
