"""What the pages share: the request transaction, form answers, messages and error pages.

The routes are by audience: :mod:`.signin_endpoints`, :mod:`.archive_endpoints` (the learner's
archive and share links), :mod:`.download_endpoints` (certificates, transcript, export),
:mod:`.verify_endpoints` (the verification page) and :mod:`.console_endpoints` (the institution
console and the review desk). Endpoint modules do not import each other; what they share is here.

Who may call what (every route declares it, and the authorisation-matrix test checks it):

* Pages anyone may open are ``Public``: ``/``, ``/archive`` and ``/console`` show a sign-in form
  to a stranger and the page itself only to the role it is for; ``/verify`` and ``/share/...``
  are for everyone. They read the caller themselves (:func:`creditbank.web.session.optional_principal`).
* Everything that reads a learner's files or changes anything is guarded by the page guards
  (``PageLearner``, ``PageInstitution``, ``PageReviewer``: the server-side session or a bearer
  token), and a form post authenticated by the session cookie must carry the cookie's CSRF token.
  The session cookie admits pages only, never the ``/api/v1`` routes.

Handlers parse the request, call the domains' services, and render; a service's error on a form
is shown on the page, and everything the failed call wrote is rolled back (a savepoint).
"""

from collections.abc import Callable
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Form, Header, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from creditbank.auth.deps import SESSION_COOKIE
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep, get_session
from creditbank.errors import CreditBankError
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import (
    check_csrf,
    presession,
    set_presession,
    signin_csrf,
)

T = TypeVar("T")
PAGE_TAG = "web pages"
"""The tag of every route of the pages (their routers'): their errors may be pages."""

CsrfField = Annotated[str, Form(description="the page's CSRF token (for cookie sessions)")]
CsrfHeader = Annotated[str, Header(alias="X-CSRF-Token", max_length=100, description="the page's CSRF token")]
NextField = Annotated[
    str, Form(alias="next", description="where to go after signing in (a path of this site)")
]
PageSession = Annotated[Session, Depends(get_session, scope="function")]
"""The request's transaction, committed when the handler returns and BEFORE the response is sent.

The shared ``SessionDep`` ends after the response is sent (FastAPI's default ``"request"`` scope for
dependencies with ``yield``): a browser following a page's redirect could then read the state from
before the write, and a failed commit would follow a page that already said "done". The role
guards still read the token through their own ``SessionDep`` (read-only)."""


async def form_csrf(request: Request, ctx: ContextDep, csrf: CsrfField = "") -> None:
    """The check of every page form: a post that carries the session cookie must carry that cookie's
    CSRF token in its ``csrf`` field (:func:`creditbank.web.session.check_csrf`; a bearer token needs
    none). A post without the cookie authenticates nothing by it: the route's guard refuses it, or
    the route is one anyone may call.

    Raises:
        CsrfFailed: the cookie is there and the token is missing or wrong (403, before the route
            reads or writes anything).
    """
    if request.cookies.get(SESSION_COOKIE):
        check_csrf(request, ctx, csrf)


async def header_csrf(request: Request, ctx: ContextDep, csrf: CsrfHeader = "") -> None:
    """:func:`form_csrf` for the pages' JSON posts (the passkeys'): the token in ``X-CSRF-Token``."""
    if request.cookies.get(SESSION_COOKIE):
        check_csrf(request, ctx, csrf)


FormCsrf = Depends(form_csrf)
"""In a form route's ``dependencies``: the route refuses a cross-site post (:func:`form_csrf`)."""
HeaderCsrf = Depends(header_csrf)


def attempt(session: Session, work: Callable[[], T]) -> T | CreditBankError:
    """Run a service call in a savepoint: its result, or its domain error with its writes undone."""
    try:
        with session.begin_nested():
            return work()
    except CreditBankError as exc:
        return exc


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def message(
    request: Request,
    ctx: AppContext,
    who: Principal | None,
    *,
    title: str,
    text: str,
    status_code: int = 200,
    back: str = "/",
    link: str | None = None,
) -> HTMLResponse:
    return render(
        request, ctx, who, "message.html", status=status_code, title=title, text=text, back=back, link=link
    )


MIN_REASON = 2
"""The characters a form's reason (a revocation's, a refusal's) has at the least."""


def without_reason(
    request: Request, ctx: AppContext, who: Principal, reason: str, *, title: str, field: str, back: str
) -> HTMLResponse | None:
    """The page (422) refusing a form whose reason is missing: ``field`` (the reason's label) is
    required; None when the reason is there."""
    if len(reason.strip()) >= MIN_REASON:
        return None
    t = translator(request)
    text = f"{field}{t('common.colon')}{t('err.missing')}"
    return message(request, ctx, who, title=title, text=text, status_code=422, back=back)


def said(request: Request, exc: CreditBankError) -> str:
    """A domain error as one line for a form, in the reader's language: its title, and its detail
    when that says more."""
    t = translator(request)
    problem = exc.to_problem(lang=t.lang)
    title, detail = str(problem["title"]), str(problem["detail"])
    return f"{title}{t('common.colon')}{detail}" if detail != title else title


def error_page(
    request: Request, ctx: AppContext, who: Principal | None, exc: CreditBankError, back: str
) -> HTMLResponse:
    # the problem's title and (default) detail in the reader's language
    problem = exc.to_problem(lang=translator(request).lang)
    return message(
        request, ctx, who, title=problem["title"], text=problem["detail"], status_code=exc.status, back=back
    )


def wants_page(request: Request) -> bool:
    """Whether the caller is a browser (asks for HTML): it gets a page with the reason; anything
    else gets the problem (application/problem+json)."""
    return "text/html" in request.headers.get("accept", "")


def refusal_page(request: Request, exc: CreditBankError) -> HTMLResponse | None:
    """A domain error raised on a route of the pages (a download, an evidence file, a form's guard),
    as the page a browser shows, in the reader's language, with the error's status; None for the
    API's routes and for callers that do not ask for HTML, which keep the problem+json."""
    route = request.scope.get("route")
    if not wants_page(request) or PAGE_TAG not in (getattr(route, "tags", None) or ()):
        return None
    who: Principal | None = getattr(request.state, "principal", None)
    ctx: AppContext = request.app.state.ctx
    return error_page(request, ctx, who, exc, back=HOME[who.role] if who else "/")


def answer(
    request: Request,
    ctx: AppContext,
    who: Principal,
    done: T | CreditBankError,
    *,
    back: str,
    then: Callable[[T], str],
) -> Response:
    """The answer to a form's service call (see :func:`attempt`): its domain error, with a link
    ``back``, or a redirect (303) to ``then(result)``."""
    if isinstance(done, CreditBankError):
        return error_page(request, ctx, who, done, back)
    return finish(redirect(then(done)), request)


def submit(
    request: Request,
    ctx: AppContext,
    who: Principal,
    session: Session,
    work: Callable[[], T],
    *,
    back: str,
    then: Callable[[T], str],
) -> Response:
    """A form's service call, run by :func:`attempt` and answered by :func:`answer`."""
    return answer(request, ctx, who, attempt(session, work), back=back, then=then)


# -- the sign-in page ----------------------------------------------------------------------------------

HOME = {
    Role.learner: "/archive",
    Role.institution: "/console",
    Role.reviewer: "/console",
    Role.admin: "/console",
    Role.auditor: "/verify",
}
_OPERATORS = (Role.institution, Role.reviewer, Role.admin)
_PAGES_OF: dict[str, tuple[Role, ...]] = {
    "/archive": (Role.learner,),
    "/account": (Role.learner,),
    "/appeals": (Role.learner,),
    "/applications": (Role.learner,),
    "/inbox": (Role.learner,),
    "/progress": (Role.learner,),
    "/console": _OPERATORS,
    "/console/admin": (Role.admin,),
    "/console/appeals": (Role.reviewer,),
    "/console/equivalences": (Role.institution,),
    "/console/outcomes": (Role.institution,),
    "/console/programmes": (Role.institution,),
    "/statistics": _OPERATORS,
    "/verify": tuple(Role),
}
"""Which roles work on which pages (a page and the pages below it, the longest match counts); a
sign-in whose page is not one of the role's goes home."""
_MAX_NEXT = 2000


def safe_next(value: str) -> str | None:
    """``value`` when it is a path of this site (``/statistics``, ``/appeals/new?outcome_id=…``),
    else None: a sign-in form's ``next`` is sent back by the browser, and an attacker's link or form
    may put another site in it (``https://evil/``, ``//evil``, ``/\\evil``, which browsers read as a
    host too)."""
    if not value.startswith("/") or value.startswith("//") or len(value) > _MAX_NEXT:
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def _roles_of(path: str) -> tuple[Role, ...]:
    found = [p for p in _PAGES_OF if path == p or path.startswith(p + "/")]
    return _PAGES_OF[max(found, key=len)] if found else ()


def landing(target: str, role: Role) -> str:
    """Where a sign-in lands: the page it came from (a :func:`safe_next` path) when the role works
    there, else the role's own page (institutions and reviewers the console, auditors the verify
    page, learners the archive)."""
    safe = safe_next(target)
    return safe if safe is not None and role in _roles_of(urlsplit(safe).path) else HOME[role]


def audience(path: str) -> str:
    """How the sign-in form for a page is worded: for the operators (``/console``), on the home page
    (``/``), or for the learners (``/archive``)."""
    if path == "/":
        return "/"
    roles = _roles_of(urlsplit(path).path)
    return "/console" if roles and Role.learner not in roles else "/archive"


def _here(request: Request) -> str:
    """The page a sign-in form is shown on, to return to: its path and query."""
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def signin_page(
    request: Request,
    ctx: AppContext,
    who: Principal | None,
    *,
    target: str,
    back_to: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form, worded for ``target``'s audience (``/console``: the operators; ``/``: the
    home page; else the learners). It returns to ``back_to`` (a :func:`safe_next` path), by default
    the page it is shown on when that is a page (a GET), else ``target``."""
    default = _here(request) if request.method in ("GET", "HEAD") else target
    value, new = presession(request)
    response = render(
        request,
        ctx,
        who,
        "signin.html",
        status=status_code,
        active="console" if target == "/console" else "archive",
        target=target,
        next_page=safe_next(back_to or default) or target,
        error=error,
        notice=notice,
        signin_csrf=signin_csrf(ctx, value),
    )
    if new:
        set_presession(response, ctx, value)
    return response
