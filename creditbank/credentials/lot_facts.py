"""What a lot certificate states, read from the journal: the lot's facts, its issuer and validity.

How this works
--------------
The lot's facts come from the journal, not from the mutable lot table (:func:`journal_lot`): the
recognition's leaf must hash to the leaf hash stored in the tree at its index, parse in the one leaf
format, and record this lot exactly as ``ledger_lots`` holds it. Any disagreement is a 409
``lot-journal-mismatch`` (logged as an integrity alarm) and nothing is issued. A lot whose
recognition was reversed, or that has expired, is not certifiable (:func:`active_lot`). The issuer is
the institution that issued the lot when it is registered, else the bank (:func:`issuer_owner`).

:mod:`creditbank.credentials.issuance` turns these facts into a credential, signs and records it.
"""

import datetime as dt
import logging
from dataclasses import dataclass

from sqlmodel import Session, col, select

from creditbank.credentials import keys
from creditbank.credentials.builder import AchievementInfo, IssuerInfo, LedgerReferenceInfo, credit_number
from creditbank.credentials.models import BANK_OWNER
from creditbank.errors import Conflict, ValidationFailed
from creditbank.i18n import msg
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.ledger.errors import LotNotFound
from creditbank.ledger.models import JournalTransaction, Lot
from creditbank.outcomes.models import Outcome
from creditbank.standards.ledger import leaf as leaf_format
from creditbank.standards.tlog import merkle
from creditbank.transparency import store

integrity_log = logging.getLogger("creditbank.integrity")

CREDIT_SYSTEM = "16 学时 = 1 学分"
BANK_NAME_ZH = "终身学习学分银行"
BANK_NAME_EN = "Lifelong Learning Credit Bank"


class LotNotCertifiable(Conflict):
    slug = "lot-not-certifiable"
    title = "A certificate cannot be issued for this lot (reversed or expired)"


class LotJournalMismatch(Conflict):
    slug = "lot-journal-mismatch"
    title = "The lot's stored facts disagree with its journal entry; no certificate was issued"


class CertificateRequestInvalid(ValidationFailed):
    slug = "certificate-request-invalid"
    title = "The certificate request is not valid"


def issuer_owner(session: Session, lot: Lot) -> str:
    """Who signs for a lot: its issuing institution when registered, else the bank."""
    return lot.issuer_id if session.get(Institution, lot.issuer_id) is not None else BANK_OWNER


def issuer_info(session: Session, base_url: str, owner_id: str) -> IssuerInfo:
    """The issuer profile of an owner (the bank, or a registered institution)."""
    did = keys.owner_did(base_url, owner_id)
    if owner_id == BANK_OWNER:
        return IssuerInfo(did=did, name_zh=BANK_NAME_ZH, name_en=BANK_NAME_EN)
    institution = institutions.get(session, owner_id)
    return IssuerInfo(did=did, name_zh=institution.name_zh, name_en=institution.name_en)


def ledger_reference(session: Session, lot: Lot) -> LedgerReferenceInfo:
    """Where the lot's recognition sits in the transparency log: origin, sequence number, leaf hash."""
    return journal_lot(session, lot)[1]


@dataclass(frozen=True)
class JournalLot:
    """A lot as its recognition's journal leaf records it."""

    lot: leaf_format.NewLot
    outcome_id: str | None


def _alarm(lot: Lot, what: str) -> LotJournalMismatch:
    integrity_log.error("integrity alarm: lot %s: %s", lot.id, what)
    return LotJournalMismatch(msg("detail.credentials.lot_facts.integrity_alarm", lot_id=lot.id, what=what))


def journal_lot(session: Session, lot: Lot) -> tuple[JournalLot, LedgerReferenceInfo]:
    """The lot's facts read from its recognition's leaf, checked against the tree and the lot table.

    Raises:
        LotJournalMismatch: the leaf does not hash to the leaf hash the tree stores at its index, is
            not a leaf recording this lot, or records other facts than ``ledger_lots`` holds.
    """
    tx = session.get(JournalTransaction, lot.recognition_tx_id)
    if tx is None:  # pragma: no cover - a foreign key guarantees it
        raise LotNotFound(msg("detail.credentials.lot_facts.no_recognition", lot_id=lot.id))
    log = store.get_log(session, tx.log_id)
    seq = int(tx.seq)
    stored = store.leaf_hashes(session, tx.log_id, seq, seq + 1).get(seq)
    data = bytes(tx.leaf)
    # 1. the leaf is the one the tree holds at its index
    if stored is None or merkle.leaf_hash(data) != stored:
        raise _alarm(lot, f"its journal leaf {seq} does not hash to the leaf hash in the tree")
    # 2. it is a recognition that records this lot
    try:
        entry = leaf_format.parse(data)
    except leaf_format.LeafFormatError as exc:
        raise _alarm(lot, f"its journal leaf {seq} cannot be read: {exc}") from exc
    recorded = entry.lot(lot.id)
    if entry.kind is not leaf_format.TxKind.recognition or recorded is None:
        raise _alarm(lot, f"its journal leaf {seq} does not record it")
    # 3. the lot table says the same
    table = {
        "learner": lot.learner_id,
        "issuer": lot.issuer_id,
        "credits": lot.credits,
        "category": lot.category,
        "level": lot.level,
        "field": lot.field,
        "rule": (lot.rule_id, lot.rule_version, lot.rule_set_hash),
        "expires": lot.expires_on,
    }
    journal = {
        "learner": recorded.learner,
        "issuer": recorded.issuer,
        "credits": recorded.credits,
        "category": recorded.category,
        "level": recorded.level,
        "field": recorded.field,
        "rule": (recorded.rule.id, recorded.rule.version, recorded.rule.set_hash),
        "expires": recorded.expires,
    }
    differ = [name for name in table if table[name] != journal[name]]
    if differ:
        raise _alarm(
            lot,
            "the lot table disagrees with the journal on "
            + ", ".join(
                f"{name} ({table[name]} in the table, {journal[name]} in leaf {seq})" for name in differ
            ),
        )
    outcome = entry.details.get("outcome")
    return (
        JournalLot(lot=recorded, outcome_id=outcome if isinstance(outcome, str) else None),
        LedgerReferenceInfo(log_origin=log.origin, sequence_number=seq, leaf_hash=stored),
    )


def default_achievement(lot: leaf_format.NewLot, title: str | None = None) -> AchievementInfo:
    """An achievement described from the lot's journal record and the title of the outcome it
    recognises (as the institution posted it, in Chinese): a reader sees "低压电工作业培训", not the
    lot's field code. Without an outcome (a lot made by hand) the field or category stands in."""
    topic = lot.field or lot.category
    return AchievementInfo(
        id=f"urn:creditbank:lot:{lot.id}",
        achievement_type="Achievement",
        name=title.strip() if title and title.strip() else f"{topic} 学分（资历框架第{lot.level}级）",
        human_code=lot.rule.id,
        credits_available=lot.credits,
        field_of_study=topic,
        description=(
            f"{credit_number(lot.credits)} credits recognised by rule {lot.rule.id} "
            f"version {lot.rule.version}, category {lot.category}, qualification framework level {lot.level}"
        ),
        criteria_narrative=f"Recognised by the credit bank under rule {lot.rule.id} v{lot.rule.version}.",
    )


def outcome_title(session: Session, outcome_id: str | None) -> str | None:
    outcome = session.get(Outcome, outcome_id) if outcome_id else None
    return outcome.title if outcome is not None else None


def active_lot(session: Session, lot_id: str, now: dt.datetime) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise LotNotFound(msg("detail.ledger.no_lot_2", lot_id=lot_id))
    reversed_by = session.exec(
        select(JournalTransaction.id).where(col(JournalTransaction.reverses_id) == lot.recognition_tx_id)
    ).first()
    if reversed_by is not None:
        raise LotNotCertifiable(msg("detail.credentials.lot_facts.reversed", lot_id=lot_id))
    if lot.expires_on is not None and lot.expires_on <= now.date():
        raise LotNotCertifiable(
            msg("detail.credentials.lot_facts.expired", lot_id=lot_id, day=lot.expires_on.isoformat())
        )
    return lot


def valid_until(lot: Lot, requested: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    expiry = (
        dt.datetime.combine(lot.expires_on, dt.time.min, tzinfo=dt.UTC)
        if lot.expires_on is not None
        else None
    )
    if requested is None:
        return expiry
    if requested.tzinfo is None:
        raise CertificateRequestInvalid(msg("detail.credentials.lot_facts.valid_until_zone"))
    if requested <= now:
        raise CertificateRequestInvalid(msg("detail.credentials.lot_facts.valid_until_past"))
    if expiry is not None and requested > expiry:
        expiry_day = lot.expires_on.isoformat() if lot.expires_on else ""
        raise CertificateRequestInvalid(
            msg("detail.credentials.lot_facts.valid_until_after_expiry", day=expiry_day)
        )
    return requested.astimezone(dt.UTC).replace(microsecond=0)


def destination_did(session: Session, base_url: str, destination_institution_id: str | None) -> str | None:
    if destination_institution_id is None:
        return None
    return institutions.institution_did(base_url, institutions.get(session, destination_institution_id).id)
