from fastapi import APIRouter, status

from creditbank.auth import service
from creditbank.auth.deps import AdminOnly
from creditbank.auth.schemas import ReviewerCreate, ReviewerPublic, TokenCreate, TokenCreated, TokenPublic
from creditbank.deps import ContextDep, SessionDep

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])
reviewers_router = APIRouter(prefix="/api/v1/reviewers", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(body: TokenCreate, session: SessionDep, ctx: ContextDep, _: AdminOnly) -> TokenCreated:
    """Mint an API token. The token is in this response only."""
    row, plaintext = service.create_token(session, ctx.token_key, body.role, body.subject, body.label)
    return TokenCreated(**TokenPublic.model_validate(row, from_attributes=True).model_dump(), token=plaintext)


@router.get("", response_model=list[TokenPublic])
def list_tokens(session: SessionDep, _: AdminOnly) -> list[TokenPublic]:
    """Every token, live and revoked (never the secrets)."""
    return [TokenPublic.model_validate(t, from_attributes=True) for t in service.list_tokens(session)]


@router.delete("/{token_id}", response_model=TokenPublic)
def revoke_token(token_id: str, session: SessionDep, _: AdminOnly) -> TokenPublic:
    """Revoke a token; later calls with it get 401."""
    return TokenPublic.model_validate(service.revoke_token(session, token_id), from_attributes=True)


@reviewers_router.post("", status_code=status.HTTP_201_CREATED, response_model=ReviewerPublic)
def create_reviewer(body: ReviewerCreate, session: SessionDep, _: AdminOnly) -> ReviewerPublic:
    """Create a named reviewer account (a person) at a district sub-centre (`district`) or at the
    city centre (no district). Mint its tokens with `role: reviewer` and `subject: <its id>`; four
    eyes compares accounts, so one person's tokens are one reviewer. An unknown district is a 422
    `unknown-district`."""
    row = service.create_reviewer(session, body.name, body.unit, body.district)
    return ReviewerPublic.model_validate(row, from_attributes=True)


@reviewers_router.get("", response_model=list[ReviewerPublic])
def list_reviewers(session: SessionDep, _: AdminOnly) -> list[ReviewerPublic]:
    """Every reviewer account."""
    return [ReviewerPublic.model_validate(r, from_attributes=True) for r in service.list_reviewers(session)]
