"""Request and response shapes of the certificate API."""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from creditbank.credentials.models import Certificate, CertificateKind, CertificateStatus

CheckName = Literal["proof", "key", "issuer", "status", "validity", "ledger", "learner"]
LotIdText = Annotated[str, Field(min_length=1, max_length=40)]


class CertificateCreate(BaseModel):
    lot_ids: list[LotIdText] = Field(
        min_length=1,
        max_length=50,
        description="credit lots to certify (one learner's): one lot gives one Open Badges credential, "
        "several give a CLR 2.0 bundle of one credential per lot",
    )
    destination_institution_id: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="the registered institution the credits go to, if known",
    )
    valid_until: AwareDatetime | None = Field(
        None, description="end of validity (with a time zone); default: the lot's expiry, or none"
    )


class CertificatePublic(BaseModel):
    id: str = Field(description="the bank's id of the certificate (crt_...)")
    credential_id: str = Field(description="the credential's own id (urn:uuid:...)")
    kind: CertificateKind = Field(description="lot: one credit lot; clr: a CLR bundle of lot certificates")
    lot_ids: list[str] = Field(description="the credit lots the certificate vouches for")
    issuer_id: str = Field(description="the signing institution's id, or 'bank'")
    issuer_did: str = Field(description="the issuer's did:web")
    learner_id: str = Field(description="the bank's random id of the learner")
    destination_institution_id: str | None = Field(description="where the credits go, if named")
    bundle_id: str | None = Field(description="the CLR bundle this certificate was issued in, if any")
    parts: list[str] = Field(description="for a bundle: the ids of the bundled lot certificates")
    status: CertificateStatus = Field(description="the certificate's current status")
    valid_from: dt.datetime = Field(description="start of validity")
    valid_until: dt.datetime | None = Field(description="end of validity, if any")
    created_at: dt.datetime = Field(description="when it was issued and signed")
    revoked_at: dt.datetime | None = Field(description="when it was revoked, if it was")
    revocation_reason: str | None = Field(description="why it was revoked, if given")
    suspended_at: dt.datetime | None = Field(description="when the current suspension began, if suspended")
    suspension_reason: str | None = Field(None, description="why it was suspended, if given")
    successor_id: str | None = Field(
        None, description="the certificate re-issued in its place (after a key compromise or a suspension)"
    )
    credential: dict[str, Any] | None = Field(
        description=(
            "the signed credential (W3C VC 2.0, Open Badges 3.0 / CLR 2.0); given only to the learner "
            "and the named destination institution (null for everyone else)"
        )
    )

    @classmethod
    def of(
        cls, row: Certificate, status: CertificateStatus, parts: list[str], *, with_credential: bool = True
    ) -> "CertificatePublic":
        return cls(
            id=row.id,
            credential_id=row.credential_id,
            kind=CertificateKind(row.kind),
            lot_ids=list(row.lot_ids),
            issuer_id=row.issuer_owner_id,
            issuer_did=row.issuer_did,
            learner_id=row.learner_id,
            destination_institution_id=row.destination_institution_id,
            bundle_id=row.bundle_id,
            parts=parts,
            status=status,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            revocation_reason=row.revocation_reason,
            suspended_at=row.suspended_at,
            suspension_reason=row.suspension_reason,
            successor_id=row.successor_id,
            credential=row.document if with_credential else None,
        )


class RevokeRequest(BaseModel):
    reason: str | None = Field(None, max_length=500, description="why the certificate is revoked")


class SuspendRequest(BaseModel):
    reason: str | None = Field(
        None, max_length=500, description="why the certificate is suspended (shown with its status)"
    )


class VerifyRequest(BaseModel):
    certificate: dict[str, Any] = Field(description="the certificate JSON, as issued (with its proof)")
    learner_id: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="when given, also check that the certificate's hashed identity is this learner's",
    )


class CheckPublic(BaseModel):
    name: CheckName = Field(
        description="which check, in this order: proof, key, issuer, status, validity, ledger, learner"
    )
    ok: bool = Field(description="whether it passed")
    detail: str = Field(description="what was established, or why it failed")


class ReportPublic(BaseModel):
    valid: bool = Field(description="true only when every check passed")
    checks: list[CheckPublic] = Field(description="every check, in order")
