"""Who is looking at a page: the session cookie, the optional principal of public pages, CSRF tokens.

Pages that anyone may open (the archive and the console show a sign-in form to strangers) read the
caller with :func:`optional_principal`, the same way :class:`creditbank.auth.deps.RoleGuard` does
(a bearer token, else the signed ``cb_session`` cookie). Form posts go to routes guarded by
``RoleGuard``; when such a post is authenticated by the cookie (not by a bearer token) it must
carry the CSRF token of that cookie (:func:`check_csrf`), on top of the cookie's SameSite=Lax.
"""

import hmac

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from creditbank.auth.cookies import SESSION_MAX_AGE_SECONDS, make_session_cookie, read_session_cookie
from creditbank.auth.deps import SESSION_COOKIE
from creditbank.auth.service import Principal, authenticate
from creditbank.context import AppContext
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.errors import Forbidden

CSRF_FIELD = "csrf"


class CsrfFailed(Forbidden):
    slug = "csrf-failed"
    title = "The form is stale or was not sent from this site; reload the page and try again"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def optional_principal(request: Request, session: Session, ctx: AppContext) -> Principal | None:
    """The caller of a public page: from a bearer token or the session cookie, or None."""
    token = _bearer(request)
    if token is None:
        raw = request.cookies.get(SESSION_COOKIE)
        token = read_session_cookie(ctx.secrets.session_secret, raw) if raw else None
    if not token:
        return None
    return authenticate(session, ctx.token_key, token)


def is_secure(ctx: AppContext) -> bool:
    return ctx.settings.base_url.startswith("https://")


def set_session(response: Response, ctx: AppContext, token: str) -> None:
    """Put the signed token in an HttpOnly, SameSite=Lax cookie (Secure behind https)."""
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(ctx.secrets.session_secret, token),
        max_age=SESSION_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=is_secure(ctx),
        path="/",
    )


def clear_session(response: Response, ctx: AppContext) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(ctx))


def csrf_token(request: Request, ctx: AppContext) -> str:
    """The CSRF token of the current session cookie (empty without one)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return ""
    return hmac_sha256(ctx.secrets.session_secret, b"creditbank/csrf\n" + raw.encode()).hex()


def check_csrf(request: Request, ctx: AppContext, sent: object) -> None:
    """Refuse a cookie-authenticated form post without the cookie's CSRF token.

    Raises:
        CsrfFailed: the post relies on the cookie and its ``csrf`` field is missing or wrong.
    """
    if _bearer(request) is not None:
        return
    expected = csrf_token(request, ctx)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise CsrfFailed("the form's CSRF token is missing or does not match your session")
