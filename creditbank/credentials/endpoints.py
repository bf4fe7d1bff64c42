"""HTTP interface of transfer certificates: issuing, reading, status changes, verification, and the
public documents verifiers fetch (DID documents, JWK sets, status lists, the credit-transfer context)."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse

from creditbank.auth.deps import ArchiveReader, InstitutionOrAdmin, LearnerInstitutionAdmin, Public, RoleGuard
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.credentials import issuance, keys, service, status_service
from creditbank.credentials.models import BANK_OWNER, Certificate
from creditbank.credentials.schemas import (
    CertificateCreate,
    CertificatePublic,
    ReportPublic,
    RevokeRequest,
    SuspendRequest,
    VerifyRequest,
)
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.limits import VERIFY, body_limit
from creditbank.outcomes import idempotent
from creditbank.standards.vc.contexts import CREDIT_TRANSFER_CONTEXT, context_text

router = APIRouter()

LearnerOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.admin))]


def _public(session: SessionDep, row: Certificate, who: Principal) -> CertificatePublic:
    """The certificate's record; its signed credential only for the learner and the destination."""
    parts = [p.id for p in service.parts_of(session, row.id)]
    return CertificatePublic.of(
        row, service.status_of(row), parts, with_credential=service.may_see_credential(who, row)
    )


# --- certificates ------------------------------------------------------------------------------------


@router.post(
    "/api/v1/certificates",
    tags=["certificates"],
    status_code=status.HTTP_201_CREATED,
    response_model=CertificatePublic,
)
def create_certificate(
    body: CertificateCreate,
    session: SessionDep,
    ctx: ContextDep,
    who: LearnerInstitutionAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Issue a signed transfer certificate for credit lots. Needs an `Idempotency-Key`: a retry
    with the same key and body returns the first certificate instead of issuing another.

    An institution may ask for lots it issued, a learner for their own lots, an admin for any. The
    signer is always the lots' issuing institution (the bank when it is not registered, or for a
    bundle of lots from several institutions). One lot gives one Open Badges 3.0 credential;
    several give one per lot plus a CLR 2.0 bundle, which is returned (its `parts` list the others).
    """

    def work() -> tuple[int, CertificatePublic]:
        issued = issuance.request_certificates(
            session,
            ctx,
            who,
            lot_ids=body.lot_ids,
            destination_institution_id=body.destination_institution_id,
            valid_until=body.valid_until,
        )
        # the caller who asked for the certificate receives what was signed at their request
        return status.HTTP_201_CREATED, CertificatePublic.of(
            issued.certificate,
            service.status_of(issued.certificate),
            [p.id for p in service.parts_of(session, issued.certificate.id)],
        )

    return idempotent.post(
        session, who, idempotency_key, "/api/v1/certificates", body.model_dump(mode="json"), work
    )


@router.get("/api/v1/certificates/{certificate_id}", tags=["certificates"], response_model=CertificatePublic)
def get_certificate(certificate_id: str, session: SessionDep, who: ArchiveReader) -> CertificatePublic:
    """One certificate: the learner, the issuing or destination institution, admins, auditors. The
    signed credential is given only to the learner and the destination it names (null for the
    others); every read by someone other than the learner is written to the learner's access log."""
    return _public(session, service.authorise_read(session, who, certificate_id), who)


@router.get(
    "/api/v1/certificates/{certificate_id}/evidence",
    tags=["certificates"],
    response_model=dict[str, Any],
    dependencies=[Public],
)
def get_evidence(certificate_id: str, session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """Everything needed to verify the certificate offline (`CertificateEvidence`): the issuer's DID
    document, the signed status lists, the register entry, and the ledger inclusion proof with its
    signed checkpoint and the log's key. It holds no personal data and not the certificate itself."""
    return service.evidence(session, ctx, certificate_id)


@router.post(
    "/api/v1/certificates/{certificate_id}/revoke", tags=["certificates"], response_model=CertificatePublic
)
def revoke_certificate(
    certificate_id: str,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOrAdmin,
    body: RevokeRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Revoke a certificate for good (the issuing institution, admins). Needs an `Idempotency-Key`."""
    return _change_status(
        session,
        who,
        idempotency_key,
        certificate_id,
        "revoke",
        lambda: service.revoke(session, ctx, who, certificate_id, body.reason if body else None),
        body.model_dump(mode="json") if body else {},
    )


@router.post(
    "/api/v1/certificates/{certificate_id}/suspend", tags=["certificates"], response_model=CertificatePublic
)
def suspend_certificate(
    certificate_id: str,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOrAdmin,
    body: SuspendRequest | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Suspend a certificate until it is unsuspended (the issuing institution, admins), optionally
    saying why (the reason shows with its status). Needs an `Idempotency-Key`: a retried suspension
    after an unsuspension must not suspend it again."""
    return _change_status(
        session,
        who,
        idempotency_key,
        certificate_id,
        "suspend",
        lambda: service.suspend(session, ctx, who, certificate_id, body.reason if body else None),
        body.model_dump(mode="json") if body else {},
    )


@router.post(
    "/api/v1/certificates/{certificate_id}/unsuspend", tags=["certificates"], response_model=CertificatePublic
)
def unsuspend_certificate(
    certificate_id: str,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOrAdmin,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Lift a suspension (the issuing institution, admins). Needs an `Idempotency-Key`."""
    return _change_status(
        session,
        who,
        idempotency_key,
        certificate_id,
        "unsuspend",
        lambda: service.unsuspend(session, ctx, who, certificate_id),
    )


def _change_status(
    session: SessionDep,
    who: Principal,
    key: str | None,
    certificate_id: str,
    action: str,
    change: Callable[[], Certificate],
    request: Any = None,
) -> JSONResponse:
    """Run a status change once per Idempotency-Key and answer with the certificate."""

    def work() -> tuple[int, CertificatePublic]:
        return 200, _public(session, change(), who)

    path = f"/api/v1/certificates/{certificate_id}/{action}"
    return idempotent.post(session, who, key, path, request if request is not None else {}, work)


@router.get(
    "/api/v1/learners/{learner_id}/certificates",
    tags=["certificates"],
    response_model=list[CertificatePublic],
)
def list_learner_certificates(
    learner_id: str, session: SessionDep, who: LearnerInstitutionAdmin
) -> list[CertificatePublic]:
    """A learner's certificates, newest first: the learner, an institution under the learner's grant
    (or as the destination of a pending transfer), admins. Reads by others are logged."""
    return [_public(session, row, who) for row in service.list_for_learner(session, who, learner_id)]


@router.post(
    "/api/v1/verify",
    tags=["verification"],
    response_model=ReportPublic,
    dependencies=[Public],
    openapi_extra=body_limit(VERIFY),
)
def verify(body: VerifyRequest, session: SessionDep, ctx: ContextDep) -> ReportPublic:
    """Verify a certificate against this service's keys, status lists, register and logs.

    Answers 200 with every check (proof, key, issuer, status, validity, ledger, and learner when a
    learner id is given) and `valid` true only when all passed. It fetches nothing from other hosts.
    """
    report = service.verify(session, ctx, body.certificate, learner_id=body.learner_id)
    return ReportPublic.model_validate(report.to_json())


# --- public documents for verifiers --------------------------------------------------------------------


@router.get(
    "/institutions/{institution_id}/did.json",
    tags=["issuers"],
    response_model=dict[str, Any],
    dependencies=[Public],
)
def institution_did_document(institution_id: str, session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """The institution's DID document (did:web): every signing key it ever had as a Multikey
    assertion method, retired keys with `retired`, compromised ones with `revoked` (the compromise time)."""
    return keys.did_document(session, ctx.settings.base_url, institution_id)


@router.get(
    "/institutions/{institution_id}/jwks.json",
    tags=["issuers"],
    response_model=dict[str, Any],
    dependencies=[Public],
)
def institution_jwks(institution_id: str, session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """The institution's keys as an OKP/Ed25519 JWK set (`kid` = verification method id; compromised
    keys left out)."""
    return keys.jwks(session, ctx.settings.base_url, institution_id)


@router.get("/did.json", tags=["issuers"], response_model=dict[str, Any], dependencies=[Public])
def bank_did_document(session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """The bank's own DID document (it signs for lots of unregistered issuers and mixed bundles)."""
    return keys.did_document(session, ctx.settings.base_url, BANK_OWNER)


@router.get("/trust.json", tags=["issuers"], response_model=dict[str, Any], dependencies=[Public])
def trust_roots(session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """The trust roots an auditor saves once and pins for offline verification
    (`creditbank verify --trust`): the verifier keys of the transparency logs and the bank's DID
    document, whose keys sign the issuer register."""
    return service.trust_roots(session, ctx)


@router.get("/issuer-register.json", tags=["issuers"], response_model=dict[str, Any], dependencies=[Public])
def issuer_register(session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """The registered institutions with their DID documents, signed by the bank's key
    (`CreditBankIssuerRegister`, `eddsa-jcs-2022`)."""
    return service.signed_register(session, ctx)


@router.get("/.well-known/did.json", tags=["issuers"], response_model=dict[str, Any], dependencies=[Public])
def bank_did_document_well_known(session: SessionDep, ctx: ContextDep) -> dict[str, Any]:
    """The bank's DID document where did:web resolves a DID without a path."""
    return keys.did_document(session, ctx.settings.base_url, BANK_OWNER)


@router.get(
    "/status-lists/{list_id}",
    tags=["issuers"],
    response_model=dict[str, Any],
    dependencies=[Public],
    responses={200: {"description": "The signed BitstringStatusListCredential"}},
)
def get_status_list(list_id: str, session: SessionDep, ctx: ContextDep) -> Response:
    """A signed W3C Bitstring Status List credential (revocation), byte for byte as signed; re-signed
    whenever an entry changes, and before its short `validUntil` lapses."""
    status_service.current_credential(
        session,
        ctx.secrets.master_key,
        ctx.settings.base_url,
        list_id,
        status_service.list_lifetime(ctx.settings),
    )
    row = status_service.get_list(session, list_id)
    return Response(row.credential, media_type="application/json", headers={"Cache-Control": "no-cache"})


@router.get(
    "/contexts/credit-transfer/v1",
    tags=["issuers"],
    dependencies=[Public],
    responses={
        200: {
            "content": {"application/ld+json": {"schema": {"type": "object"}}},
            "description": "the JSON-LD context",
        }
    },
)
def credit_transfer_context() -> Response:
    """The credit-transfer JSON-LD context (`creditTransfer` and its terms), the URL every certificate
    names in its `@context`; the same document is bundled with the verifier. Version 1 never changes."""
    return Response(
        context_text(CREDIT_TRANSFER_CONTEXT),
        media_type="application/ld+json",
        headers={"Cache-Control": "public, max-age=86400", "Access-Control-Allow-Origin": "*"},
    )
