"""Passkeys in the browser (see :mod:`creditbank.auth.passkeys`): the account page registers, lists
and deletes them; the sign-in page signs in with one.

The ceremonies are JSON posts made by ``/static/passkeys.js`` with the page's CSRF token in the
``X-CSRF-Token`` header: the account's session token on the account page, the sign-in form's
pre-session token on the sign-in page (against login CSRF). A refused finish is answered as a problem
and the request still commits, so the challenge it took stays used."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from creditbank.auth import accounts, passkeys, sessions
from creditbank.auth.deps import SESSION_COOKIE, PageAccount, Public
from creditbank.auth.models import LearnerAccount, Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.deps import ContextDep
from creditbank.errors import PROBLEM_MEDIA_TYPE, CreditBankError
from creditbank.i18n import msg
from creditbank.web import pages
from creditbank.web.pages import CsrfHeader, FormCsrf, HeaderCsrf, PageSession
from creditbank.web.rendering import finish, translator
from creditbank.web.session import PRESESSION_COOKIE, check_signin_csrf, start_session

router = APIRouter(tags=["web pages"])


class PasskeyRegistration(BaseModel):
    credential: dict[str, Any] = Field(description="the answer of navigator.credentials.create(), as JSON")
    label: str = Field("", max_length=passkeys.LABEL_MAX, description="the person's name for the passkey")


class PasskeyAssertion(BaseModel):
    credential: dict[str, Any] = Field(description="the answer of navigator.credentials.get(), as JSON")
    next: str = Field("", max_length=2000, description="where to go after signing in (a path of this site)")


def _binding(ctx: AppContext, purpose: str, value: str) -> str:
    return hmac_sha256(ctx.token_key, f"creditbank/passkey/{purpose}\n{value}".encode()).hex()


def _caller_binding(request: Request, ctx: AppContext) -> str:
    """The signed-in browser (its session), or the bearer token of a script: whoever asked for the
    challenge must be who answers it."""
    raw = request.cookies.get(SESSION_COOKIE, "")
    stored = sessions.session_hash(ctx.token_key, ctx.secrets.session_secret, raw) if raw else None
    if stored is not None:
        return _binding(ctx, "session", stored)
    return _binding(ctx, "bearer", request.headers.get("authorization", ""))


def _problem(request: Request, exc: CreditBankError, status: int | None = None) -> JSONResponse:
    """A refusal answered without raising, so the request's writes (the used challenge) commit.
    A stale sign-in form is a 422, as on the other sign-in forms."""
    lang = translator(request).lang
    body = exc.to_problem(instance=request.url.path, lang=lang)
    body["status"] = status or exc.status
    return JSONResponse(body, status_code=status or exc.status, media_type=PROBLEM_MEDIA_TYPE)


def _account(session: PageSession, who: Principal) -> LearnerAccount:
    if who.account_id is not None:
        return accounts.get(session, who.account_id)
    found = accounts.of_learner(session, who.subject or "")
    if found is None:
        raise accounts.AccountNotFound(msg("detail.auth.accounts.token_has_no_account"))
    return found


@router.post("/account/passkeys/options", summary="Start registering a passkey", dependencies=[HeaderCsrf])
def passkey_registration_options(
    request: Request, session: PageSession, ctx: ContextDep, who: PageAccount
) -> dict[str, Any]:
    """The options for ``navigator.credentials.create()``: a fresh challenge, kept on the server for
    five minutes and bound to this signed-in browser."""
    rp = passkeys.RelyingParty.of(ctx.settings)
    return passkeys.registration_options(session, rp, _account(session, who), _caller_binding(request, ctx))


@router.post("/account/passkeys", status_code=201, summary="Register a passkey", dependencies=[HeaderCsrf])
def register_passkey(
    request: Request,
    body: PasskeyRegistration,
    session: PageSession,
    ctx: ContextDep,
    who: PageAccount,
) -> Any:
    """Store the passkey the authenticator made for this browser's waiting challenge (used once)."""
    rp = passkeys.RelyingParty.of(ctx.settings)
    account = _account(session, who)
    try:
        with session.begin_nested():
            made = passkeys.register(
                session, rp, account, _caller_binding(request, ctx), body.credential, body.label
            )
    except CreditBankError as exc:
        passkeys.drop_challenge(session, _caller_binding(request, ctx), passkeys.REGISTER)
        return _problem(request, exc)
    return {"id": made.id, "label": made.label, "created_at": made.created_at.isoformat()}


@router.post("/account/passkeys/delete", response_class=HTMLResponse, dependencies=[FormCsrf])
def delete_passkey(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageAccount,
    passkey_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Delete one of the account's own passkeys."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: passkeys.remove(session, _account(session, who).id, passkey_id.strip()),
        back="/account",
        then=lambda _: "/account?done=passkey_deleted",
    )


@router.post("/signin/passkey/options", dependencies=[Public], summary="Start signing in with a passkey")
def passkey_signin_options(
    request: Request, session: PageSession, ctx: ContextDep, csrf: CsrfHeader = ""
) -> Any:
    """The options for ``navigator.credentials.get()``: a fresh challenge bound to this browser's
    sign-in form (its pre-session cookie), kept on the server for five minutes."""
    try:
        check_signin_csrf(request, ctx, csrf)
    except CreditBankError as exc:
        return _problem(request, exc, 422)
    binding = _binding(ctx, "presession", request.cookies.get(PRESESSION_COOKIE, ""))
    return passkeys.signin_options(session, passkeys.RelyingParty.of(ctx.settings), binding)


@router.post("/signin/passkey", dependencies=[Public], summary="Sign in with a passkey")
def sign_in_with_passkey(
    request: Request, body: PasskeyAssertion, session: PageSession, ctx: ContextDep, csrf: CsrfHeader = ""
) -> Any:
    """Check the passkey's answer to this browser's waiting challenge (used once, whatever the
    outcome) and open a session for its account; answers where to go next."""
    try:
        check_signin_csrf(request, ctx, csrf)
    except CreditBankError as exc:
        return _problem(request, exc, 422)
    binding = _binding(ctx, "presession", request.cookies.get(PRESESSION_COOKIE, ""))
    try:
        with session.begin_nested():
            account = passkeys.sign_in(
                session, passkeys.RelyingParty.of(ctx.settings), binding, body.credential
            )
    except CreditBankError as exc:
        passkeys.drop_challenge(session, binding, passkeys.SIGNIN)
        return _problem(request, exc)
    # a verified account goes back to the page that asked for the sign-in (pages.landing)
    location = pages.landing(body.next, Role.learner) if account.learner_id else "/account"
    response = JSONResponse({"location": location})
    start_session(response, session, ctx, None, account.id)
    return finish(response, request)
