"""Who may call what.

Every route declares its callers with one of the aliases below (or ``Public``). The API guard
(:class:`RoleGuard`, every ``/api/v1`` route) reads a bearer token only: the browser's session
cookie is not an API credential, so a cross-site form cannot call the API with it. The page guard
(:class:`PageGuard`, the pages' form posts and downloads) reads a bearer token or the server-side
session named by the ``cb_session`` cookie (:mod:`creditbank.auth.sessions`). Both check the role
and yield a :class:`Principal`. The app factory copies the declared roles into the OpenAPI schema
as ``x-roles`` so that the authorisation-matrix test can call every endpoint with every role.
"""

import ipaddress
from contextlib import contextmanager
from typing import Annotated, NoReturn

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from creditbank.auth import sessions
from creditbank.auth.accounts import AccountUnverified
from creditbank.auth.models import Role
from creditbank.auth.service import TOKEN_PREFIX, Principal, authenticate, authenticate_alone, hash_token
from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.deps import ContextDep, SessionDep, context_of
from creditbank.errors import Forbidden, Unauthenticated
from creditbank.i18n import msg

SESSION_COOKIE = "cb_session"
_bearer = HTTPBearer(auto_error=False, description="API token minted with `creditbank tokens create`")


class RoleGuard:
    """Dependency of the API: admits a bearer token of the given roles, and nothing else."""

    accepts_session = False
    admits_unverified = False
    """A learner account not yet verified acts for no learner; only :class:`AccountGuard` admits it."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(
        self,
        request: Request,
        session: SessionDep,
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal: Principal | None
        if credentials:
            principal = authenticate(session, ctx.token_key, credentials.credentials, ctx.previous_token_key)
            if principal is None:
                raise Unauthenticated(msg("detail.auth.deps.token_unknown_revoked"))
        elif self.accepts_session and request.cookies.get(SESSION_COOKIE):
            principal = session_principal(request, session, ctx.token_key, ctx.secrets.session_secret)
            if principal is None:
                raise Unauthenticated(msg("detail.auth.deps.session_has_ended_sign"))
        else:
            refuse_without_token(request)
        return self.admit(request, principal)

    def admit(self, request: Request, principal: Principal) -> Principal:
        """The role check of an identified caller (403 for another role)."""
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(r.value for r in self.roles))
            raise Forbidden(
                msg("detail.auth.deps.role_may_call_allowed", value=principal.role.value, allowed=allowed)
            )
        if principal.subject is None and principal.role is Role.learner and not self.admits_unverified:
            raise AccountUnverified()
        request.state.principal = principal
        return principal


def refuse_without_token(request: Request) -> NoReturn:
    """The 401 of an API call without a bearer token (a session cookie is no API credential)."""
    if request.cookies.get(SESSION_COOKIE):
        raise Unauthenticated(msg("detail.auth.deps.api_takes_bearer_tokens"))
    raise Unauthenticated(msg("detail.auth.deps.send_api_token_authorization"))


class PooledGuard(RoleGuard):
    """A role guard that needs no request transaction: the token is read with one statement on a
    pooled connection (:func:`creditbank.auth.service.authenticate_alone`), and the request takes
    one thread-pool hop for it instead of three (the session's start and end, the guard).

    For routes that do their work in a transaction of their own (the single posting, in its group's):
    that work must check again there that the token is still live, so a token revoked after this
    check is refused, not honoured. As that check is made anyway, a token this process found live
    lately is admitted from :class:`Admissions` (no hop, no statement) while the work's own check
    decides: such an admission is provisional (:func:`provisional_refusal` confirms it before any
    other answer is given, :func:`forget_admission` drops it once the work found the token revoked).
    """

    async def __call__(  # type: ignore[override]
        self,
        request: Request,
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if not credentials:
            refuse_without_token(request)
        admissions: Admissions | None = getattr(request.app.state, "admissions", None)
        digest = admission_key(ctx, credentials.credentials) if admissions is not None else None
        principal = admissions.get(digest) if admissions is not None and digest is not None else None
        if principal is not None:
            request.state.provisional_token = digest
            return self.admit(request, principal)
        principal = await run_in_threadpool(
            authenticate_alone, ctx.sessions, ctx.token_key, credentials.credentials, ctx.previous_token_key
        )
        if principal is None:
            raise Unauthenticated(msg("detail.auth.deps.token_unknown_revoked"))
        if admissions is not None and digest is not None:
            admissions.note(digest, principal)
        return self.admit(request, principal)


class Admissions:
    """The tokens one app's :class:`PooledGuard` found live lately: their principal by the token's
    stored hash (never the token). A token is immutable but for its revocation, which the work
    behind the guard checks in its own transaction. At most :data:`ADMISSIONS_MAX` kept (forgotten
    all at once when full, so memory stays bounded)."""

    def __init__(self) -> None:
        self._found: dict[str, Principal] = {}

    def get(self, digest: str) -> Principal | None:
        return self._found.get(digest)

    def note(self, digest: str, principal: Principal) -> None:
        if len(self._found) >= ADMISSIONS_MAX:
            self._found.clear()
        self._found[digest] = principal

    def forget(self, digest: str) -> None:
        self._found.pop(digest, None)


ADMISSIONS_MAX = 1024


def admission_key(ctx: AppContext, token: str) -> str | None:
    """The hash a token is stored under (None for a string that is no token)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return hash_token(ctx.token_key, token)


def forget_admission(request: Request) -> None:
    """After the work behind a :class:`PooledGuard` refused the request's token (revoked): the next
    request with it is refused by the guard at once."""
    digest = getattr(request.state, "provisional_token", None)
    admissions: Admissions | None = getattr(request.app.state, "admissions", None)
    if digest is not None and admissions is not None:
        admissions.forget(digest)


async def provisional_refusal(request: Request) -> Unauthenticated | None:
    """For a request refused before its work checked a provisionally admitted token (its body not
    valid, say): the token read again, and the 401 the guard would have given if it is no longer
    live (so a revoked token is told 401 first, as by the guard, whatever else is wrong)."""
    digest = getattr(request.state, "provisional_token", None)
    if digest is None:
        return None
    request.state.provisional_token = None
    ctx = context_of(request)
    credentials = await _bearer(request)
    token = credentials.credentials if credentials is not None else ""
    principal = await run_in_threadpool(
        authenticate_alone, ctx.sessions, ctx.token_key, token, ctx.previous_token_key
    )
    if principal is not None:
        return None
    admissions: Admissions | None = getattr(request.app.state, "admissions", None)
    if admissions is not None:
        admissions.forget(digest)
    return Unauthenticated(msg("detail.auth.deps.token_unknown_revoked"))


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


class PageGuard(RoleGuard):
    """Dependency of the pages: a bearer token or the browser's server-side session."""

    accepts_session = True


class AccountGuard(PageGuard):
    """The learner account's own pages: also a learner whose account is not verified yet."""

    admits_unverified = True


def session_principal(
    request: Request, session: Session, key: bytes, cookie_secret: bytes
) -> Principal | None:
    """The principal of the live session named by the request's ``cb_session`` cookie, if any."""
    raw = request.cookies.get(SESSION_COOKIE)
    return sessions.principal(session, key, cookie_secret, raw) if raw else None


_FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def from_loopback(request: Request) -> bool:
    """True when the peer is this host (127.0.0.0/8, ::1) and no proxy says it forwarded the request
    for someone else (a reverse proxy on the same host makes every visitor's peer address local)."""
    if request.client is None or any(name in _FORWARDED for name, _ in request.scope.get("headers", ())):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:  # "testclient", a Unix socket's name
        return False


class LocalOrRoleGuard(RoleGuard):
    """A role guard that also admits, without a token, a request from this host (:func:`from_loopback`):
    a Prometheus beside the service scrapes ``/metrics`` without holding a token. A request with a
    token is checked as :class:`RoleGuard` checks it, wherever it comes from."""

    def __call__(  # type: ignore[override]
        self,
        request: Request,
        session: SessionDep,
        ctx: ContextDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        if credentials is None and not request.cookies.get(SESSION_COOKIE) and from_loopback(request):
            return None
        return super().__call__(request, session, ctx, credentials)


class PublicGuard:
    """Marks a route as open to everyone (declared, so the matrix test knows)."""

    roles: frozenset[Role] = frozenset()

    async def __call__(self) -> None:  # async: nothing to do, so no hop to the thread pool
        return None


AdminOnly = Annotated[Principal, Depends(RoleGuard(Role.admin))]
InstitutionOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.institution, Role.admin))]
InstitutionOnly = Annotated[Principal, Depends(RoleGuard(Role.institution))]
UploadingInstitution = Annotated[Principal, Depends(UploadGuard(Role.institution))]
PostingInstitution = Annotated[Principal, Depends(PooledGuard(Role.institution))]
"""The single posting's caller: checked again in the posting's own transaction (see :class:`PooledGuard`)."""
ReviewerOrAdmin = Annotated[Principal, Depends(RoleGuard(Role.reviewer, Role.admin))]
ReviewerOnly = Annotated[Principal, Depends(RoleGuard(Role.reviewer))]
LearnerOnly = Annotated[Principal, Depends(RoleGuard(Role.learner))]
LearnerOrInstitution = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.institution))]
AnyRole = Annotated[Principal, Depends(RoleGuard(*Role))]
LearnerInstitutionAdmin = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.institution, Role.admin))]
ArchiveReader = Annotated[
    Principal, Depends(RoleGuard(Role.learner, Role.institution, Role.admin, Role.auditor))
]
Public = Depends(PublicGuard())
MonitoringGuard = Depends(LocalOrRoleGuard(Role.admin, Role.auditor))
"""``/metrics``: an admin or auditor token (mint an auditor token for Prometheus), or this host."""

# the pages' guards (session cookie or bearer token)
PageLearner = Annotated[Principal, Depends(PageGuard(Role.learner))]
PageInstitution = Annotated[Principal, Depends(PageGuard(Role.institution))]
PageReviewer = Annotated[Principal, Depends(PageGuard(Role.reviewer))]
PageAccount = Annotated[Principal, Depends(AccountGuard(Role.learner))]
LearnerOrReviewer = Annotated[Principal, Depends(RoleGuard(Role.learner, Role.reviewer))]
PageLearnerOrReviewer = Annotated[Principal, Depends(PageGuard(Role.learner, Role.reviewer))]
InstitutionOrReviewer = Annotated[Principal, Depends(RoleGuard(Role.institution, Role.reviewer))]
