"""Shaping outcomes for responses (shared by the API, the archive and the pages)."""

import base64

from sqlmodel import Session

from creditbank.ledger.models import JournalTransaction
from creditbank.outcomes.models import Outcome, Recognition
from creditbank.outcomes.schemas import LedgerRef, OutcomePublic, RecognitionPublic
from creditbank.standards.tlog import merkle


def ledger_ref(session: Session, tx: JournalTransaction | None) -> LedgerRef | None:
    if tx is None:
        return None
    leaf = merkle.leaf_hash(bytes(tx.leaf)) if tx.leaf else None
    return LedgerRef(
        log=tx.log_id,
        index=tx.seq,
        leaf_hash=base64.b64encode(leaf).decode() if leaf else None,
        transaction_id=tx.id,
    )


def outcome_public(
    session: Session, outcome: Outcome, rec: Recognition, tx: JournalTransaction | None = None
) -> OutcomePublic:
    if tx is None and rec.lot_id:
        from creditbank.ledger.models import Lot

        lot = session.get(Lot, rec.lot_id)
        tx = session.get(JournalTransaction, lot.recognition_tx_id) if lot else None
    return OutcomePublic(
        **outcome.model_dump(exclude={"request_hash"}),
        recognition=RecognitionPublic.model_validate(rec, from_attributes=True),
        ledger=ledger_ref(session, tx),
    )
