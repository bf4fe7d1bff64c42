"""Signing in and out of the pages (server-side sessions; see :mod:`creditbank.web.pages`)."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from creditbank.auth.deps import Public
from creditbank.auth.service import authenticate
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.web import pages
from creditbank.web.pages import CsrfField, FormCsrf, NextField, PageSession
from creditbank.web.rendering import finish, translator
from creditbank.web.session import (
    check_signin_csrf,
    end_session,
    start_session,
)

router = APIRouter(tags=["web pages"])


@router.post("/signin", response_class=HTMLResponse, dependencies=[Public])
def sign_in(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    token: Annotated[str, Form(description="an API token (cbt_...)")] = "",
    next_page: NextField = "",
    csrf: CsrfField = "",
) -> Response:
    """Sign in with an API token from this site's sign-in form (its token must match the form's
    pre-session cookie): the token is checked and a server-side session is opened; the cookie
    carries only the session's random id."""
    t = translator(request)
    target = pages.safe_next(next_page) or "/"
    shown = pages.audience(target)
    try:
        check_signin_csrf(request, ctx, csrf)
    except CreditBankError as exc:  # like the form's other problems: the page again, with the reason
        return pages.signin_page(
            request, ctx, None, target=shown, back_to=target, error=exc.detail_in(t.lang), status_code=422
        )
    token = token.strip()
    if not token:
        return pages.signin_page(
            request, ctx, None, target=shown, back_to=target, error=t("signin.missing"), status_code=422
        )
    principal = authenticate(session, ctx.token_key, token, ctx.previous_token_key)
    if principal is None:
        return pages.signin_page(
            request, ctx, None, target=shown, back_to=target, error=t("signin.invalid"), status_code=422
        )
    response = pages.redirect(pages.landing(target, principal.role))
    start_session(response, session, ctx, principal.token_id or "")
    return finish(response, request)


@router.post("/signout", response_class=HTMLResponse, dependencies=[Public, FormCsrf])
def sign_out(request: Request, session: PageSession, ctx: ContextDep) -> Response:
    """End the session: its server-side row is deleted and the cookie cleared (a signed-in form must
    carry its CSRF token)."""
    response = pages.redirect("/?signed_out=1")
    end_session(request, response, session, ctx)
    return finish(response, request)
