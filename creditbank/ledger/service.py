"""The ledger's domain operations and its interface for the other domains.

Recognitions create lots, conversions lock them for one programme, reversals mirror an entry (never
an edit), revocations reverse a lot's conversion and recognition, and events record decisions that
move no credits. Each builds :class:`~creditbank.ledger.append.EntrySpec` values and hands them to
:func:`creditbank.ledger.append.append`, the one writer. The reads (balances, history, lots) are in
:mod:`creditbank.ledger.queries`. Other domains import this module only: it names the append
machinery and the reads they use.
"""

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from creditbank.db import construct, utcnow
from creditbank.i18n import msg
from creditbank.ids import InstitutionId, LearnerId, LotId, random_id
from creditbank.ledger.append import CENT, EntrySpec, PostingSpec, append, build_leaf, credits
from creditbank.ledger.errors import (
    CannotReverseReversal,
    LotAlreadyConverted,
    LotNotAvailable,
    LotNotFound,
    TransactionNotFound,
)
from creditbank.ledger.models import Account, AccountKind, JournalTransaction, Lot, LotLock, Posting
from creditbank.ledger.queries import (
    BalanceLine,
    account_balance,
    balances,
    history,
    lot_conversion,
    lots_of,
    postings_of,
)
from creditbank.standards.ledger.leaf import (
    AccountId,
    TxKind,
    available_account,
    converted_account,
    issuer_account,
)
from creditbank.transparency import store

__all__ = [  # the append machinery, the account names and the reads, for the other domains
    "CENT",
    "BalanceLine",
    "EntrySpec",
    "PostingSpec",
    "account_balance",
    "append",
    "available_account",
    "balances",
    "build_leaf",
    "converted_account",
    "credits",
    "history",
    "issuer_account",
    "lot_conversion",
    "lots_of",
    "postings_of",
]


@dataclass(frozen=True)
class Recognition:
    """What a recognition records: the new lot and where it came from (no personal data)."""

    learner_id: LearnerId
    issuer_id: InstitutionId
    credits: Decimal
    category: str
    level: int
    field: str
    rule_id: str
    rule_version: str
    rule_set_hash: str
    outcome_id: str | None = None
    expires_on: dt.date | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def recognition_entry(rec: Recognition) -> tuple[EntrySpec, Lot]:
    amount = credits(rec.credits)
    lot_id = LotId(random_id("lot"))
    lot = construct(
        Lot,
        id=lot_id,
        learner_id=rec.learner_id,
        issuer_id=rec.issuer_id,
        outcome_id=rec.outcome_id,
        credits=amount,
        category=rec.category,
        level=rec.level,
        field=rec.field,
        rule_id=rec.rule_id,
        rule_version=rec.rule_version,
        rule_set_hash=rec.rule_set_hash,
        recognition_tx_id="",
        expires_on=rec.expires_on,
        created_at=utcnow(),
    )
    spec = EntrySpec(
        kind=TxKind.recognition,
        learner_id=rec.learner_id,
        postings=[
            PostingSpec(issuer_account(rec.issuer_id), AccountKind.issuer, rec.issuer_id, -amount, lot_id),
            PostingSpec(
                available_account(rec.learner_id),
                AccountKind.learner_available,
                rec.learner_id,
                amount,
                lot_id,
            ),
        ],
        new_lots=[lot],
        details={"outcome": rec.outcome_id, **rec.details} if rec.outcome_id else dict(rec.details),
    )
    return spec, lot


def record_recognitions(
    session: Session, recs: Sequence[Recognition], log_id: str = store.DEFAULT_LOG
) -> list[tuple[JournalTransaction, Lot]]:
    """Record recognitions (each creates one lot) in one append. Raises what :func:`append` raises."""
    pairs = [recognition_entry(r) for r in recs]
    txs = append(session, log_id, [spec for spec, _ in pairs])
    return [(tx, lot) for tx, (_, lot) in zip(txs, pairs, strict=True)]


def record_recognition(
    session: Session, rec: Recognition, log_id: str = store.DEFAULT_LOG
) -> tuple[JournalTransaction, Lot]:
    return record_recognitions(session, [rec], log_id)[0]


def _active_lots(session: Session, learner_id: str, lot_ids: Sequence[str]) -> list[Lot]:
    lots = {lot.id: lot for lot in session.exec(select(Lot).where(col(Lot.id).in_(lot_ids))).all()}
    missing = [i for i in lot_ids if i not in lots]
    if missing:
        raise LotNotFound(msg("detail.ledger.no_lot", value=missing[0]))
    for lot in lots.values():
        if lot.learner_id != learner_id:
            raise LotNotAvailable(msg("detail.ledger.lot_learner_s", id=lot.id))
    reversed_recognitions = set(
        session.exec(
            select(JournalTransaction.reverses_id).where(
                col(JournalTransaction.reverses_id).in_([lot.recognition_tx_id for lot in lots.values()])
            )
        ).all()
    )
    for lot in lots.values():
        if lot.recognition_tx_id in reversed_recognitions:
            raise LotNotAvailable(msg("detail.ledger.lot_was_reversed", id=lot.id))
    return [lots[i] for i in lot_ids]


def convert_lots(
    session: Session,
    *,
    learner_id: str,
    lot_ids: Sequence[str],
    programme_id: str,
    institution_id: str,
    details: dict[str, Any] | None = None,
    log_id: str = store.DEFAULT_LOG,
) -> JournalTransaction:
    """Move lots from the learner's available to converted account for one programme, each lot once.

    Raises:
        LotNotFound, LotNotAvailable, LotAlreadyConverted, InsufficientCredits.
    """
    learner = LearnerId(learner_id)
    lots = _active_lots(session, learner, lot_ids)
    postings: list[PostingSpec] = []
    for lot in lots:
        postings.append(
            PostingSpec(
                available_account(learner),
                AccountKind.learner_available,
                learner,
                -lot.credits,
                LotId(lot.id),
            )
        )
        postings.append(
            PostingSpec(
                converted_account(learner), AccountKind.learner_converted, learner, lot.credits, LotId(lot.id)
            )
        )
    spec = EntrySpec(
        kind=TxKind.conversion,
        learner_id=learner,
        postings=postings,
        lock_lots=[
            LotLock(
                lot_id=lot.id, conversion_tx_id="", programme_id=programme_id, institution_id=institution_id
            )
            for lot in lots
        ],
        details={"programme": programme_id, "institution": institution_id, **(details or {})},
    )
    for lock in spec.lock_lots:
        lock.conversion_tx_id = spec.tx_id
    return append(session, log_id, [spec])[0]


def get_transaction(session: Session, tx_id: str) -> JournalTransaction:
    """Raises: TransactionNotFound."""
    tx = session.get(JournalTransaction, tx_id)
    if tx is None:
        raise TransactionNotFound(msg("detail.ledger.no_journal_transaction", tx_id=tx_id))
    return tx


def reverse(session: Session, tx_id: str, *, reason: str, by: str) -> JournalTransaction:
    """Append a transaction mirroring ``tx_id`` (never an edit). Reversing a conversion frees its lots.

    Raises:
        TransactionNotFound, AlreadyReversed, InsufficientCredits (e.g. reversing a recognition
        whose lot is converted: reverse the conversion first, see :func:`revoke_lot`).
    """
    original = get_transaction(session, tx_id)
    if original.kind == TxKind.reversal.value:
        raise CannotReverseReversal(msg("detail.ledger.itself_reversal_post_original", tx_id=tx_id))
    postings = session.exec(
        select(Posting).where(col(Posting.transaction_id) == tx_id).order_by(col(Posting.position))
    ).all()
    if original.kind == TxKind.recognition.value:
        lot_ids = [p.lot_id for p in postings if p.lot_id]
        converted = session.exec(select(LotLock.lot_id).where(col(LotLock.lot_id).in_(lot_ids))).all()
        if converted:
            raise LotAlreadyConverted(
                msg("detail.ledger.lot_converted_reverse_conversion", value=converted[0]),
                lots=list(converted),
            )
    accounts = {
        a.id: a
        for a in session.exec(
            select(Account).where(col(Account.id).in_([p.account_id for p in postings]))
        ).all()
    }
    unlock: list[str] = []
    if original.kind == TxKind.conversion.value:
        unlock = sorted({p.lot_id for p in postings if p.lot_id})
    spec = EntrySpec(
        kind=TxKind.reversal,
        learner_id=LearnerId(original.learner_id) if original.learner_id is not None else None,
        postings=[
            PostingSpec(
                AccountId(p.account_id),
                AccountKind(accounts[p.account_id].kind),
                accounts[p.account_id].owner_id,
                -p.amount,
                LotId(p.lot_id) if p.lot_id is not None else None,
            )
            for p in postings
        ],
        reverses=original,
        unlock_lots=unlock,
        details={"reason": reason, "by": by, "reversed_kind": original.kind},
    )
    return append(session, original.log_id, [spec])[0]


def revoke_lot(session: Session, lot_id: str, *, reason: str, by: str) -> list[JournalTransaction]:
    """Reverse a lot's conversion (if any) and then its recognition.

    Raises:
        LotNotFound, AlreadyReversed.
    """
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise LotNotFound(msg("detail.ledger.no_lot_2", lot_id=lot_id))
    done: list[JournalTransaction] = []
    lock = lot_conversion(session, lot_id)
    if lock is not None:
        done.append(reverse(session, lock.conversion_tx_id, reason=reason, by=by))
    done.append(reverse(session, lot.recognition_tx_id, reason=reason, by=by))
    return done


def record_event(
    session: Session,
    kind: TxKind,
    *,
    learner_id: str | None,
    details: dict[str, Any],
    log_id: str = store.DEFAULT_LOG,
) -> JournalTransaction:
    """A journal entry that moves no credits (a review decision, an erasure tombstone)."""
    return append(
        session,
        log_id,
        [
            EntrySpec(
                kind=kind,
                postings=[],
                learner_id=LearnerId(learner_id) if learner_id is not None else None,
                details=details,
            )
        ],
    )[0]
