"""Who is looking at a page: the session cookie, the optional principal of public pages, CSRF tokens.

The ``cb_session`` cookie holds a signed random session id, never an API token; the session itself
is a row on the server (:mod:`creditbank.auth.sessions`): it expires, sign-out deletes it, and
revoking the token it was opened with ends it. Pages that anyone may open (the archive and the
console show a sign-in form to strangers) read the caller with :func:`optional_principal`, the same
way :class:`creditbank.auth.deps.PageGuard` does (a bearer token, else the session). Form posts go
to routes guarded by ``PageGuard``; when such a post is authenticated by the cookie (not by a bearer
token) it must carry the CSRF token of that cookie (:func:`check_csrf`), on top of SameSite=Lax.

Signing in is protected against login CSRF (a cross-site form signing the victim in as the
attacker): the sign-in form carries a token bound to a pre-session cookie (``cb_presession``, set
with the form), and ``/signin`` refuses a post whose token does not match that cookie.
"""

import hmac
import secrets

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from creditbank.auth import sessions
from creditbank.auth.deps import SESSION_COOKIE, session_principal
from creditbank.auth.service import Principal, authenticate
from creditbank.context import AppContext
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.errors import Forbidden
from creditbank.i18n import msg

CSRF_FIELD = "csrf"
PRESESSION_COOKIE = "cb_presession"
PRESESSION_MAX_AGE_SECONDS = 3600


class CsrfFailed(Forbidden):
    slug = "csrf-failed"
    title = "The form is stale or was not sent from this site; reload the page and try again"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def optional_principal(request: Request, session: Session, ctx: AppContext) -> Principal | None:
    """The caller of a public page: from a bearer token or the live session, or None."""
    token = _bearer(request)
    if token is not None:
        return authenticate(session, ctx.token_key, token, ctx.previous_token_key)
    return session_principal(request, session, ctx.token_key, ctx.secrets.session_secret)


def is_secure(ctx: AppContext) -> bool:
    return ctx.settings.base_url.startswith("https://")


def start_session(
    response: Response, session: Session, ctx: AppContext, token_id: str | None, account_id: str | None = None
) -> None:
    """Open a server-side session for the token (or the learner account) and put its signed id in an
    HttpOnly, SameSite=Lax cookie (Secure behind https); the pre-session cookie of the sign-in form is
    dropped."""
    cookie = sessions.start(session, ctx.token_key, ctx.secrets.session_secret, token_id, account_id)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=sessions.SESSION_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=is_secure(ctx),
        path="/",
    )
    response.delete_cookie(PRESESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_secure(ctx))


def end_session(request: Request, response: Response, session: Session, ctx: AppContext) -> None:
    """Delete the server-side session the cookie names (if any) and clear the cookie."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        sessions.end(session, ctx.token_key, ctx.secrets.session_secret, raw)
    clear_session(response, ctx)


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
        raise CsrfFailed(msg("detail.web.session.form_s_csrf_token"))


def _signin_token(ctx: AppContext, presession: str) -> str:
    return hmac_sha256(ctx.secrets.session_secret, b"creditbank/signin\n" + presession.encode()).hex()


def presession(request: Request) -> tuple[str, bool]:
    """The pre-session value of this browser and whether it is new (then the response must set it)."""
    current = request.cookies.get(PRESESSION_COOKIE, "")
    if 20 <= len(current) <= 100:
        return current, False
    return secrets.token_urlsafe(24), True


def signin_csrf(ctx: AppContext, value: str) -> str:
    """The token the sign-in form carries for this pre-session."""
    return _signin_token(ctx, value)


def set_presession(response: Response, ctx: AppContext, value: str) -> None:
    response.set_cookie(
        PRESESSION_COOKIE,
        value,
        max_age=PRESESSION_MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=is_secure(ctx),
        path="/",
    )


def check_signin_csrf(request: Request, ctx: AppContext, sent: object) -> None:
    """Refuse a sign-in not sent from this site's own sign-in form (login CSRF).

    Raises:
        CsrfFailed: no pre-session cookie, or the form's token does not match it.
    """
    current = request.cookies.get(PRESESSION_COOKIE, "")
    if not current or not isinstance(sent, str) or not hmac.compare_digest(_signin_token(ctx, current), sent):
        raise CsrfFailed(msg("detail.web.session.sign_form_stale_was"))
