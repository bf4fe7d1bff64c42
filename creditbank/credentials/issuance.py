"""Issuing transfer certificates for credit lots of the ledger.

How this works (:func:`issue_lot_certificate`, inside the caller's transaction):

1. Read the lot and its recognition transaction; refuse a lot whose recognition was reversed or
   that has expired. The lot's facts come from the journal, not from the mutable lot table: the
   recognition's leaf must hash to the leaf hash stored in the tree at its index, parse in the one
   leaf format, and record this lot exactly as ``ledger_lots`` holds it. Any disagreement is a 409
   ``lot-journal-mismatch`` (logged as an integrity alarm) and nothing is issued.
2. The issuer is the institution that issued the lot (``lot.issuer_id``) when it is registered,
   else the bank (owner ``bank``). Its active key signs (created on first use).
3. Allocate one revocation index on the issuer's status list (one ``credentialStatus`` object:
   suspension is a revocation of the certificate, lifted by re-issuing it, see
   :mod:`creditbank.credentials.service`).
4. Build the Open Badges 3.0 credential (:func:`creditbank.credentials.builder.build_lot_credential`):
   the lot's credits, rule citation and ledger reference (log origin, sequence number and leaf
   hash of the recognition transaction), the learner's identity hashed with a fresh salt, the
   status entry, validity dates, and the credit-transfer context at the service's own base URL.
5. Sign it (``eddsa-rdfc-2022``, ``created`` = ``validFrom`` = now, whole seconds) and store it.

:func:`reissue` issues a certificate again under the issuer's current key (same lots, destination
and end of validity, a fresh revocation index) and records the old one as superseded by it.

:func:`issue_clr_bundle` issues one lot certificate per lot and wraps them in a CLR 2.0
``ClrCredential``, signed by the lots' common issuer (or by the bank when they differ), with its
own status entry.

Who may ask for a certificate is decided in :func:`request_certificates` (see
``docs/certificates.md``): an institution for lots it issued, a learner for their own lots, an admin
for any. Who signs never depends on who asked: it is always the lot's issuer (or the bank).
"""

import copy
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.credentials import keys, status_service
from creditbank.credentials.builder import (
    AchievementInfo,
    ClrInput,
    CreditTransferInfo,
    IssuerInfo,
    LedgerReferenceInfo,
    LotCredentialInput,
    RuleCitationInfo,
    build_clr_credential,
    build_lot_credential,
    credit_number,
    new_credential_id,
    xsd_datetime,
)
from creditbank.credentials.models import BANK_OWNER, Certificate, CertificateKind
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, ValidationFailed
from creditbank.ids import random_id
from creditbank.institutions import service as institutions
from creditbank.institutions.models import Institution
from creditbank.ledger import leaf as leaf_format
from creditbank.ledger.errors import LotNotFound
from creditbank.ledger.models import JournalTransaction, Lot
from creditbank.outcomes.models import Outcome
from creditbank.standards.tlog import merkle
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.contexts import credit_transfer_context, is_credit_transfer_context
from creditbank.transparency import store

integrity_log = logging.getLogger("creditbank.integrity")

CREDIT_SYSTEM = "16 学时 = 1 学分"
BANK_NAME_ZH = "终身学习学分银行"
BANK_NAME_EN = "Lifelong Learning Credit Bank"
MAX_LOTS_PER_REQUEST = 50


class LotNotCertifiable(Conflict):
    slug = "lot-not-certifiable"
    title = "A certificate cannot be issued for this lot (reversed or expired)"


class LotJournalMismatch(Conflict):
    slug = "lot-journal-mismatch"
    title = "The lot's stored facts disagree with its journal entry; no certificate was issued"


class CertificateRequestInvalid(ValidationFailed):
    slug = "certificate-request-invalid"
    title = "The certificate request is not valid"


@dataclass(frozen=True)
class IssuedCertificate:
    """A stored certificate and its signed JSON; a CLR bundle carries its parts."""

    certificate: Certificate
    credential: dict[str, Any]
    parts: tuple["IssuedCertificate", ...] = field(default=())


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


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
    return LotJournalMismatch(f"lot {lot.id}: {what}; nothing was issued (an integrity alarm was logged)")


def journal_lot(session: Session, lot: Lot) -> tuple[JournalLot, LedgerReferenceInfo]:
    """The lot's facts read from its recognition's leaf, checked against the tree and the lot table.

    Raises:
        LotJournalMismatch: the leaf does not hash to the leaf hash the tree stores at its index, is
            not a leaf recording this lot, or records other facts than ``ledger_lots`` holds.
    """
    tx = session.get(JournalTransaction, lot.recognition_tx_id)
    if tx is None:  # pragma: no cover - a foreign key guarantees it
        raise LotNotFound(f"lot {lot.id} has no recognition transaction")
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


def _outcome_title(session: Session, outcome_id: str | None) -> str | None:
    outcome = session.get(Outcome, outcome_id) if outcome_id else None
    return outcome.title if outcome is not None else None


def _active_lot(session: Session, lot_id: str, now: dt.datetime) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise LotNotFound(f"no lot {lot_id}")
    reversed_by = session.exec(
        select(JournalTransaction.id).where(col(JournalTransaction.reverses_id) == lot.recognition_tx_id)
    ).first()
    if reversed_by is not None:
        raise LotNotCertifiable(f"the recognition of lot {lot_id} was reversed")
    if lot.expires_on is not None and lot.expires_on <= now.date():
        raise LotNotCertifiable(f"lot {lot_id} expired on {lot.expires_on.isoformat()}")
    return lot


def _valid_until(lot: Lot, requested: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    expiry = (
        dt.datetime.combine(lot.expires_on, dt.time.min, tzinfo=dt.UTC)
        if lot.expires_on is not None
        else None
    )
    if requested is None:
        return expiry
    if requested.tzinfo is None:
        raise CertificateRequestInvalid("valid_until must carry a time zone")
    if requested <= now:
        raise CertificateRequestInvalid("valid_until must be in the future")
    if expiry is not None and requested > expiry:
        raise CertificateRequestInvalid(
            f"valid_until is after the lot's expiry ({lot.expires_on.isoformat() if lot.expires_on else ''})"
        )
    return requested.astimezone(dt.UTC).replace(microsecond=0)


def _destination_did(session: Session, base_url: str, destination_institution_id: str | None) -> str | None:
    if destination_institution_id is None:
        return None
    return institutions.institution_did(base_url, institutions.get(session, destination_institution_id).id)


def _revocation_entry(session: Session, ctx: AppContext, owner_id: str) -> status_service.Allocation:
    return status_service.allocate(
        session,
        ctx.secrets.master_key,
        ctx.settings.base_url,
        owner_id,
        "revocation",
        status_service.list_lifetime(ctx.settings),
    )


def _store(
    session: Session,
    *,
    kind: CertificateKind,
    credential: dict[str, Any],
    lot_ids: list[str],
    owner_id: str,
    learner_id: str,
    destination_institution_id: str | None,
    key_id: str,
    revocation: status_service.Allocation,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
) -> Certificate:
    row = Certificate(
        id=random_id("crt"),
        credential_id=credential["id"],
        kind=kind.value,
        lot_ids=lot_ids,
        issuer_owner_id=owner_id,
        issuer_did=dataintegrity.issuer_id(credential),
        learner_id=learner_id,
        destination_institution_id=destination_institution_id,
        key_id=key_id,
        document=credential,
        revocation_list_id=revocation.list_id,
        revocation_index=revocation.index,
        valid_from=valid_from,
        valid_until=valid_until,
        created_at=valid_from,
    )
    session.add(row)
    session.flush()
    return row


def issue_lot_certificate(
    session: Session,
    ctx: AppContext,
    *,
    lot_id: str,
    destination_institution_id: str | None = None,
    valid_until: dt.datetime | None = None,
    achievement: AchievementInfo | None = None,
    grade: str | None = None,
) -> IssuedCertificate:
    """Issue and store the signed certificate of one credit lot.

    ``valid_until`` defaults to the lot's expiry (none when the lot does not expire);
    ``achievement`` and ``grade`` default to what the lot itself says.

    Raises:
        LotNotFound: no such lot.
        LotNotCertifiable: the lot's recognition was reversed, or the lot expired.
        InstitutionNotFound: the destination institution is not registered.
        CertificateRequestInvalid: ``valid_until`` is naive, past, or after the lot's expiry.
    """
    base = ctx.settings.base_url
    # 1. the lot and where it sits in the log; 2. the issuer and its key (made on first use, so
    # taken before the signing time: a key must not be younger than the proof it signs)
    lot = _active_lot(session, lot_id, _now())
    journal, reference = journal_lot(session, lot)  # the facts below are the journal's
    facts = journal.lot
    title = _outcome_title(session, journal.outcome_id or lot.outcome_id)
    owner = issuer_owner(session, lot)
    signer = keys.signer_for(session, ctx.secrets.master_key, base, owner)
    now = _now()
    until = _valid_until(lot, valid_until, now)
    destination = _destination_did(session, base, destination_institution_id)
    # 3. the status entry
    revocation = _revocation_entry(session, ctx, owner)
    # 4. the credential
    unsigned = build_lot_credential(
        LotCredentialInput(
            credential_id=new_credential_id(),
            issuer=issuer_info(session, base, owner),
            learner_id=facts.learner,
            achievement=achievement or default_achievement(facts, title),
            credits_earned=facts.credits,
            valid_from=now,
            valid_until=until,
            grade=grade,
            credential_status=revocation.entry(),
            transfer_context=credit_transfer_context(base),
            transfer=CreditTransferInfo(
                credit_system=CREDIT_SYSTEM,
                lot_ids=[facts.id],
                rule=RuleCitationInfo(
                    rule_id=facts.rule.id, rule_version=facts.rule.version, rule_set_hash=facts.rule.set_hash
                ),
                ledger=reference,
                source_outcome=journal.outcome_id or lot.outcome_id or "",
                destination_institution=destination,
            ),
        )
    )
    # 5. sign and store
    signed = dataintegrity.sign(unsigned, signer.seed, signer.verification_method, xsd_datetime(now))
    row = _store(
        session,
        kind=CertificateKind.lot,
        credential=signed,
        lot_ids=[lot.id],
        owner_id=owner,
        learner_id=lot.learner_id,
        destination_institution_id=destination_institution_id,
        key_id=signer.key_id,
        revocation=revocation,
        valid_from=now,
        valid_until=until,
    )
    return IssuedCertificate(certificate=row, credential=signed)


def issue_clr_bundle(
    session: Session,
    ctx: AppContext,
    *,
    lot_ids: Sequence[str],
    destination_institution_id: str | None = None,
    valid_until: dt.datetime | None = None,
    name: str = "学分转移证明",
) -> IssuedCertificate:
    """Issue a certificate per lot and a CLR 2.0 bundle of them (all lots of one learner).

    The bundle is signed by the lots' common issuer, or by the bank when they have several.

    Raises:
        CertificateRequestInvalid: no lots, a lot twice, or lots of several learners.
        And what :func:`issue_lot_certificate` raises.
    """
    if not lot_ids:
        raise CertificateRequestInvalid("a bundle needs at least one lot")
    if len(set(lot_ids)) != len(lot_ids):
        raise CertificateRequestInvalid("a lot appears twice")
    parts = [
        issue_lot_certificate(
            session,
            ctx,
            lot_id=lot_id,
            destination_institution_id=destination_institution_id,
            valid_until=valid_until,
        )
        for lot_id in lot_ids
    ]
    learners = {p.certificate.learner_id for p in parts}
    if len(learners) != 1:
        raise CertificateRequestInvalid("all lots of a bundle must belong to one learner")
    owners = {p.certificate.issuer_owner_id for p in parts}
    owner = owners.pop() if len(owners) == 1 else BANK_OWNER
    base = ctx.settings.base_url
    # the signer first: a key made on first use must not be younger than the proof it signs
    signer = keys.signer_for(session, ctx.secrets.master_key, base, owner)
    now = _now()
    ends = [p.certificate.valid_until for p in parts]
    until = None if any(e is None for e in ends) else min(e for e in ends if e is not None)
    revocation = _revocation_entry(session, ctx, owner)
    unsigned = build_clr_credential(
        ClrInput(
            credential_id=new_credential_id(),
            issuer=issuer_info(session, base, owner),
            learner_id=parts[0].certificate.learner_id,
            name=name,
            valid_from=now,
            valid_until=until,
            credentials=[p.credential for p in parts],
            credential_status=revocation.entry(),
            transfer_context=credit_transfer_context(base),
        )
    )
    signed = dataintegrity.sign(unsigned, signer.seed, signer.verification_method, xsd_datetime(now))
    row = _store(
        session,
        kind=CertificateKind.clr,
        credential=signed,
        lot_ids=list(lot_ids),
        owner_id=owner,
        learner_id=parts[0].certificate.learner_id,
        destination_institution_id=destination_institution_id,
        key_id=signer.key_id,
        revocation=revocation,
        valid_from=now,
        valid_until=until,
    )
    for part in parts:
        part.certificate.bundle_id = row.id
        session.add(part.certificate)
    session.flush()
    return IssuedCertificate(certificate=row, credential=signed, parts=tuple(parts))


def _reissued(
    document: dict[str, Any],
    signer: keys.Signer,
    base_url: str,
    now: dt.datetime,
    revocation: status_service.Allocation,
    parts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The same claims under a new id, start of validity, status entry and proof."""
    unsigned = copy.deepcopy({k: v for k, v in document.items() if k != "proof"})
    unsigned["@context"] = [
        credit_transfer_context(base_url) if is_credit_transfer_context(c) else c
        for c in unsigned.get("@context", [])
    ]
    unsigned["id"] = new_credential_id()
    unsigned["validFrom"] = xsd_datetime(now)
    unsigned["credentialStatus"] = revocation.entry()
    if parts is not None:
        unsigned["credentialSubject"]["verifiableCredential"] = parts
    return dataintegrity.sign(unsigned, signer.seed, signer.verification_method, xsd_datetime(now))


def _supersede(session: Session, ctx: AppContext, old: Certificate, new: Certificate) -> None:
    """Record ``new`` as the successor of ``old`` and set old's revocation bit: one valid copy."""
    old.successor_id = new.id
    old.superseded_at = new.created_at
    session.add(old)
    status_service.set_bit(
        session,
        ctx.secrets.master_key,
        ctx.settings.base_url,
        old.revocation_list_id,
        old.revocation_index,
        True,
        status_service.list_lifetime(ctx.settings),
    )


def _reissue_one(
    session: Session,
    ctx: AppContext,
    old: Certificate,
    now: dt.datetime,
    parts: list[Certificate] | None = None,
) -> Certificate:
    base = ctx.settings.base_url
    signer = keys.signer_for(session, ctx.secrets.master_key, base, old.issuer_owner_id)
    revocation = _revocation_entry(session, ctx, old.issuer_owner_id)
    part_documents = [p.document for p in parts] if parts is not None else None
    signed = _reissued(old.document, signer, base, now, revocation, part_documents)
    row = _store(
        session,
        kind=CertificateKind(old.kind),
        credential=signed,
        lot_ids=list(old.lot_ids),
        owner_id=old.issuer_owner_id,
        learner_id=old.learner_id,
        destination_institution_id=old.destination_institution_id,
        key_id=signer.key_id,
        revocation=revocation,
        valid_from=now,
        valid_until=old.valid_until,
    )
    _supersede(session, ctx, old, row)
    return row


def _current_part(session: Session, ctx: AppContext, part: Certificate, now: dt.datetime) -> Certificate:
    """A bundle's part as the new bundle holds it: a revoked part as it is (revocation is final),
    a superseded one by its successor, any other re-issued."""
    if part.revoked_at is not None:
        return part
    if part.successor_id is not None:
        successor = session.get(Certificate, part.successor_id)
        if successor is not None:
            return successor
    return _reissue_one(session, ctx, part, now)


def reissue(session: Session, ctx: AppContext, old: Certificate) -> Certificate:
    """Issue ``old`` again under its issuer's current key and mark ``old`` superseded.

    The new certificate states the same lots, credits, learner (hashed with the same salt),
    destination and end of validity, with a new id, ``validFrom`` = now and a fresh revocation
    index; ``old.successor_id`` records the mapping and old's revocation bit is set. A CLR bundle is
    re-issued with each of its parts re-issued too.

    Raises:
        LotNotCertifiable: ``old`` is revoked, already superseded, or no longer valid.
    """
    now = _now()
    if old.revoked_at is not None or old.successor_id is not None:
        raise LotNotCertifiable(f"certificate {old.id} is revoked or superseded; it is not issued again")
    if old.valid_until is not None and old.valid_until <= now:
        raise LotNotCertifiable(f"certificate {old.id} is no longer valid; it is not issued again")
    if old.kind != CertificateKind.clr.value:
        return _reissue_one(session, ctx, old, now)
    old_parts = list(
        session.exec(
            select(Certificate)
            .where(col(Certificate.bundle_id) == old.id)
            .order_by(col(Certificate.created_at), col(Certificate.id))
        ).all()
    )
    new_parts = [_current_part(session, ctx, part, now) for part in old_parts]
    bundle = _reissue_one(session, ctx, old, now, new_parts)
    for part in new_parts:
        part.bundle_id = bundle.id
        session.add(part)
    session.flush()
    return bundle


def authorise_issue(session: Session, principal: Principal, lot_ids: Sequence[str]) -> None:
    """Check that ``principal`` may ask for certificates of these lots.

    An institution may for lots it issued; a learner for their own lots; an admin for any.

    Raises:
        LotNotFound: a lot does not exist.
        Forbidden: a lot is not the principal's to certify, or the role may not ask at all.
    """
    if principal.role not in (Role.institution, Role.learner, Role.admin):
        raise Forbidden(f"role {principal.role.value} may not ask for certificates")
    lots = {lot.id: lot for lot in session.exec(select(Lot).where(col(Lot.id).in_(list(lot_ids)))).all()}
    for lot_id in lot_ids:
        lot = lots.get(lot_id)
        if lot is None:
            raise LotNotFound(f"no lot {lot_id}")
        if principal.role is Role.institution and lot.issuer_id != principal.subject:
            raise Forbidden(f"lot {lot_id} was not issued by this institution")
        if principal.role is Role.learner and lot.learner_id != principal.subject:
            raise Forbidden(f"lot {lot_id} is not this learner's")


def request_certificates(
    session: Session,
    ctx: AppContext,
    principal: Principal,
    *,
    lot_ids: Sequence[str],
    destination_institution_id: str | None = None,
    valid_until: dt.datetime | None = None,
) -> IssuedCertificate:
    """Issue what a caller asked for: one lot certificate, or for several lots a CLR bundle.

    Raises:
        CertificateRequestInvalid: no lots, too many, or a lot twice.
        And what :func:`authorise_issue`, :func:`issue_lot_certificate` and
        :func:`issue_clr_bundle` raise.
    """
    if not lot_ids or len(lot_ids) > MAX_LOTS_PER_REQUEST:
        raise CertificateRequestInvalid(f"ask for 1 to {MAX_LOTS_PER_REQUEST} lots")
    if len(set(lot_ids)) != len(lot_ids):
        raise CertificateRequestInvalid("a lot appears twice")
    authorise_issue(session, principal, lot_ids)
    if len(lot_ids) == 1:
        return issue_lot_certificate(
            session,
            ctx,
            lot_id=lot_ids[0],
            destination_institution_id=destination_institution_id,
            valid_until=valid_until,
        )
    return issue_clr_bundle(
        session,
        ctx,
        lot_ids=lot_ids,
        destination_institution_id=destination_institution_id,
        valid_until=valid_until,
    )
