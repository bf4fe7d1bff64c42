"""Who may call what.

Every route declares its callers with one of the aliases below (or ``Public``). The guard reads a
bearer token (or the web session cookie), checks the role and yields a :class:`Principal`. The app
factory copies the declared roles into the OpenAPI schema as ``x-roles`` so that the
authorisation-matrix test can call every endpoint with every role.
"""

from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from creditbank.auth.models import Role
from creditbank.auth.service import Principal, authenticate
from creditbank.db import transaction
from creditbank.deps import ContextDep, SessionDep
from creditbank.errors import Forbidden, Unauthenticated

SESSION_COOKIE = "cb_session"
_bearer = HTTPBearer(auto_error=False, description="API token minted with `creditbank tokens create`")


class RoleGuard:
    """Dependency that admits only the given roles."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(
        self,
        request: Request,
        session: SessionDep,
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        token = credentials.credentials if credentials else _cookie_token(request, ctx.secrets.session_secret)
        if not token:
            raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
        principal = authenticate(session, ctx.token_key, token)
        if principal is None:
            raise Unauthenticated("the token is unknown or revoked")
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(r.value for r in self.roles))
            raise Forbidden(f"role {principal.role.value} may not call this; allowed: {allowed}")
        request.state.principal = principal
        return principal


class UploadGuard(RoleGuard):
    """A role guard for routes that read their request body themselves (uploads).

    The shared guard reads the token in the request's transaction, which lasts as long as the
    route's function, and an upload's function runs while the body arrives: a slow client would
    hold a database connection all that time. This guard checks the token in a short transaction
    of its own, ended before the body is read.
    """

    def __call__(  # type: ignore[override]
        self,
        request: Request,
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        with contextmanager(transaction)(ctx.sessions) as session:
            return super().__call__(request, session, ctx, credentials)


def _cookie_token(request: Request, secret: bytes) -> str | None:
    from creditbank.auth.cookies import read_session_cookie

    raw = request.cookies.get(SESSION_COOKIE)
    return read_session_cookie(secret, raw) if raw else None


class PublicGuard:
    """Marks a route as open to everyone (declared, so the matrix test knows)."""

    roles: frozenset[Role] = frozenset()

    async def __call__(self) -> None:  # async: nothing to do, so no hop to the thread pool
        return None


AdminOnly = Annotated[Principal, Depends(RoleGuard(Role.admin))]
InstitutionOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.institution, Role.admin))]
InstitutionOnly = Annotated[Principal, Depends(RoleGuard(Role.institution))]
UploadingInstitution = Annotated[Principal, Depends(UploadGuard(Role.institution))]
ReviewerOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.reviewer, Role.admin))]
LearnerOnly = Annotated[Principal, Depends(RoleGuard(Role.learner))]
LearnerOrInstitution = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.institution))]
AnyRole = Annotated[Principal, Depends(RoleGuard(*Role))]
LearnerInstitutionAdmin = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.institution, Role.admin))]
ArchiveReader = Annotated[
    Principal, Depends(RoleGuard(Role.learner, Role.institution, Role.admin, Role.auditor))
]
Public = Depends(PublicGuard())
