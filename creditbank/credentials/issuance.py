"""Issuing transfer certificates for credit lots of the ledger.

How this works (:func:`issue_lot_certificate`, inside the caller's transaction):

1. Read the lot and its facts from its recognition's journal leaf, checked against the tree and the
   lot table (:mod:`creditbank.credentials.lot_facts`); refuse a lot whose recognition was reversed
   or that has expired, or whose table row disagrees with the journal (409 ``lot-journal-mismatch``).
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.credentials import keys, lot_facts, status_service
from creditbank.credentials.builder import (
    AchievementInfo,
    ClrInput,
    CreditTransferInfo,
    LotCredentialInput,
    RuleCitationInfo,
    build_clr_credential,
    build_lot_credential,
    new_credential_id,
    xsd_datetime,
)
from creditbank.credentials.models import BANK_OWNER, Certificate, CertificateKind
from creditbank.db import utcnow
from creditbank.errors import Forbidden
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.ledger.errors import LotNotFound
from creditbank.ledger.models import Lot
from creditbank.standards.vc import dataintegrity
from creditbank.standards.vc.contexts import credit_transfer_context, is_credit_transfer_context

MAX_LOTS_PER_REQUEST = 50


@dataclass(frozen=True)
class IssuedCertificate:
    """A stored certificate and its signed JSON; a CLR bundle carries its parts."""

    certificate: Certificate
    credential: dict[str, Any]
    parts: tuple["IssuedCertificate", ...] = field(default=())


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


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
    lot = lot_facts.active_lot(session, lot_id, _now())
    journal, reference = lot_facts.journal_lot(session, lot)  # the facts below are the journal's
    facts = journal.lot
    title = lot_facts.outcome_title(session, journal.outcome_id or lot.outcome_id)
    owner = lot_facts.issuer_owner(session, lot)
    signer = keys.signer_for(session, ctx.secrets.master_key, base, owner)
    now = _now()
    until = lot_facts.valid_until(lot, valid_until, now)
    destination = lot_facts.destination_did(session, base, destination_institution_id)
    # 3. the status entry
    revocation = _revocation_entry(session, ctx, owner)
    # 4. the credential
    unsigned = build_lot_credential(
        LotCredentialInput(
            credential_id=new_credential_id(),
            issuer=lot_facts.issuer_info(session, base, owner),
            learner_id=facts.learner,
            achievement=achievement or lot_facts.default_achievement(facts, title),
            credits_earned=facts.credits,
            valid_from=now,
            valid_until=until,
            grade=grade,
            credential_status=revocation.entry(),
            transfer_context=credit_transfer_context(base),
            transfer=CreditTransferInfo(
                credit_system=lot_facts.CREDIT_SYSTEM,
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
        raise lot_facts.CertificateRequestInvalid(msg("detail.credentials.issuance.bundle_needs_lot"))
    if len(set(lot_ids)) != len(lot_ids):
        raise lot_facts.CertificateRequestInvalid(msg("detail.catalog.consent.lot_appears_twice"))
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
        raise lot_facts.CertificateRequestInvalid(msg("detail.credentials.issuance.one_learner"))
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
            issuer=lot_facts.issuer_info(session, base, owner),
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
        raise lot_facts.LotNotCertifiable(msg("detail.credentials.issuance.revoked_not_again", id=old.id))
    if old.valid_until is not None and old.valid_until <= now:
        raise lot_facts.LotNotCertifiable(msg("detail.credentials.issuance.lapsed_not_again", id=old.id))
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
        raise Forbidden(msg("detail.credentials.issuance.role_may_not", role=principal.role.value))
    lots = {lot.id: lot for lot in session.exec(select(Lot).where(col(Lot.id).in_(list(lot_ids)))).all()}
    for lot_id in lot_ids:
        lot = lots.get(lot_id)
        if lot is None:
            raise LotNotFound(msg("detail.ledger.no_lot_2", lot_id=lot_id))
        if principal.role is Role.institution and lot.issuer_id != principal.subject:
            raise Forbidden(msg("detail.credentials.issuance.lot_not_this_institutions", lot_id=lot_id))
        if principal.role is Role.learner and lot.learner_id != principal.subject:
            raise Forbidden(msg("detail.credentials.issuance.lot_not_this_learners", lot_id=lot_id))


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
        raise lot_facts.CertificateRequestInvalid(
            msg("detail.credentials.issuance.lot_count", most=MAX_LOTS_PER_REQUEST)
        )
    if len(set(lot_ids)) != len(lot_ids):
        raise lot_facts.CertificateRequestInvalid(msg("detail.catalog.consent.lot_appears_twice"))
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
