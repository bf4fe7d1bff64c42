from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from creditbank.auth.deps import (
    AnyRole,
    InstitutionOnly,
    LearnerInstitutionAdmin,
    LearnerOnly,
    LearnerOrInstitution,
    Public,
)
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import consent as consents
from creditbank.catalog import exchange, planning
from creditbank.catalog import service as catalog
from creditbank.catalog.models import Consent, Conversion, TransferRequest
from creditbank.catalog.schemas import (
    AcceptCertificates,
    ConsentCreate,
    ConsentPublic,
    ConversionPreview,
    ConversionPublic,
    EquivalenceCreate,
    EquivalencePublic,
    ProgrammeCreate,
    ProgrammePublic,
    RejectTransfer,
    SharedCourseCreate,
    SharedCoursePublic,
    TransferCreate,
    TransferIssued,
    TransferPreviewRequest,
    TransferPublic,
    preview_of,
)
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep
from creditbank.errors import ValidationFailed
from creditbank.i18n import msg
from creditbank.outcomes import idempotent

router = APIRouter(prefix="/api/v1", tags=["catalogue and transfers"])


def _create(
    session: Any,
    who: Principal,
    key: str | None,
    path: str,
    body: BaseModel,
    make: Callable[[], Any],
    public: type[BaseModel],
) -> JSONResponse:
    """Create a catalogue entry once per Idempotency-Key; answer 201 with its public form."""

    def work() -> tuple[int, BaseModel]:
        return status.HTTP_201_CREATED, public.model_validate(make(), from_attributes=True)

    return idempotent.post(session, who, key, path, body.model_dump(mode="json"), work)


@router.post("/programmes", status_code=status.HTTP_201_CREATED, response_model=ProgrammePublic)
def create_programme(
    body: ProgrammeCreate, session: SessionDep, who: InstitutionOnly, idempotency_key: IdempotencyKey = None
) -> Any:
    """Create a programme of your institution that converted credits can count towards. Needs an
    `Idempotency-Key`."""

    return _create(
        session,
        who,
        idempotency_key,
        "/api/v1/programmes",
        body,
        lambda: catalog.create_programme(session, who.subject or "", body),
        ProgrammePublic,
    )


@router.get("/programmes", response_model=list[ProgrammePublic], dependencies=[Public])
def list_programmes(
    session: SessionDep, institution_id: Annotated[str | None, Query(max_length=40)] = None
) -> list[ProgrammePublic]:
    """Programmes (public), optionally of one institution."""
    return [
        ProgrammePublic.model_validate(r, from_attributes=True)
        for r in catalog.list_programmes(session, institution_id)
    ]


@router.post("/shared-courses", status_code=status.HTTP_201_CREATED, response_model=SharedCoursePublic)
def publish_course(
    body: SharedCourseCreate,
    session: SessionDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Publish a course open to other schools' learners (课程跨校共享). Needs an `Idempotency-Key`."""

    return _create(
        session,
        who,
        idempotency_key,
        "/api/v1/shared-courses",
        body,
        lambda: catalog.publish_course(session, who.subject or "", body),
        SharedCoursePublic,
    )


@router.get("/shared-courses", response_model=list[SharedCoursePublic], dependencies=[Public])
def list_courses(
    session: SessionDep, institution_id: Annotated[str | None, Query(max_length=40)] = None
) -> list[SharedCoursePublic]:
    """The catalogue of shared courses (public)."""
    return [
        SharedCoursePublic.model_validate(r, from_attributes=True)
        for r in catalog.list_shared_courses(session, institution_id)
    ]


@router.post("/equivalences", status_code=status.HTTP_201_CREATED, response_model=EquivalencePublic)
def create_equivalence(
    body: EquivalenceCreate, session: SessionDep, who: InstitutionOnly, idempotency_key: IdempotencyKey = None
) -> Any:
    """Publish a course equivalence: which lots your institution converts into one of its courses.
    Needs an `Idempotency-Key`."""

    return _create(
        session,
        who,
        idempotency_key,
        "/api/v1/equivalences",
        body,
        lambda: catalog.create_equivalence(session, who.subject or "", body),
        EquivalencePublic,
    )


@router.get("/equivalences", response_model=list[EquivalencePublic], dependencies=[Public])
def list_equivalences(
    session: SessionDep, institution_id: Annotated[str, Query(min_length=1, max_length=40)]
) -> list[EquivalencePublic]:
    """An institution's published course equivalences (public)."""
    return [
        EquivalencePublic.model_validate(r, from_attributes=True)
        for r in catalog.list_equivalences(session, institution_id)
    ]


def _transfer(row: TransferRequest) -> TransferPublic:
    return TransferPublic.model_validate(row, from_attributes=True)


def _conversion(row: Conversion) -> ConversionPublic:
    return ConversionPublic.model_validate(row, from_attributes=True)


@router.post("/transfers", status_code=status.HTTP_201_CREATED, response_model=TransferIssued)
def request_transfer(
    body: TransferCreate,
    session: SessionDep,
    ctx: ContextDep,
    who: LearnerOrInstitution,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Ask to transfer lots to another school's programme; the certificates are issued at once.
    A learner asks for their own lots; an issuing institution needs the learner's consent."""

    def work() -> tuple[int, TransferIssued]:
        learner_id = body.learner_id or (who.subject if who.role is Role.learner else None)
        if not learner_id:
            raise ValidationFailed(msg("detail.catalog.endpoints.learner_id_institution_must"))
        transfer, certificates = exchange.request_transfer(
            session,
            ctx,
            who,
            learner_id=learner_id,
            lot_ids=body.lot_ids,
            destination_institution_id=body.destination_institution_id,
            programme_id=body.programme_id,
            learner_consent=body.learner_consent,
        )
        return 201, TransferIssued(**_transfer(transfer).model_dump(), certificates=certificates)

    return idempotent.post(
        session, who, idempotency_key, "/api/v1/transfers", body.model_dump(mode="json"), work
    )


@router.post("/transfers/preview", response_model=ConversionPreview)
def preview_request(
    body: TransferPreviewRequest, session: SessionDep, ctx: ContextDep, who: LearnerOrInstitution
) -> ConversionPreview:
    """Before sending a transfer: what these lots would become in the programme, lot by lot (course,
    generic course or elective, grade, credits, remainder), and why any lot would be left out (cap
    reached, no equivalence, expired, already converted). Caps count this learner's earlier
    conversions. Nothing is stored."""
    learner_id = body.learner_id or (who.subject if who.role is Role.learner else None)
    if not learner_id:
        raise ValidationFailed(msg("detail.catalog.endpoints.learner_id_institution_must"))
    programme, plan = planning.preview_request(
        session,
        who,
        ctx,
        learner_id=learner_id,
        lot_ids=body.lot_ids,
        programme_id=body.programme_id,
        destination_institution_id=body.destination_institution_id,
    )
    return preview_of(programme, plan)


@router.post("/transfers/{transfer_id}/preview", response_model=ConversionPreview)
def preview_transfer(
    transfer_id: str, session: SessionDep, ctx: ContextDep, who: LearnerInstitutionAdmin
) -> ConversionPreview:
    """Before accepting (the destination) or while waiting (the learner): what accepting this
    transfer would convert now, lot by lot, with the reason for every lot left out. Nothing is
    stored; acceptance stores the same plan with the conversion."""
    programme, plan = planning.preview_transfer(session, ctx, who, transfer_id)
    return preview_of(programme, plan)


@router.get("/transfers", response_model=list[TransferPublic])
def list_transfers(
    session: SessionDep,
    who: AnyRole,
    direction: Annotated[Literal["incoming", "outgoing"] | None, Query()] = None,
) -> list[TransferPublic]:
    """Your transfers: a learner's own; an institution's incoming (default) or outgoing; all for admins
    and auditors; none for reviewers (the list shows only what the caller may read)."""
    return [_transfer(t) for t in exchange.list_transfers(session, who, direction)]


@router.get("/transfers/{transfer_id}", response_model=TransferIssued)
def get_transfer(transfer_id: str, session: SessionDep, who: AnyRole) -> TransferIssued:
    """One transfer (its learner, destination, issuers, admins, auditors). The signed certificates
    are listed only for the learner and the destination (empty for the others); a read by the
    destination is written to the learner's access log."""
    transfer = exchange.get_transfer(session, transfer_id)
    exchange.authorise_transfer(session, who, transfer)
    return TransferIssued(
        **_transfer(transfer).model_dump(),
        certificates=exchange.transfer_certificates_for(session, who, transfer),
    )


@router.post("/transfers/{transfer_id}/accept", response_model=ConversionPublic)
def accept_transfer(
    transfer_id: str,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Destination only: verify the transfer's certificates and convert the lots (once, ever)."""

    def work() -> tuple[int, ConversionPublic]:
        return 200, _conversion(exchange.accept_transfer(session, ctx, who, transfer_id).conversion)

    return idempotent.post(session, who, idempotency_key, f"/api/v1/transfers/{transfer_id}/accept", {}, work)


@router.post("/transfers/{transfer_id}/reject", response_model=TransferPublic)
def reject_transfer(
    transfer_id: str,
    body: RejectTransfer,
    session: SessionDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Destination only: decline a transfer, with a reason. Needs an `Idempotency-Key`."""

    def work() -> tuple[int, TransferPublic]:
        return 200, _transfer(exchange.reject_transfer(session, who, transfer_id, body.reason))

    path = f"/api/v1/transfers/{transfer_id}/reject"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


@router.post("/conversions", status_code=status.HTTP_201_CREATED, response_model=ConversionPublic)
def accept_certificates(
    body: AcceptCertificates,
    session: SessionDep,
    ctx: ContextDep,
    who: InstitutionOnly,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Accept certificates a learner brings (verified like any outside verifier would) and convert
    their lots into one of your programmes. The same lots convert once, at any school.

    Only the institution a certificate names as its destination may convert it (403
    `not-the-destination`), and only with a consent the learner gave naming your institution and
    every lot (403 `consent-required`); the conversion uses that consent up."""

    def work() -> tuple[int, ConversionPublic]:
        accepted = exchange.accept_certificates(
            session,
            ctx,
            institution_id=who.subject or "",
            programme_id=body.programme_id,
            documents=body.certificates,
            consent_id=body.consent_id,
        )
        return 201, _conversion(accepted.conversion)

    return idempotent.post(
        session, who, idempotency_key, "/api/v1/conversions", body.model_dump(mode="json"), work
    )


# --- the learner's consents -----------------------------------------------------------------------


def consent_public(row: Consent) -> ConsentPublic:
    return ConsentPublic.of(row, consents.state_of(row))


@router.post("/consents", status_code=status.HTTP_201_CREATED, response_model=ConsentPublic)
def give_consent(
    body: ConsentCreate, session: SessionDep, who: LearnerOnly, idempotency_key: IdempotencyKey = None
) -> Any:
    """Consent that one institution may convert some of your credit lots (certificates you bring
    to it, or a transfer your issuing institution asks for on your behalf). Revocable until used.
    Needs an `Idempotency-Key`."""

    def work() -> tuple[int, ConsentPublic]:
        row = consents.give(
            session,
            who.subject or "",
            destination_institution_id=body.destination_institution_id,
            lot_ids=body.lot_ids,
            given_via="api",
        )
        return status.HTTP_201_CREATED, consent_public(row)

    return idempotent.post(
        session, who, idempotency_key, "/api/v1/consents", body.model_dump(mode="json"), work
    )


@router.get("/consents", response_model=list[ConsentPublic])
def list_consents(session: SessionDep, who: LearnerOnly) -> list[ConsentPublic]:
    """Your consents, newest first, with their state (active, used, revoked)."""
    return [consent_public(row) for row in consents.list_for_learner(session, who.subject or "")]


@router.post("/consents/{consent_id}/revoke", response_model=ConsentPublic)
def revoke_consent(
    consent_id: str, session: SessionDep, who: LearnerOnly, idempotency_key: IdempotencyKey = None
) -> Any:
    """Withdraw one of your consents before a conversion uses it (409 `consent-used` after).
    Needs an `Idempotency-Key`."""

    def work() -> tuple[int, ConsentPublic]:
        return 200, consent_public(consents.revoke(session, who, consent_id))

    return idempotent.post(session, who, idempotency_key, f"/api/v1/consents/{consent_id}/revoke", {}, work)
