"""The learner's own account: registering, signing in with a password, the account page (its
state, password change, personal API tokens), and verifying accounts at the counter (reviewers of
a sub-centre, institutions that hold the person's record). See :mod:`creditbank.auth.accounts`.

Registration and password sign-in are protected against login CSRF like the token sign-in: their
forms carry a token bound to the pre-session cookie."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from creditbank.auth import accounts, passkeys, sessions, throttle
from creditbank.auth.deps import SESSION_COOKIE, PageAccount, PageGuard, Public
from creditbank.auth.models import LearnerAccount, Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep, client_address
from creditbank.errors import CreditBankError, TooManyRequests
from creditbank.i18n import msg
from creditbank.institutions.districts import DISTRICTS
from creditbank.learners import accounts as verification
from creditbank.learners.service import mask_identity_number
from creditbank.web import pages
from creditbank.web.pages import CsrfField, FormCsrf, NextField, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import (
    check_signin_csrf,
    optional_principal,
    presession,
    set_presession,
    signin_csrf,
    start_session,
)

router = APIRouter(tags=["web pages"])

DONE = ("registered", "password", "revoked", "passkey", "passkey_deleted")
PageVerifier = Annotated[Principal, Depends(PageGuard(Role.reviewer, Role.institution))]
TextField = Annotated[str, Form(max_length=300)]
PasswordField = Annotated[str, Form(max_length=accounts.PASSWORD_MAX + 50)]


def _register_page(
    request: Request, ctx: AppContext, *, error: str | None = None, status_code: int = 200, **kept: str
) -> HTMLResponse:
    value, new = presession(request)
    response = render(
        request,
        ctx,
        None,
        "register.html",
        status=status_code,
        active="archive",
        error=error,
        signin_csrf=signin_csrf(ctx, value),
        kept=kept,
        districts=DISTRICTS,
    )
    if new:
        set_presession(response, ctx, value)
    return response


@router.get("/register", response_class=HTMLResponse, dependencies=[Public], summary="Open a learner account")
def register_form(request: Request, ctx: ContextDep) -> Response:
    """The registration form (zh-CN first, with English)."""
    return _register_page(request, ctx)


@router.post("/register", response_class=HTMLResponse, dependencies=[Public])
def register(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    name: TextField = "",
    identity_number: TextField = "",
    contact: TextField = "",
    district: Annotated[str, Form(max_length=60)] = "",
    password: PasswordField = "",
    password_again: PasswordField = "",
    csrf: CsrfField = "",
) -> Response:
    """Open an unverified account and sign in to it. Whatever identity number is typed, nothing of
    any learner is looked at, shown or attached."""
    t = translator(request)
    kept = {"name": name, "identity_number": identity_number, "contact": contact, "district": district}
    try:
        check_signin_csrf(request, ctx, csrf)
    except CreditBankError as exc:
        return _register_page(request, ctx, error=exc.detail_in(t.lang), status_code=422, **kept)
    client = client_address(request, ctx.settings.trusted_proxies)
    limit = registration_limit(ctx)
    try:
        throttle.admit(session, ctx.login_key, client, limit)
    except throttle.TooManyRegistrations as exc:
        if not pages.wants_page(request):
            raise
        page = _register_page(request, ctx, error=exc.detail_in(t.lang), status_code=429, **kept)
        return too_many(page, exc)
    throttle.record(session, ctx.login_key, client, limit)
    if password != password_again:
        return _register_page(request, ctx, error=t("register.mismatch"), status_code=422, **kept)
    done = pages.attempt(
        session,
        lambda: accounts.register(
            session,
            login_key=ctx.login_key,
            master_key=ctx.secrets.master_key,
            name=name,
            identity_number=identity_number,
            contact=contact,
            password=password,
            district=district,
        ),
    )
    if isinstance(done, CreditBankError):
        problem = done.to_problem(lang=t.lang)
        return _register_page(request, ctx, error=problem["title"], status_code=done.status, **kept)
    response = pages.redirect("/account?done=registered")
    start_session(response, session, ctx, None, done.id)
    return finish(response, request)


def signin_limit(ctx: AppContext) -> throttle.Limit:
    settings = ctx.settings
    return throttle.Limit(
        throttle.SIGNIN, settings.signin_failures_per_address, settings.signin_address_window_seconds
    )


def registration_limit(ctx: AppContext) -> throttle.Limit:
    settings = ctx.settings
    return throttle.Limit(
        throttle.REGISTER, settings.registrations_per_address, settings.registration_address_window_seconds
    )


def too_many(page: HTMLResponse, exc: TooManyRequests) -> HTMLResponse:
    page.headers["Retry-After"] = str(exc.retry_after)
    return page


@router.post("/signin/password", response_class=HTMLResponse, dependencies=[Public])
def sign_in_with_password(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    contact: TextField = "",
    password: PasswordField = "",
    next_page: NextField = "",
    csrf: CsrfField = "",
) -> Response:
    """Sign in to a learner account with its phone number or e-mail address and password. Wrong
    passwords are counted (and committed) and lock the account for a while."""
    t = translator(request)
    target = pages.safe_next(next_page) or "/archive"

    def again(error: str, status_code: int) -> HTMLResponse:
        """The password form again, with the error, keeping where to go after signing in."""
        return pages.signin_page(
            request, ctx, None, target="/archive", back_to=target, error=error, status_code=status_code
        )

    try:
        check_signin_csrf(request, ctx, csrf)
    except CreditBankError as exc:
        return again(exc.detail_in(t.lang), 422)
    client = client_address(request, ctx.settings.trusted_proxies)
    limit = signin_limit(ctx)
    try:
        throttle.admit(session, ctx.login_key, client, limit)
    except throttle.TooManySignins as exc:
        if not pages.wants_page(request):
            raise
        return too_many(again(exc.detail_in(t.lang), 429), exc)
    try:
        account = accounts.sign_in(
            session,
            login_key=ctx.login_key,
            previous_login_key=ctx.previous_login_key,
            contact=contact,
            password=password,
            attempts=ctx.settings.signin_attempts,
            lockout_seconds=ctx.settings.signin_lockout_seconds,
        )
    except accounts.AccountLocked as exc:  # the counters are written: return, so the request commits
        throttle.record(session, ctx.login_key, client, limit)
        error = t("account.locked", minutes=exc.extensions["minutes"])
        response = again(error, 429)
        response.headers["Retry-After"] = str(exc.extensions["retry_after"])
        return response
    except accounts.SigninFailed as exc:
        throttle.record(session, ctx.login_key, client, limit)
        remaining = exc.extensions.get("remaining")
        error = t("account.signin_failed") + (
            " " + t("account.attempts_left", count=remaining) if remaining is not None else ""
        )
        return again(error, 422)
    landing = pages.redirect(pages.landing(target, Role.learner) if account.learner_id else "/account")
    start_session(landing, session, ctx, None, account.id)
    return finish(landing, request)


def _account_of(session: PageSession, who: Principal) -> LearnerAccount:
    """The account of the signed-in learner (a learner's API token finds the account verified for
    them). Raises: AccountNotFound."""
    if who.account_id is not None:
        return accounts.get(session, who.account_id)
    found = accounts.of_learner(session, who.subject or "")
    if found is None:
        raise accounts.AccountNotFound(msg("detail.auth.accounts.token_has_no_account"))
    return found


def _account_page(
    request: Request,
    session: PageSession,
    ctx: AppContext,
    who: Principal,
    *,
    done: str | None = None,
    error: str | None = None,
    new_token: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    account = pages.attempt(session, lambda: _account_of(session, who))
    if isinstance(account, CreditBankError):
        return pages.error_page(request, ctx, who, account, back="/")
    data = accounts.submitted(account, ctx.secrets.master_key)
    personal = accounts.personal_tokens(session, account.learner_id) if account.learner_id else []
    return render(
        request,
        ctx,
        who,
        "account.html",
        status=status_code,
        active="archive",
        account=account,
        name=data.name if data else "",
        masked=mask_identity_number(data.identity_number) if data else "",
        contact=data.contact if data else "",
        tokens=personal,
        passkeys=passkeys.of_account(session, account.id),
        done=done,
        error=error,
        new_token=new_token,
    )


@router.get("/account", response_class=HTMLResponse, dependencies=[Public], summary="My account")
def account_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    done: Annotated[str | None, Query(max_length=20, description="a finished action to confirm")] = None,
) -> Response:
    """The signed-in learner's account: whether it is verified (and by whom, when), what they
    submitted, the code to show for verification, password change and personal API tokens. Before
    verification this is all the person sees."""
    who = optional_principal(request, session, ctx)
    if who is None or who.role is not Role.learner:
        return pages.signin_page(request, ctx, who, target="/archive")
    return _account_page(request, session, ctx, who, done=done if done in DONE else None)


@router.post("/account/password", response_class=HTMLResponse, dependencies=[FormCsrf])
def change_password(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageAccount,
    current: PasswordField = "",
    new: PasswordField = "",
    new_again: PasswordField = "",
) -> Response:
    """Change the password (the current one is asked again); the account's other sessions end."""
    t = translator(request)
    if new != new_again:
        return _account_page(request, session, ctx, who, error=t("register.mismatch"), status_code=422)

    def work() -> LearnerAccount:
        account = accounts.change_password(session, _account_of(session, who).id, current, new)
        raw = request.cookies.get(SESSION_COOKIE, "")
        keep = sessions.session_hash(ctx.token_key, ctx.secrets.session_secret, raw) if raw else None
        sessions.end_for_account(session, account.id, keep=keep)
        return account

    done = pages.attempt(session, work)
    if isinstance(done, CreditBankError):
        title = done.to_problem(lang=t.lang)["title"]
        return _account_page(request, session, ctx, who, error=title, status_code=done.status)
    return finish(pages.redirect("/account?done=password"), request)


@router.post("/account/tokens", response_class=HTMLResponse, dependencies=[FormCsrf])
def create_personal_token(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageAccount,
    label: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Mint a personal API token for the learner's own data (verified accounts); shown once."""
    done = pages.attempt(
        session,
        lambda: accounts.create_personal_token(session, ctx.token_key, _account_of(session, who), label),
    )
    if isinstance(done, CreditBankError):
        return pages.error_page(request, ctx, who, done, back="/account")
    return _account_page(request, session, ctx, who, new_token=done)


@router.post("/account/tokens/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def revoke_personal_token(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageAccount,
    token_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Revoke one of the learner's own tokens."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: accounts.revoke_personal_token(session, _account_of(session, who), token_id.strip()),
        back="/account",
        then=lambda _: "/account?done=revoked",
    )


# -- verifying accounts at the counter ---------------------------------------------------------------


@router.get("/console/accounts", response_class=HTMLResponse, summary="Verify a learner account")
def verify_form(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageVerifier,
    code: Annotated[str, Query(max_length=40, description="the account code the person shows")] = "",
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Find an account by the code the person shows. A reviewer sees what the person submitted, to
    compare with their documents; an institution sees only the state (it matches the record it holds)."""
    found: LearnerAccount | CreditBankError | None = None
    data = None
    refused = None
    if code.strip():
        found = pages.attempt(session, lambda: accounts.get(session, code.strip()))
        if isinstance(found, LearnerAccount) and who.role is Role.reviewer:
            opened = pages.attempt(
                session,
                lambda: verification.for_reviewer(
                    session, ctx.secrets.master_key, code.strip(), who.subject or ""
                ),
            )
            if isinstance(opened, CreditBankError):
                refused = opened.detail_in(translator(request).lang)
            else:
                data = opened[1]
    return render(
        request,
        ctx,
        who,
        "verify_account.html",
        active="console",
        code=code.strip(),
        found=found if isinstance(found, LearnerAccount) else None,
        missing=isinstance(found, CreditBankError),
        data=data,
        refused=refused,
        done=done,
    )


@router.post("/console/accounts/verify", response_class=HTMLResponse, dependencies=[FormCsrf])
def verify_account(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageVerifier,
    account_id: Annotated[str, Form(max_length=40)] = "",
    documents: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Verify the account (a reviewer names the documents seen; an institution links its learner)."""
    code = account_id.strip()

    def work() -> LearnerAccount:
        if who.role is Role.institution:
            return verification.verify_by_institution(
                session,
                identity_key=ctx.identity_key,
                master_key=ctx.secrets.master_key,
                account_id=code,
                institution_id=who.subject or "",
            )
        return verification.verify_at_subcentre(
            session,
            identity_key=ctx.identity_key,
            master_key=ctx.secrets.master_key,
            account_id=code,
            reviewer_id=who.subject or "",
            documents=documents,
        )

    return pages.submit(
        request,
        ctx,
        who,
        session,
        work,
        back=f"/console/accounts?code={code}",
        then=lambda a: f"/console/accounts?code={a.id}&done=verified",
    )
