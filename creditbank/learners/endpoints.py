from fastapi import APIRouter, Response, status

from creditbank.auth.deps import InstitutionOrAdmin, LearnerInstitutionAdmin
from creditbank.auth.models import Role
from creditbank.deps import ContextDep, SessionDep
from creditbank.learners import service, vault
from creditbank.learners.schemas import LearnerCreate, LearnerLookup, LearnerPublic, LearnerRef

router = APIRouter(prefix="/api/v1/learners", tags=["learners"])


@router.post(
    "",
    response_model=LearnerRef,
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_200_OK: {"model": LearnerRef, "description": "The person was already registered"}},
)
def register_learner(
    body: LearnerCreate, response: Response, session: SessionDep, ctx: ContextDep, who: InstitutionOrAdmin
) -> LearnerRef:
    """Register a learner by name and identity number. The same person again returns the same id (200)."""
    learner, created = service.register(
        session,
        identity_key=ctx.identity_key,
        master_key=ctx.secrets.master_key,
        name=body.name,
        identity_number=body.identity_number,
        contact=body.contact,
        institution_id=who.subject if who.role is Role.institution else None,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return LearnerRef(id=learner.id, created=created)


@router.post("/lookup", response_model=LearnerRef)
def lookup_learner(
    body: LearnerLookup, session: SessionDep, ctx: ContextDep, _: InstitutionOrAdmin
) -> LearnerRef:
    """Find a learner's bank id by identity number (through the keyed HMAC, never a plain hash)."""
    learner = service.find_by_identity_number(session, ctx.identity_key, body.identity_number)
    return LearnerRef(id=learner.id, created=False)


@router.get("/{learner_id}", response_model=LearnerPublic)
def get_learner(
    learner_id: str, session: SessionDep, ctx: ContextDep, who: LearnerInstitutionAdmin
) -> LearnerPublic:
    """A learner's identity card: themselves, institutions that registered or posted for them, admins."""
    learner = service.authorise_read(session, who, learner_id, "profile")
    data = vault.load(session, ctx.secrets.master_key, learner.id)
    return LearnerPublic(
        id=learner.id,
        created_at=learner.created_at,
        erased=learner.erased_at is not None,
        name=data.name if data else None,
        identity_number_masked=service.mask_identity_number(data.identity_number) if data else None,
    )
