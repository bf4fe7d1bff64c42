"""Certificates after issuance: reading (with the access rules), revoking, suspending, verifying
against the service's own database, evidence bundles for offline verification, and key compromise.

Access rules (see ``docs/certificates.md``):

* read one certificate: the learner it is about; the institution that issued it, issued one of its
  lots, or is its destination; admins and auditors. Every read by someone other than the learner is
  logged as an access to the learner's archive. An unknown id is 404 for everyone (ids are random,
  so this reveals nothing), an existing certificate someone may not read is 403.
* the signed credential itself (the JSON a school converts) goes only to the learner and to the
  destination institution it names (:func:`may_see_credential`), and through the learner's share
  link; the others who may read a certificate see its record without the credential.
* list a learner's certificates: the learner, an institution under the learner's grant or as the
  destination of a pending transfer, admins (through :func:`creditbank.learners.service.authorise_read`,
  which logs every read by someone else).
* revoke, suspend, unsuspend: the institution that issued the certificate, admins.

Suspension: a certificate carries one ``credentialStatus`` entry (revocation), the only one the
Open Badges 3.0 / CLR 2.0 schemas and the verifiers wallets use all read. Suspending sets that bit
(to every verifier the certificate reads revoked while suspended); lifting the suspension re-issues
the certificate (:func:`creditbank.credentials.issuance.reissue`: same lots, a fresh revocation
index, the old one recorded as superseded) and answers with the new certificate. Certificates
issued before this change carry a second, suspension entry; for them the suspension bit is flipped
as before.

Key compromise (:func:`compromise_key`): the key leaves ``assertionMethod`` of the DID document at
once (no third-party verifier knows compromise times), the owner's status lists are re-signed with
a fresh key, and every still-valid certificate the key signed (not revoked, suspended, superseded
or expired) is re-issued under the fresh key.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.credentials import issuance, keys, status_service
from creditbank.credentials.builder import xsd_datetime
from creditbank.credentials.local_resolver import DatabaseResolver
from creditbank.credentials.models import BANK_OWNER, Certificate, CertificateStatus, SigningKey
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, NotFound
from creditbank.i18n import msg
from creditbank.institutions.models import Institution
from creditbank.learners import service as learners
from creditbank.learners.models import ArchiveAccess
from creditbank.ledger.models import Lot
from creditbank.standards.vc import dataintegrity, trust
from creditbank.standards.vc.resolvers import RecordingResolver
from creditbank.standards.vc.verification import Report, verify_certificate
from creditbank.transparency import store


class CertificateNotFound(NotFound):
    slug = "certificate-not-found"
    title = "No such certificate"


class CertificateSuperseded(Conflict):
    slug = "certificate-superseded"
    title = "The certificate was superseded by a re-issued one; change that one instead"


class CertificateRevoked(Conflict):
    slug = "certificate-revoked"
    title = "The certificate is revoked; revocation is permanent"


def get(session: Session, certificate_id: str) -> Certificate:
    """Raises: CertificateNotFound."""
    row = session.get(Certificate, certificate_id)
    if row is None:
        raise CertificateNotFound(msg("detail.credentials.no_certificate", certificate_id=certificate_id))
    return row


def by_credential_id(session: Session, credential_id: str) -> Certificate | None:
    """The stored certificate whose credential ``id`` is ``credential_id`` (``urn:uuid:...``), if any."""
    return session.exec(select(Certificate).where(col(Certificate.credential_id) == credential_id)).first()


def parts_of(session: Session, certificate_id: str) -> list[Certificate]:
    """The lot certificates bundled in a CLR certificate."""
    return list(
        session.exec(
            select(Certificate)
            .where(col(Certificate.bundle_id) == certificate_id)
            .order_by(col(Certificate.created_at), col(Certificate.id))
        ).all()
    )


def status_of(row: Certificate) -> CertificateStatus:
    """``revoked``, ``superseded``, ``suspended`` or ``active``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.successor_id is not None:
        return "superseded"
    return "suspended" if row.suspended_at is not None else "active"


def _institution_involved(session: Session, row: Certificate, institution_id: str) -> bool:
    if institution_id in (row.issuer_owner_id, row.destination_institution_id):
        return True
    issuers = session.exec(select(Lot.issuer_id).where(col(Lot.id).in_(list(row.lot_ids)))).all()
    return institution_id in issuers


def may_see_credential(principal: Principal, row: Certificate) -> bool:
    """Whether ``principal`` is given the signed credential: its learner or its named destination."""
    if principal.role is Role.learner:
        return principal.subject == row.learner_id
    return principal.role is Role.institution and principal.subject == row.destination_institution_id


def authorise_read(session: Session, principal: Principal, certificate_id: str) -> Certificate:
    """Check that ``principal`` may read the certificate; log reads by anyone but the learner.

    Raises:
        CertificateNotFound: no such certificate.
        Forbidden: the principal may not read it.
    """
    row = get(session, certificate_id)
    if principal.role is Role.learner:
        if principal.subject != row.learner_id:
            raise Forbidden(msg("detail.credentials.learner_may_read_only"))
        return row
    if principal.role is Role.institution:
        if principal.subject is None or not _institution_involved(session, row, principal.subject):
            raise Forbidden(msg("detail.credentials.institution_may_read_only"))
    elif principal.role not in (Role.admin, Role.auditor):
        raise Forbidden(msg("detail.credentials.role_may_read_certificates", value=principal.role.value))
    credential = " credential" if may_see_credential(principal, row) else ""
    session.add(
        ArchiveAccess(
            learner_id=row.learner_id,
            reader_role=principal.role.value,
            reader_subject=principal.subject,
            what=f"certificate {row.id}{credential}",
        )
    )
    session.flush()
    return row


def log_share_read(session: Session, row: Certificate, nonce: str) -> None:
    """Record that the credential was downloaded through the learner's share link."""
    session.add(
        ArchiveAccess(
            learner_id=row.learner_id,
            reader_role="share_link",
            reader_subject=nonce,
            what=f"certificate {row.id} credential",
        )
    )
    session.flush()


def list_for_learner(session: Session, principal: Principal, learner_id: str) -> list[Certificate]:
    """A learner's certificates, newest first (see :func:`creditbank.learners.service.authorise_read`).

    Raises:
        Forbidden, LearnerNotFound: see :func:`creditbank.learners.service.authorise_read`.
    """
    learners.authorise_read(session, principal, learner_id, "certificates")
    return of_learner(session, learner_id)


def of_learner(session: Session, learner_id: str) -> list[Certificate]:
    """A learner's certificates, newest first, for a read already authorised: the learner's own
    archive page, a live share link, or the archive read model after its own check. Any other reader
    goes through :func:`list_for_learner`, which checks and logs the read."""
    return list(
        session.exec(
            select(Certificate)
            .where(col(Certificate.learner_id) == learner_id)
            .order_by(col(Certificate.created_at).desc(), col(Certificate.id))
        ).all()
    )


def issued_by(session: Session, principal: Principal, *, limit: int = 50) -> list[Certificate]:
    """The certificates (not bundle parts) the principal's institution signed, newest first.

    Raises:
        Forbidden: the principal is not an institution.
    """
    if principal.role is not Role.institution or not principal.subject:
        raise Forbidden(msg("detail.credentials.service.issued_by_institution_only"))
    return list(
        session.exec(
            select(Certificate)
            .where(
                col(Certificate.issuer_owner_id) == principal.subject, col(Certificate.bundle_id).is_(None)
            )
            .order_by(col(Certificate.created_at).desc())
            .limit(limit)
        ).all()
    )


def of_transfer(
    session: Session, principal: Principal, destination_institution_id: str, certificate_ids: Sequence[str]
) -> list[Certificate]:
    """The certificates a transfer to ``destination_institution_id`` carries, for that destination
    (or an admin or auditor).

    Raises:
        Forbidden: the principal is neither the transfer's destination nor an admin or auditor.
    """
    destination = principal.role is Role.institution and principal.subject == destination_institution_id
    if not destination and principal.role not in (Role.admin, Role.auditor):
        raise Forbidden(msg("detail.credentials.service.transfer_destination_only"))
    ids = list(certificate_ids)
    if not ids:
        return []
    return list(session.exec(select(Certificate).where(col(Certificate.id).in_(ids))).all())


def _authorise_change(principal: Principal, row: Certificate) -> None:
    if principal.role is Role.admin:
        return
    if principal.role is Role.institution and principal.subject == row.issuer_owner_id:
        return
    raise Forbidden(msg("detail.credentials.only_issuing_institution_admin"))


def revoke(
    session: Session, ctx: AppContext, principal: Principal, certificate_id: str, reason: str | None = None
) -> Certificate:
    """Revoke a certificate for good: set its revocation bit and re-sign the list. Idempotent.

    Raises:
        CertificateNotFound, Forbidden.
    """
    row = get(session, certificate_id)
    _authorise_change(principal, row)
    status_service.set_bit(
        session,
        ctx.secrets.master_key,
        ctx.settings.base_url,
        row.revocation_list_id,
        row.revocation_index,
        True,
        status_service.list_lifetime(ctx.settings),
    )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revocation_reason = reason
        session.add(row)
        session.flush()
    return row


def suspend(
    session: Session, ctx: AppContext, principal: Principal, certificate_id: str, reason: str | None = None
) -> Certificate:
    """Suspend a certificate (its suspension bit), recording why; undo with :func:`unsuspend`.
    Idempotent: suspending a suspended certificate keeps its first time and reason.

    Raises:
        CertificateNotFound, Forbidden, CertificateRevoked.
    """
    return _set_suspension(session, ctx, principal, certificate_id, True, reason)


def unsuspend(session: Session, ctx: AppContext, principal: Principal, certificate_id: str) -> Certificate:
    """Lift a suspension. Idempotent.

    Raises:
        CertificateNotFound, Forbidden, CertificateRevoked.
    """
    return _set_suspension(session, ctx, principal, certificate_id, False)


def _set_suspension(
    session: Session,
    ctx: AppContext,
    principal: Principal,
    certificate_id: str,
    value: bool,
    reason: str | None = None,
) -> Certificate:
    row = get(session, certificate_id)
    _authorise_change(principal, row)
    if row.revoked_at is not None:
        raise CertificateRevoked(msg("detail.credentials.certificate_revoked", certificate_id=certificate_id))
    if row.successor_id is not None:
        raise CertificateSuperseded(
            msg(
                "detail.credentials.certificate_was_superseded",
                certificate_id=certificate_id,
                successor_id=row.successor_id,
            )
        )
    master, base = ctx.secrets.master_key, ctx.settings.base_url
    lifetime = status_service.list_lifetime(ctx.settings)
    if row.suspension_list_id is not None and row.suspension_index is not None:
        # a certificate issued with a suspension entry of its own
        status_service.set_bit(
            session, master, base, row.suspension_list_id, row.suspension_index, value, lifetime
        )
    elif value:
        status_service.set_bit(
            session, master, base, row.revocation_list_id, row.revocation_index, True, lifetime
        )
    elif row.suspended_at is not None:
        return issuance.reissue(session, ctx, row)
    if value and row.suspended_at is None:
        row.suspension_reason = reason
    row.suspended_at = (row.suspended_at or utcnow()) if value else None
    session.add(row)
    session.flush()
    return row


def verify(
    session: Session,
    ctx: AppContext,
    document: Any,
    *,
    learner_id: str | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Verify a certificate against this service's own keys, status lists, register and logs."""
    return verify_certificate(document, DatabaseResolver.of(session, ctx), learner_id=learner_id, now=now)


def evidence(session: Session, ctx: AppContext, certificate_id: str) -> dict[str, Any]:
    """The ``CertificateEvidence`` bundle that lets the certificate be verified fully offline.

    It holds the issuer's DID document, the status list credentials, the register entry and the
    inclusion proof with its signed checkpoint and log key, as verification used them now.

    Raises:
        CertificateNotFound: no such certificate.
    """
    row = get(session, certificate_id)
    recorder = RecordingResolver(DatabaseResolver.of(session, ctx))
    verify_certificate(row.document, recorder)
    register = signed_register(session, ctx, dids=set(recorder.did_documents))
    return recorder.bundle(row.credential_id, signed_register=register)


def trust_roots(session: Session, ctx: AppContext) -> dict[str, Any]:
    """The trust file an auditor saves once (``GET /trust.json``): the verifier keys of the logs and
    the bank's DID document, whose keys sign the issuer register (see :mod:`.trust`).

    The bank's signing key is made on first use, so that the file pins it."""
    base = ctx.settings.base_url
    keys.active_key(session, ctx.secrets.master_key, BANK_OWNER)
    roots = trust.TrustRoots(
        log_keys=[store.verifier(log) for log in store.list_logs(session)],
        bank_did_document=keys.did_document(session, base, BANK_OWNER),
    )
    return roots.to_json(base_url=base, exported_at=xsd_datetime(utcnow()))


def signed_register(session: Session, ctx: AppContext, dids: set[str] | None = None) -> dict[str, Any]:
    """The issuer register signed by the bank's key: the registered institutions (those whose DID is
    in ``dids``, when given) with their DID documents."""
    base = ctx.settings.base_url
    signer = keys.signer_for(session, ctx.secrets.master_key, base, BANK_OWNER)
    now = utcnow().replace(microsecond=0)
    issuers = [
        trust.RegisteredIssuer(
            did=keys.owner_did(base, institution.id),
            description=f"registered institution {institution.name_zh} ({institution.id})",
            did_document=keys.did_document(session, base, institution.id),
        )
        for institution in session.exec(select(Institution).order_by(col(Institution.id))).all()
        if dids is None or keys.owner_did(base, institution.id) in dids
    ]
    unsigned = trust.register_document(issuers, signer.did, xsd_datetime(now))
    # the register is plain JSON (no JSON-LD context): it is signed with the JCS cryptosuite
    return dataintegrity.sign(
        unsigned,
        signer.seed,
        signer.verification_method,
        xsd_datetime(now),
        cryptosuite=dataintegrity.CRYPTOSUITE_JCS,
    )


def _still_valid(row: Certificate, now: dt.datetime) -> bool:
    return (
        row.revoked_at is None
        and row.successor_id is None
        and row.suspended_at is None
        and (row.valid_until is None or row.valid_until > now)
    )


def compromise_key(
    session: Session, ctx: AppContext, key_id: str, at: dt.datetime
) -> tuple[SigningKey, list[tuple[Certificate, Certificate]]]:
    """Mark a key compromised from ``at``, re-sign its owner's status lists with a fresh key, and
    re-issue under that key every still-valid certificate it signed.

    Returns the key and the (old, new) pairs of re-issued certificates. A bundled lot certificate is
    re-issued with its bundle (and a bundle whose parts the key signed is re-issued whole).

    Raises:
        SigningKeyNotFound, CompromiseTimeInvalid: see :func:`creditbank.credentials.keys.compromise`.
    """
    key = keys.compromise(session, key_id, at)
    status_service.resign_owner_lists(
        session,
        ctx.secrets.master_key,
        ctx.settings.base_url,
        key.owner_id,
        status_service.list_lifetime(ctx.settings),
    )
    now = utcnow()
    signed = session.exec(
        select(Certificate).where(col(Certificate.key_id) == key.id).order_by(col(Certificate.created_at))
    ).all()
    targets: dict[str, Certificate] = {}
    for row in signed:
        top = row if row.bundle_id is None else session.get(Certificate, row.bundle_id)
        if top is not None and _still_valid(top, now):
            targets.setdefault(top.id, top)
    pairs = [(old, issuance.reissue(session, ctx, old)) for old in targets.values()]
    return key, pairs
