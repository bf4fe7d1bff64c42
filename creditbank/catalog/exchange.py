"""Credit exchange between schools: transfer requests, certificate acceptance, conversion.

How an acceptance works (:func:`accept_certificates`, one transaction):

1. Every certificate is verified as any outside verifier would (signature, issuer key at signing
   time, issuer registered, status, validity, ledger inclusion against a signed checkpoint).
2. The lots they vouch for are read from the ledger, with the facts of their outcomes.
3. The rule set in force, plus the destination's own course equivalences, plans the conversion
   under the programme's caps, counted for this learner (:mod:`creditbank.catalog.planning`).
4. The ledger converts the lots the plan uses. Its lot locks make "each lot once" a database
   fact: a second acceptance of the same lots, here or at another school, at the same moment or
   later, gets :class:`~creditbank.ledger.errors.LotAlreadyConverted` (409).

Who may convert: only the institution a certificate names in ``creditTransfer.destinationInstitution``
(anyone else gets :class:`NotTheDestination`, 403, before anything is planned or written), and only
with the learner's consent (:mod:`creditbank.catalog.consent`): the learner's own transfer request,
or a consent the learner gave naming this institution and the lots. The consent is locked before the
plan and checked before it, and marked used by the conversion, in the same transaction.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import consent as consents
from creditbank.catalog import service as catalog
from creditbank.catalog.models import Consent, Conversion, TransferRequest
from creditbank.catalog.planning import TransferNotFound, plan_conversion
from creditbank.context import AppContext
from creditbank.credentials import issuance
from creditbank.credentials.local_resolver import DatabaseResolver
from creditbank.credentials.models import Certificate
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, ValidationFailed
from creditbank.i18n import Both, msg
from creditbank.ids import random_id
from creditbank.institutions.service import institution_did
from creditbank.learners.models import ArchiveAccess
from creditbank.ledger import service as ledger
from creditbank.ledger.errors import LotAlreadyConverted, LotNotFound
from creditbank.ledger.models import Lot
from creditbank.rule_engine.models import ConversionPlan
from creditbank.standards.vc.verification import Report, verify_certificate


class CertificateRejected(ValidationFailed):
    slug = "certificate-rejected"
    title = "A certificate did not pass verification"


class NothingToConvert(ValidationFailed):
    slug = "nothing-to-convert"
    title = "The rules convert none of these lots for this programme"


class TransferClosed(Conflict):
    slug = "transfer-closed"
    title = "This transfer was already decided"


ConsentRequired = consents.ConsentRequired


class NotTheDestination(Forbidden):
    slug = "not-the-destination"
    title = "Only the institution the learner sent the credits to may accept or convert them"


@dataclass
class Accepted:
    conversion: Conversion
    plan: ConversionPlan
    reports: list[Report]


def _destinations_of(document: dict[str, Any]) -> list[str | None]:
    """The ``destinationInstitution`` of each ``creditTransfer`` object of a (lot or CLR) certificate
    (``None`` where one names no destination)."""
    subject = document.get("credentialSubject")
    found: list[str | None] = []
    if isinstance(subject, dict):
        transfer = subject.get("creditTransfer")
        if isinstance(transfer, dict):
            named = transfer.get("destinationInstitution")
            found.append(str(named) if named else None)
        for inner in subject.get("verifiableCredential", []) or []:
            if isinstance(inner, dict):
                found += _destinations_of(inner)
    return found


def check_destination(ctx: AppContext, documents: Sequence[dict[str, Any]], institution_id: str) -> None:
    """Refuse certificates addressed to another institution.

    Raises:
        NotTheDestination: a certificate names a destination that is not ``institution_id``.
    """
    mine = institution_did(ctx.settings.base_url, institution_id)
    for doc in documents:
        for named in _destinations_of(doc):
            if named is not None and named != mine:
                raise NotTheDestination(
                    msg(
                        "detail.catalog.exchange.certificate_addressed_institution",
                        value=doc.get("id", "?"),
                        named=named,
                    )
                )


def _learner_of(session: Session, lot_ids: Sequence[str]) -> str:
    owners = set(session.exec(select(Lot.learner_id).where(col(Lot.id).in_(list(lot_ids)))).all())
    if not owners:
        raise LotNotFound(msg("detail.catalog.exchange.no_lot", value=lot_ids[0]))
    if len(owners) != 1:
        raise NothingToConvert(msg("detail.catalog.exchange.certificates_more_than_one"))
    return owners.pop()


def accept_certificates(
    session: Session,
    ctx: AppContext,
    *,
    institution_id: str,
    programme_id: str,
    documents: Sequence[dict[str, Any]],
    transfer_id: str | None = None,
    transfer_consent: Consent | None = None,
    consent_id: str | None = None,
    today: dt.date | None = None,
) -> Accepted:
    """Verify certificates and convert the lots they vouch for into a programme of this institution.

    For a transfer's acceptance, ``transfer_id`` and its locked consent (``transfer_consent``) are
    given; for certificates brought to the school, the learner's consent naming this institution
    and the lots is looked up (``consent_id``, or any that fits) and locked here.

    Raises:
        ProgrammeNotFound: the programme is not this institution's.
        CertificateRejected: a certificate failed a check (the report is in the problem).
        NotTheDestination: a certificate is addressed to another institution.
        ConsentRequired: the learner did not consent to this institution converting these lots.
        NothingToConvert: the rules use none of the lots (the reasons are in the problem).
        LotAlreadyConverted: a lot was converted before (here or elsewhere), or concurrently.
    """
    today = today or dt.date.today()
    programme = catalog.get_programme(session, programme_id)
    if programme.institution_id != institution_id:
        raise catalog.ProgrammeNotFound(
            msg("detail.catalog.exchange.no_programme_institution", programme_id=programme_id)
        )
    resolver = DatabaseResolver.of(session, ctx)
    reports = [verify_certificate(doc, resolver) for doc in documents]
    for doc, report in zip(documents, reports, strict=True):
        if not report.valid:
            failed = [c for c in report.checks if not c.ok]
            raise CertificateRejected(
                msg(
                    "detail.catalog.exchange.certificate_failed",
                    certificate=doc.get("id", "?"),
                    failures="; ".join(f"{c.name}: {c.detail}" for c in failed),
                ),
                report=report.to_json(),
            )
    check_destination(ctx, documents, institution_id)
    # the lots the verified ledger leaves record (the ledger check compared them with each body)
    lot_ids = list(dict.fromkeys(lot for report in reports for lot in report.leaf_lots))
    if not lot_ids:
        raise NothingToConvert(msg("detail.catalog.exchange.certificates_name_no_credit"))
    learner_id = _learner_of(session, lot_ids)
    # the learner's consent, locked and checked before anything about the lots is planned (an
    # institution without consent learns nothing); a concurrent conversion with the same consent
    # has committed when this one goes on, and finds it used
    if transfer_id is not None:
        consent = consents.check_for_transfer(
            transfer_consent, transfer_id, learner_id, institution_id, lot_ids
        )
    else:
        consent = consents.choose_for_conversion(
            consents.lock_candidates(session, learner_id, institution_id, consent_id),
            learner_id=learner_id,
            institution_id=institution_id,
            lot_ids=lot_ids,
            consent_id=consent_id,
        )
    _, plan = plan_conversion(session, ctx, programme, lot_ids, today)
    already = [f for f in plan.skipped if f.reason == "already_converted"]
    if already and not plan.items:
        raise LotAlreadyConverted(
            msg("detail.catalog.exchange.lot_already_converted", lot_id=already[0].lot_id),
            lots=[f.lot_id for f in already],
        )
    used: list[str] = list(dict.fromkeys(str(lot_id) for item in plan.items for lot_id in item.lot_ids))
    if not used:
        raise NothingToConvert(
            msg(
                "detail.catalog.exchange.nothing_converts",
                reasons=Both(
                    "；".join(s.explanation.zh for s in plan.skipped),
                    "; ".join(s.explanation.en for s in plan.skipped),
                ),
            ),
            skipped=[s.model_dump(mode="json") for s in plan.skipped],
        )
    conversion_id = random_id("cnv")
    credential_ids = [str(doc.get("id", "")) for doc in documents]
    tx = ledger.convert_lots(
        session,
        learner_id=learner_id,
        lot_ids=used,
        programme_id=programme.id,
        institution_id=institution_id,
        details={
            "conversion": conversion_id,
            "credits": str(plan.total_credits),
            "rule_set_hash": plan.rule_set_hash,
            "items": [
                {
                    "rule": i.rule_id,
                    "version": i.rule_version,
                    "destination": i.destination_code,
                    "lots": list(i.lot_ids),
                }
                for i in plan.items
            ],
        },
    )
    conversion = Conversion(
        id=conversion_id,
        learner_id=learner_id,
        institution_id=institution_id,
        programme_id=programme.id,
        transfer_id=transfer_id,
        credential_ids=credential_ids,
        lot_ids=used,
        credits=plan.total_credits,
        plan=plan.model_dump(mode="json"),
        ledger_tx_id=tx.id,
        consent_id=consent.id,
    )
    session.add(conversion)
    session.flush()
    consents.mark_used(session, consent, conversion_id)
    return Accepted(conversion=conversion, plan=plan, reports=reports)


def request_transfer(
    session: Session,
    ctx: AppContext,
    who: Principal,
    *,
    learner_id: str,
    lot_ids: Sequence[str],
    destination_institution_id: str,
    programme_id: str,
    learner_consent: str | None = None,
) -> tuple[TransferRequest, list[dict[str, Any]]]:
    """A learner (for their own lots) or an issuing institution (with the learner's consent) asks
    to move lots to a destination programme; the issuers' certificates are issued at once.

    The learner's own request is the consent and is recorded as one, bound to the transfer. An
    institution cites (``learner_consent``) the id of a consent the learner gave naming the
    destination and every lot; it is bound to the transfer.

    Raises:
        Forbidden, ConsentRequired, ProgrammeNotFound, and what certificate issuance raises.
    """
    if who.role is Role.learner and who.subject != learner_id:
        raise Forbidden(msg("detail.catalog.exchange.learner_may_transfer_only"))
    if who.role is Role.institution and not learner_consent:
        raise ConsentRequired(msg("detail.catalog.exchange.send_learner_consent_id"))
    programme = catalog.get_programme(session, programme_id)
    if programme.institution_id != destination_institution_id:
        raise catalog.ProgrammeNotFound(
            msg(
                "detail.catalog.exchange.no_programme",
                programme_id=programme_id,
                destination_institution_id=destination_institution_id,
            )
        )
    lots = session.exec(select(Lot).where(col(Lot.id).in_(list(lot_ids)))).all()
    if len(lots) != len(set(lot_ids)) or any(lot.learner_id != learner_id for lot in lots):
        raise LotNotFound(msg("detail.catalog.exchange.every_lot_must_exist"))
    if who.role is Role.institution and any(lot.issuer_id != who.subject for lot in lots):
        raise Forbidden(msg("detail.catalog.exchange.institution_may_transfer_only"))
    transfer_id = random_id("trf")
    unique_lots = list(dict.fromkeys(lot_ids))
    if who.role is Role.institution:
        consent = consents.bind_to_transfer(
            session,
            learner_consent or "",
            learner_id=learner_id,
            institution_id=destination_institution_id,
            lot_ids=unique_lots,
            transfer_id=transfer_id,
        )
    else:
        consent = consents.give(
            session,
            learner_id,
            destination_institution_id=destination_institution_id,
            lot_ids=unique_lots,
            given_via="transfer",
            transfer_id=transfer_id,
        )
    certificates: list[dict[str, Any]] = []
    ids: list[str] = []
    for lot_id in unique_lots:
        issued = issuance.issue_lot_certificate(
            session, ctx, lot_id=lot_id, destination_institution_id=destination_institution_id
        )
        certificates.append(issued.credential)
        ids.append(issued.certificate.id)
    transfer = TransferRequest(
        id=transfer_id,
        learner_id=learner_id,
        destination_institution_id=destination_institution_id,
        programme_id=programme_id,
        lot_ids=unique_lots,
        certificate_ids=ids,
        requested_by_role=who.role.value,
        requested_by=who.subject,
        learner_consent=consent.id,
    )
    session.add(transfer)
    session.flush()
    return transfer, certificates


def get_transfer(session: Session, transfer_id: str) -> TransferRequest:
    """Raises: TransferNotFound."""
    row = session.get(TransferRequest, transfer_id)
    if row is None:
        raise TransferNotFound(msg("detail.catalog.exchange.no_transfer_2", transfer_id=transfer_id))
    return row


def _locked_transfer(session: Session, transfer_id: str) -> TransferRequest:
    """Raises: TransferNotFound."""
    stmt = select(TransferRequest).where(col(TransferRequest.id) == transfer_id).with_for_update()
    row = session.exec(stmt.execution_options(populate_existing=True)).first()
    if row is None:
        raise TransferNotFound(msg("detail.catalog.exchange.no_transfer_2", transfer_id=transfer_id))
    return row


def _consent_id(transfer: TransferRequest) -> str | None:
    """The consent a transfer carries (older transfers kept a free-text reference instead)."""
    ref = transfer.learner_consent
    return ref if ref is not None and ref.startswith("cns_") else None


def authorise_transfer(session: Session, who: Principal, transfer: TransferRequest) -> None:
    """Learner of the transfer, its destination, an issuer of its lots, admins and auditors.

    Raises: TransferNotFound (to everyone else, so ids cannot be probed)."""
    if who.role in (Role.admin, Role.auditor):
        return
    if who.role is Role.learner and who.subject == transfer.learner_id:
        return
    if who.role is Role.institution:
        if who.subject == transfer.destination_institution_id:
            return
        issuers = set(session.exec(select(Lot.issuer_id).where(col(Lot.id).in_(transfer.lot_ids))).all())
        if who.subject in issuers:
            return
    raise TransferNotFound(msg("detail.catalog.exchange.no_transfer", id=transfer.id))


def transfer_documents(session: Session, transfer: TransferRequest) -> list[dict[str, Any]]:
    rows = session.exec(select(Certificate).where(col(Certificate.id).in_(transfer.certificate_ids))).all()
    by_id = {r.id: r.document for r in rows}
    return [by_id[i] for i in transfer.certificate_ids if i in by_id]


def transfer_certificates_for(
    session: Session, who: Principal, transfer: TransferRequest
) -> list[dict[str, Any]]:
    """The transfer's signed certificates, for its learner and its destination only (the read by
    the destination is logged in the learner's access log); none for anyone else."""
    if who.role is Role.learner and who.subject == transfer.learner_id:
        return transfer_documents(session, transfer)
    if who.role is Role.institution and who.subject == transfer.destination_institution_id:
        session.add(
            ArchiveAccess(
                learner_id=transfer.learner_id,
                reader_role=who.role.value,
                reader_subject=who.subject,
                what=f"transfer {transfer.id} credentials",
            )
        )
        session.flush()
        return transfer_documents(session, transfer)
    return []


def accept_transfer(session: Session, ctx: AppContext, who: Principal, transfer_id: str) -> Accepted:
    """The destination accepts a transfer addressed to it (verify, plan, convert).

    The transfer row is locked first (concurrent acceptances queue, and all but the first find it
    decided), then its consent.

    Raises: TransferNotFound, NotTheDestination, TransferClosed, ConsentRequired, and what
    :func:`accept_certificates` raises.
    """
    transfer = _locked_transfer(session, transfer_id)
    if who.role is not Role.institution or who.subject != transfer.destination_institution_id:
        raise NotTheDestination(
            msg("detail.catalog.exchange.transfer_addressed_another_institution", transfer_id=transfer_id)
        )
    if transfer.status != "issued":
        raise TransferClosed(
            msg("detail.catalog.exchange.transfer_closed", transfer_id=transfer_id, status=transfer.status)
        )
    consent = consents.lock_for_transfer(session, _consent_id(transfer), transfer.id)
    if consent is None and transfer.requested_by_role == Role.learner.value:
        # a learner's transfer from before consents were recorded: the request was the consent
        consent = consents.give(
            session,
            transfer.learner_id,
            destination_institution_id=transfer.destination_institution_id,
            lot_ids=transfer.lot_ids,
            given_via="transfer",
            transfer_id=transfer.id,
        )
        transfer.learner_consent = consent.id
    accepted = accept_certificates(
        session,
        ctx,
        institution_id=transfer.destination_institution_id,
        programme_id=transfer.programme_id,
        documents=transfer_documents(session, transfer),
        transfer_id=transfer.id,
        transfer_consent=consent,
    )
    transfer.status = "accepted"
    transfer.conversion_id = accepted.conversion.id
    transfer.decided_at = utcnow()
    session.add(transfer)
    session.flush()
    return accepted


def reject_transfer(session: Session, who: Principal, transfer_id: str, reason: str) -> TransferRequest:
    """Raises: TransferNotFound, NotTheDestination, TransferClosed."""
    transfer = _locked_transfer(session, transfer_id)
    if who.role is not Role.institution or who.subject != transfer.destination_institution_id:
        raise NotTheDestination(
            msg("detail.catalog.exchange.transfer_addressed_another_institution", transfer_id=transfer_id)
        )
    if transfer.status != "issued":
        raise TransferClosed(
            msg("detail.catalog.exchange.transfer_closed", transfer_id=transfer_id, status=transfer.status)
        )
    transfer.status = "rejected"
    transfer.reason = reason
    transfer.decided_at = utcnow()
    session.add(transfer)
    session.flush()
    return transfer


def list_transfers(session: Session, who: Principal, direction: str | None = None) -> list[TransferRequest]:
    stmt = select(TransferRequest).order_by(col(TransferRequest.created_at).desc())
    if who.role is Role.learner:
        stmt = stmt.where(col(TransferRequest.learner_id) == who.subject)
    elif who.role is Role.institution:
        if direction == "outgoing":
            stmt = stmt.where(col(TransferRequest.requested_by) == who.subject)
        else:
            stmt = stmt.where(col(TransferRequest.destination_institution_id) == who.subject)
    elif who.role not in (Role.admin, Role.auditor):
        return []  # the list shows only what the caller may read (authorise_transfer): a reviewer, none
    return list(session.exec(stmt.limit(500)).all())


def conversions_of(session: Session, learner_id: str) -> list[Conversion]:
    stmt = (
        select(Conversion)
        .where(col(Conversion.learner_id) == learner_id)
        .order_by(col(Conversion.created_at))
    )
    return list(session.exec(stmt).all())
