from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from creditbank.auth.deps import InstitutionOrAdmin, LearnerInstitutionAdmin, RoleGuard
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.deps import ContextDep, IdempotencyKey, SessionDep, request_lang
from creditbank.errors import PROBLEM_MEDIA_TYPE, Forbidden
from creditbank.i18n import msg
from creditbank.learners import access, service, vault
from creditbank.learners.schemas import (
    GrantCreate,
    GrantPublic,
    LearnerCreate,
    LearnerLookup,
    LearnerPublic,
    LearnerRef,
)
from creditbank.outcomes import idempotent

router = APIRouter(prefix="/api/v1/learners", tags=["learners"])

LearnerOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.admin))]
OwnLearner = Annotated[Principal, Depends(RoleGuard(Role.learner))]
LOOKUP_LIMITED: dict[int | str, dict[str, Any]] = {
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "description": "Too many identity-number lookups with this token (`Retry-After` says when to retry)"
    }
}


@router.post(
    "",
    response_model=LearnerRef,
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_200_OK: {"model": LearnerRef, "description": "The person was already registered"},
        **LOOKUP_LIMITED,
    },
)
def register_learner(
    body: LearnerCreate, response: Response, session: SessionDep, ctx: ContextDep, who: InstitutionOrAdmin
) -> LearnerRef:
    """Register a learner by name and identity number. The same person again returns the same id
    (200) and nothing else: it grants no read access. Every call is an identity-number lookup,
    logged and rate-limited per token."""
    access.admit_lookup(session, who, ctx.settings.identity_lookups_per_minute)
    learner, created = service.register(
        session,
        identity_key=ctx.identity_key,
        master_key=ctx.secrets.master_key,
        name=body.name,
        identity_number=body.identity_number,
        contact=body.contact,
        institution_id=who.subject if who.role is Role.institution else None,
    )
    access.log_lookup(session, who, learner.id, "register" if created else "register-known")
    if not created:
        response.status_code = status.HTTP_200_OK
    return LearnerRef(id=learner.id, created=created)


@router.post("/lookup", response_model=LearnerRef, responses=LOOKUP_LIMITED)
def lookup_learner(
    body: LearnerLookup, request: Request, session: SessionDep, ctx: ContextDep, who: InstitutionOrAdmin
) -> Any:
    """Find a learner's bank id by identity number (through the keyed HMAC, never a plain hash).
    Each lookup is logged, found or not, and rate-limited per token."""
    access.admit_lookup(session, who, ctx.settings.identity_lookups_per_minute)
    learner = service.find_by_identity_number_or_none(session, ctx.identity_key, body.identity_number)
    access.log_lookup(session, who, learner.id if learner else None, "lookup")
    if learner is None:
        # answered, not raised: the lookup's log row must be committed with the answer
        missing = service.LearnerNotFound(msg("detail.learners.no_learner_identity_number"))
        return JSONResponse(
            missing.to_problem(instance=request.url.path, lang=request_lang(request)),
            status_code=missing.status,
            media_type=PROBLEM_MEDIA_TYPE,
        )
    return LearnerRef(id=learner.id, created=False)


@router.get("/{learner_id}", response_model=LearnerPublic)
def get_learner(
    learner_id: str, session: SessionDep, ctx: ContextDep, who: LearnerInstitutionAdmin
) -> LearnerPublic:
    """A learner's identity card: themselves, an institution under the learner's grant (or as the
    destination of a pending transfer), admins. Reads by others are logged."""
    learner = service.authorise_read(session, who, learner_id, "profile")
    data = vault.load(session, ctx.secrets.master_key, learner.id)
    return LearnerPublic(
        id=learner.id,
        created_at=learner.created_at,
        erased=learner.erased_at is not None,
        name=data.name if data else None,
        identity_number_masked=service.mask_identity_number(data.identity_number) if data else None,
    )


def _own(who: Principal, learner_id: str) -> None:
    if who.role is Role.learner and who.subject != learner_id:
        raise Forbidden(msg("detail.learners.endpoints.learner_manages_only_their"))


@router.post("/{learner_id}/grants", response_model=GrantPublic, status_code=status.HTTP_201_CREATED)
def create_grant(
    learner_id: str,
    body: GrantCreate,
    session: SessionDep,
    who: OwnLearner,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Let one institution read your whole archive (profile, archive, certificates) for some days.
    Every read it makes is logged in your archive; revoke the grant at any time. Needs an
    `Idempotency-Key`."""
    _own(who, learner_id)

    def work() -> tuple[int, GrantPublic]:
        made = access.create_grant(
            session, learner_id, body.institution_id, days=body.days, purpose=body.purpose
        )
        return status.HTTP_201_CREATED, access.grant_public(made)

    path = f"/api/v1/learners/{learner_id}/grants"
    return idempotent.post(session, who, idempotency_key, path, body.model_dump(mode="json"), work)


@router.get("/{learner_id}/grants", response_model=list[GrantPublic])
def list_grants(learner_id: str, session: SessionDep, who: LearnerOrAdmin) -> list[GrantPublic]:
    """Every grant the learner made, newest first: live, expired and revoked."""
    _own(who, learner_id)
    return [access.grant_public(g) for g in access.list_grants(session, learner_id)]


@router.post("/{learner_id}/grants/{grant_id}/revoke", response_model=GrantPublic)
def revoke_grant(
    learner_id: str,
    grant_id: str,
    session: SessionDep,
    who: OwnLearner,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Revoke a grant at once: the institution's next read is refused (`grant-required`). Needs an
    `Idempotency-Key`."""
    _own(who, learner_id)

    def work() -> tuple[int, GrantPublic]:
        return 200, access.grant_public(access.revoke_grant(session, learner_id, grant_id))

    path = f"/api/v1/learners/{learner_id}/grants/{grant_id}/revoke"
    return idempotent.post(session, who, idempotency_key, path, {}, work)
