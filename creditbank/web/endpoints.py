"""The pages: the learner's archive, share links, the auditor's verification page, the console.

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

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from sqlmodel import Session
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from creditbank import jsontext
from creditbank.archive import service as archive
from creditbank.auth.deps import SESSION_COOKIE, PageInstitution, PageLearner, PageReviewer, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal, authenticate
from creditbank.catalog import consent as consents
from creditbank.catalog import exchange, planning
from creditbank.catalog import service as catalog
from creditbank.catalog.schemas import preview_of
from creditbank.context import AppContext
from creditbank.credentials import issuance
from creditbank.credentials import service as certificates
from creditbank.deps import ContextDep, get_session
from creditbank.errors import CreditBankError, NotFound
from creditbank.institutions import service as institutions
from creditbank.learners import access
from creditbank.learners import service as learners
from creditbank.limits import UPLOAD, VERIFY, Heavy, body_limit
from creditbank.outcomes import corrections, pipeline, review
from creditbank.outcomes import service as outcomes
from creditbank.web import forms, pdf, sheets, views
from creditbank.web.charts import credits_by_category, credits_over_time
from creditbank.web.i18n import Translator
from creditbank.web.rendering import finish, render, render_stream, translator
from creditbank.web.session import (
    check_csrf,
    check_signin_csrf,
    clear_session,
    end_session,
    is_secure,
    optional_principal,
    presession,
    set_presession,
    signin_csrf,
    start_session,
)
from creditbank.web.share import SHARE_DAYS, make_share_token, read_share_token


class ShareLinkInvalid(NotFound):
    slug = "share-link-invalid"
    title = "Share link not valid"


router = APIRouter(tags=["web pages"])

SEEN_COOKIE = "cb_seen"
MAX_CERTIFICATE_BYTES = 2 * 1024 * 1024
DONE_MESSAGES = (
    "certificate",
    "transfer",
    "correction",
    "consent",
    "consent_revoked",
    "grant",
    "grant_revoked",
    "share_revoked",
)
T = TypeVar("T")

CsrfField = Annotated[str, Form(description="the page's CSRF token (for cookie sessions)")]
PageSession = Annotated[Session, Depends(get_session, scope="function")]
"""The request's transaction, committed when the handler returns and BEFORE the response is sent.

The shared ``SessionDep`` ends after the response is sent (FastAPI's default ``"request"`` scope for
dependencies with ``yield``): a browser following a page's redirect could then read the state from
before the write, and a failed commit would follow a page that already said "done". The role
guards still read the token through their own ``SessionDep`` (read-only)."""


def _attempt(session: Session, work: Callable[[], T]) -> T | CreditBankError:
    """Run a service call in a savepoint: its result, or its domain error with its writes undone."""
    try:
        with session.begin_nested():
            return work()
    except CreditBankError as exc:
        return exc


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


def _message(
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


def _error_page(
    request: Request, ctx: AppContext, who: Principal | None, exc: CreditBankError, back: str
) -> HTMLResponse:
    # the problem's title and (default) detail in the reader's language
    problem = exc.to_problem(lang=translator(request).lang)
    return _message(
        request, ctx, who, title=problem["title"], text=problem["detail"], status_code=exc.status, back=back
    )


def _answer(
    request: Request,
    ctx: AppContext,
    who: Principal,
    done: T | CreditBankError,
    *,
    back: str,
    then: Callable[[T], str],
) -> Response:
    """The answer to a form's service call (see :func:`_attempt`): its domain error, with a link
    ``back``, or a redirect (303) to ``then(result)``."""
    if isinstance(done, CreditBankError):
        return _error_page(request, ctx, who, done, back)
    return finish(_redirect(then(done)), request)


def _submit(
    request: Request,
    ctx: AppContext,
    who: Principal,
    session: Session,
    work: Callable[[], T],
    *,
    back: str,
    then: Callable[[T], str],
) -> Response:
    """A form's service call, run by :func:`_attempt` and answered by :func:`_answer`."""
    return _answer(request, ctx, who, _attempt(session, work), back=back, then=then)


# -- sign in and out ----------------------------------------------------------------------------------

_HOME = {
    Role.learner: "/archive",
    Role.institution: "/console",
    Role.reviewer: "/console",
    Role.admin: "/console",
    Role.auditor: "/verify",
}
_NEXT = ("/", "/archive", "/console", "/verify")
_PAGES_OF: dict[str, tuple[Role, ...]] = {
    "/archive": (Role.learner,),
    "/console": (Role.institution, Role.reviewer, Role.admin),
    "/verify": tuple(Role),
}
"""Which roles work on which page; a sign-in whose page is not one of the role's goes home."""


def _landing(target: str, role: Role) -> str:
    """Where a sign-in lands: the page it came from when the role works there, else the role's
    own page (institutions and reviewers the console, auditors the verify page, learners the archive)."""
    return target if role in _PAGES_OF.get(target, ()) else _HOME[role]


def _signin_page(
    request: Request,
    ctx: AppContext,
    who: Principal | None,
    *,
    target: str,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    value, new = presession(request)
    response = render(
        request,
        ctx,
        who,
        "signin.html",
        status=status_code,
        active="console" if target == "/console" else "archive",
        target=target,
        error=error,
        notice=notice,
        signin_csrf=signin_csrf(ctx, value),
    )
    if new:
        set_presession(response, ctx, value)
    return response


@router.post("/signin", response_class=HTMLResponse, dependencies=[Public])
def sign_in(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    token: Annotated[str, Form(description="an API token (cbt_...)")] = "",
    next_page: Annotated[str, Form(alias="next", description="where to go after signing in")] = "",
    csrf: CsrfField = "",
) -> Response:
    """Sign in with an API token from this site's sign-in form (its token must match the form's
    pre-session cookie): the token is checked and a server-side session is opened; the cookie
    carries only the session's random id."""
    t = translator(request)
    target = next_page if next_page in _NEXT else "/"
    try:
        check_signin_csrf(request, ctx, csrf)
    except CreditBankError as exc:  # like the form's other problems: the page again, with the reason
        return _signin_page(request, ctx, None, target=target, error=exc.detail, status_code=422)
    token = token.strip()
    if not token:
        return _signin_page(request, ctx, None, target=target, error=t("signin.missing"), status_code=422)
    principal = authenticate(session, ctx.token_key, token, ctx.previous_token_key)
    if principal is None:
        return _signin_page(request, ctx, None, target=target, error=t("signin.invalid"), status_code=422)
    response = _redirect(_landing(target, principal.role))
    start_session(response, session, ctx, principal.token_id or "")
    return finish(response, request)


@router.post("/signout", response_class=HTMLResponse, dependencies=[Public])
def sign_out(request: Request, session: PageSession, ctx: ContextDep, csrf: CsrfField = "") -> Response:
    """End the session: its server-side row is deleted and the cookie cleared (a signed-in form must
    carry its CSRF token)."""
    if request.cookies.get(SESSION_COOKIE):
        check_csrf(request, ctx, csrf)
    response = _redirect("/?signed_out=1")
    end_session(request, response, session, ctx)
    return finish(response, request)


# -- the learner's archive -----------------------------------------------------------------------------


def _time_chart(page: views.ArchivePage, t: Translator) -> Markup:
    points = page.timeline
    desc = (
        t(
            "chart.over_time_desc",
            first=points[0].day.isoformat(),
            last=points[-1].day.isoformat(),
            total=f"{points[-1].total.normalize():f}",
        )
        if points
        else t("chart.empty")
    )
    return credits_over_time(points, title=t("chart.over_time"), desc=desc, empty=t("chart.empty"))


def _category_chart(page: views.ArchivePage, t: Translator) -> Markup:
    return credits_by_category(
        page.bars(lambda c: t.label("category", c)),
        title=t("chart.by_category"),
        desc=t("chart.by_category_desc"),
        empty=t("chart.empty"),
        legend=(t("chart.legend_available"), t("chart.legend_converted")),
    )


def _archive_response(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal | None,
    page: views.ArchivePage,
    *,
    shared_until: dt.datetime | None = None,
    share_token: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    t = translator(request)
    destinations = [] if shared_until else views.all_programmes(session)
    private = None if shared_until else views.access_section(session, page.archive.learner.id)
    return render(
        request,
        ctx,
        who,
        "archive.html",
        active="archive",
        page=page,
        a=page.archive,
        names=page.names,
        readonly=shared_until is not None,
        shared_until=shared_until,
        share_token=share_token,
        access_log=[] if shared_until else views.access_log(session, page.archive.learner.id),
        done=done if done in DONE_MESSAGES else None,
        share_days=SHARE_DAYS,
        destinations=destinations,
        destination_names=views.institution_names(session, [p.institution_id for p in destinations]),
        time_chart=_time_chart(page, t),
        category_chart=_category_chart(page, t),
        access=private,
    )


@router.get("/", response_class=HTMLResponse, dependencies=[Public], summary="Learner archive (home)")
@router.get("/archive", response_class=HTMLResponse, dependencies=[Public], summary="Learner archive")
def archive_home(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    done: Annotated[str | None, Query(description="a finished action to confirm", max_length=20)] = None,
    signed_out: Annotated[str | None, Query(description="set after signing out", max_length=5)] = None,
) -> Response:
    """The learner's lifelong learning archive; on ``/``, anyone else signed in goes to their own
    page; otherwise a sign-in form."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    home = request.url.path == "/"
    if who is not None and who.role is not Role.learner and home:
        return finish(_redirect(_HOME[who.role]), request)
    if who is None or who.role is not Role.learner or who.subject is None:
        error = t("signin.wrong_role_archive", role=t(f"role.{who.role.value}")) if who else None
        notice = t("signin.signed_out") if signed_out and who is None else None
        target = "/" if home else "/archive"
        return _signin_page(request, ctx, who, target=target, error=error, notice=notice)
    subject = who.subject
    page = _attempt(session, lambda: views.archive_page(session, ctx, subject))
    if isinstance(page, CreditBankError):  # a token naming a learner that does not exist
        return _signin_page(request, ctx, who, target="/archive", error=page.detail)
    return _archive_response(request, session, ctx, who, page, done=done)


@router.post("/archive/share", response_class=HTMLResponse)
def create_share_link(
    request: Request, session: PageSession, ctx: ContextDep, who: PageLearner, csrf: CsrfField = ""
) -> HTMLResponse:
    """Make a read-only share link of the archive, valid for seven days (revocable on the archive
    page; it stops working when the learner's data is erased)."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    row = access.create_share_link(session, who.subject or "", days=SHARE_DAYS)
    expires = row.expires_at
    link = f"{ctx.settings.base_url.rstrip('/')}/share/{make_share_token(ctx.secrets.session_secret, row.id)}"
    return _message(
        request,
        ctx,
        who,
        title=t("done.share"),
        text=t("archive.share_link", until=expires.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        back="/archive",
        link=link,
    )


@router.get("/share/{token}", response_class=HTMLResponse, dependencies=[Public])
def shared_archive(token: str, request: Request, session: PageSession, ctx: ContextDep) -> HTMLResponse:
    """A learner's archive through a share link: read-only, no sign-in, until the link expires, is
    revoked by the learner, or the learner's data is erased."""
    t = translator(request)
    link_id = read_share_token(ctx.secrets.session_secret, token)
    grant = access.live_share_link(session, link_id) if link_id else None
    if grant is None:
        return _message(
            request,
            ctx,
            None,
            title=t("share.invalid"),
            text=t("share.invalid_detail"),
            status_code=status.HTTP_404_NOT_FOUND,
        )
    found = _attempt(session, lambda: views.archive_page(session, ctx, grant.learner_id))
    if isinstance(found, CreditBankError):
        return _message(
            request, ctx, None, title=t("share.invalid"), text=t("share.invalid_detail"), status_code=404
        )
    views.log_share_view(session, grant.learner_id, grant.id)
    return _archive_response(
        request, session, ctx, None, found, shared_until=grant.expires_at, share_token=token
    )


@router.post("/archive/share/revoke", response_class=HTMLResponse)
def revoke_share_link(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    link_id: Annotated[str, Form(description="one of your share links", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Revoke one of the learner's share links: it stops working at once."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: access.revoke_share_link(session, who.subject or "", link_id.strip()),
        back="/archive#access",
        then=lambda done: "/archive?done=share_revoked#access",
    )


@router.post("/archive/grants", response_class=HTMLResponse)
def create_grant(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    institution_id: Annotated[str, Form(description="the institution that may read", max_length=40)] = "",
    days: Annotated[int, Form(description="how many days, 1 to 365", ge=1, le=365)] = 30,
    purpose: Annotated[str, Form(description="why (shown in your archive)", max_length=200)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Let one institution read the whole archive for some days (every read is logged here)."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: access.create_grant(
            session, who.subject or "", institution_id.strip(), days=days, purpose=purpose
        ),
        back="/archive#access",
        then=lambda done: "/archive?done=grant#access",
    )


@router.post("/archive/grants/revoke", response_class=HTMLResponse)
def revoke_grant(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    grant_id: Annotated[str, Form(description="one of your grants", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Revoke a grant: the institution's next read is refused."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: access.revoke_grant(session, who.subject or "", grant_id.strip()),
        back="/archive#access",
        then=lambda done: "/archive?done=grant_revoked#access",
    )


@router.get(
    "/share/{token}/certificates/{certificate_id}.json",
    dependencies=[Public],
    responses={200: {"content": {"application/json": {}}, "description": "the signed credential"}},
)
def shared_certificate_json(
    token: str, certificate_id: str, request: Request, session: PageSession, ctx: ContextDep
) -> Response:
    """Download one of the learner's certificates through the learner's share link (logged in the
    learner's access log)."""
    link_id = read_share_token(ctx.secrets.session_secret, token)
    grant = access.live_share_link(session, link_id) if link_id else None
    found = _attempt(session, lambda: certificates.get(session, certificate_id))
    if grant is None or isinstance(found, CreditBankError) or found.learner_id != grant.learner_id:
        # a JSON download answers a JSON problem (the same whether the link or the certificate is wrong)
        raise ShareLinkInvalid("this share link is not valid, or holds no such certificate")
    certificates.log_share_read(session, found, grant.id)
    return _credential_download(found)


@router.get(
    "/archive/export.json",
    responses={200: {"content": {"application/json": {}}, "description": "the archive as a JSON file"}},
)
def download_export(session: PageSession, ctx: ContextDep, who: PageLearner) -> Response:
    """Download everything the bank holds about the signed-in learner as one JSON file (the page's
    counterpart of `GET /api/v1/learners/{id}/archive/export`, which takes bearer tokens only)."""
    learner = learners.authorise_read(session, who, who.subject or "", "archive-export")
    export = archive.build_export(session, ctx.secrets.master_key, learner)
    return Response(
        json.dumps(export.model_dump(mode="json"), ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="creditbank-archive-{learner.id}.json"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.post("/archive/certificates", response_class=HTMLResponse)
def issue_certificate(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_id: Annotated[str, Form(description="the credit lot to certify", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Issue a signed certificate for one of the learner's credit lots."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: issuance.request_certificates(session, ctx, who, lot_ids=[lot_id.strip()]),
        back="/archive",
        then=lambda done: "/archive?done=certificate#certificates",
    )


@router.post("/archive/transfer", response_class=HTMLResponse)
def request_transfer(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_ids: Annotated[list[str] | None, Form(description="credit lots to transfer")] = None,
    programme_id: Annotated[str, Form(description="the destination programme", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Ask for a transfer of credit lots into another school's programme: a certificate per lot is
    issued at once, addressed to that school, which then verifies and accepts (or declines) it."""
    check_csrf(request, ctx, csrf)
    chosen = [lot.strip() for lot in (lot_ids or []) if lot.strip()]

    def work() -> Any:
        if not chosen:
            raise exchange.NothingToConvert("choose at least one credit lot")
        programme = catalog.get_programme(session, programme_id.strip())
        return exchange.request_transfer(
            session,
            ctx,
            who,
            learner_id=who.subject or "",
            lot_ids=chosen,
            destination_institution_id=programme.institution_id,
            programme_id=programme.id,
        )

    return _submit(
        request,
        ctx,
        who,
        session,
        work,
        back="/archive#transfer",
        then=lambda done: "/archive?done=transfer#transfers",
    )


@router.post("/archive/consents", response_class=HTMLResponse)
def give_consent(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_ids: Annotated[list[str] | None, Form(description="credit lots the school may convert")] = None,
    institution_id: Annotated[str, Form(description="the school that may convert them", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Consent that one school may convert the chosen credit lots (certificates you bring to it, or
    a transfer your issuing institution asks for); revocable until a conversion uses it."""
    check_csrf(request, ctx, csrf)
    chosen = [lot.strip() for lot in (lot_ids or []) if lot.strip()]
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: consents.give(
            session,
            who.subject or "",
            destination_institution_id=institution_id.strip(),
            lot_ids=chosen,
            given_via="archive",
        ),
        back="/archive#consent",
        then=lambda done: f"/archive?done=consent#consent-{done.id}",
    )


@router.post("/archive/consents/revoke", response_class=HTMLResponse)
def revoke_consent(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    consent_id: Annotated[str, Form(description="one of your consents", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Withdraw a consent that no conversion has used yet."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: consents.revoke(session, who, consent_id.strip()),
        back="/archive#consents",
        then=lambda done: f"/archive?done=consent_revoked#consent-{done.id}",
    )


@router.post("/archive/transfer/preview", response_class=HTMLResponse)
def preview_transfer_request(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_ids: Annotated[list[str] | None, Form(description="credit lots to transfer")] = None,
    programme_id: Annotated[str, Form(description="the destination programme", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Before sending: what the chosen lots would become in the programme, lot by lot, and why any
    would be left out. Nothing is sent or recorded; the page offers to send the same transfer."""
    check_csrf(request, ctx, csrf)
    chosen = [lot.strip() for lot in (lot_ids or []) if lot.strip()][:50]

    def work() -> Any:
        if not chosen:
            raise exchange.NothingToConvert("choose at least one credit lot")
        programme = catalog.get_programme(session, programme_id.strip())
        return planning.preview_request(
            session,
            who,
            ctx,
            learner_id=who.subject or "",
            lot_ids=chosen,
            programme_id=programme.id,
            destination_institution_id=programme.institution_id,
        )

    found = _attempt(session, work)
    if isinstance(found, CreditBankError):
        return _error_page(request, ctx, who, found, "/archive#transfer")
    programme, plan = found
    preview = preview_of(programme, plan)
    return render(
        request,
        ctx,
        who,
        "conversion_preview.html",
        active="archive",
        preview=preview,
        send_lots=chosen,
        accept_transfer=None,
    )


@router.post("/archive/correction", response_class=HTMLResponse)
def request_correction(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    outcome_id: Annotated[str, Form(description="the outcome to correct", max_length=40)] = "",
    reason: Annotated[str, Form(description="what needs correcting", max_length=500)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Ask the posting institution to correct an outcome: recorded in the outcome's history."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    text = reason.strip()
    if len(text) < 2:
        return _message(
            request,
            ctx,
            who,
            title=t("archive.request_correction"),
            text=f"{t('archive.correction_reason')}: {t('err.missing')}",
            status_code=422,
            back="/archive#outcomes",
        )

    def work() -> None:
        outcome, _ = outcomes.get_outcome(session, outcome_id.strip())
        if outcome.learner_id != who.subject:
            raise outcomes.OutcomeNotFound(f"no outcome {outcome_id} of yours")
        outcomes.add_event(
            session,
            outcome.id,
            views.CORRECTION_REQUESTED,
            actor_role=Role.learner.value,
            actor=who.subject,
            zh=f"学习者申请更正：{text}",
            en=f"The learner asked for a correction: {text}",
        )

    return _submit(
        request,
        ctx,
        who,
        session,
        work,
        back="/archive#outcomes",
        then=lambda done: "/archive?done=correction#outcomes",
    )


@router.post("/archive/erasure", response_class=HTMLResponse)
def request_erasure(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    confirm: Annotated[str, Form(description="must be set to confirm", max_length=10)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Erase the learner's personal data (crypto-shredding) and sign them out; the ledger stays."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    if not confirm:
        return _message(
            request,
            ctx,
            who,
            title=t("archive.erasure"),
            text=t("archive.erasure_missing"),
            status_code=422,
            back="/archive#erasure",
        )
    done = _attempt(session, lambda: archive.erase(session, who.subject or "", requested_by=Role.learner))
    if isinstance(done, CreditBankError):
        return _error_page(request, ctx, who, done, "/archive#erasure")
    response = _message(request, ctx, None, title=t("archive.erasure"), text=t("archive.erasure_done"))
    clear_session(response, ctx)
    return response


def _own_certificate(session: Session, who: Principal, certificate_id: str) -> Any:
    return certificates.authorise_read(session, who, certificate_id)


@router.get(
    "/archive/certificates/{certificate_id}.json",
    responses={200: {"content": {"application/json": {}}, "description": "the signed credential"}},
)
def download_certificate_json(certificate_id: str, session: PageSession, who: PageLearner) -> Response:
    """Download one of the learner's certificates as its signed JSON (Open Badges 3.0 / CLR 2.0)."""
    return _credential_download(_own_certificate(session, who, certificate_id))


def _credential_download(row: Any) -> Response:
    body = json.dumps(row.document, ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{row.id}.json"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/archive/certificates/{certificate_id}.pdf",
    dependencies=[Heavy],
    responses={200: {"content": {"application/pdf": {}}, "description": "the certificate as a PDF"}},
)
def download_certificate_pdf(
    certificate_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageLearner
) -> Response:
    """Download one of the learner's certificates as a PDF with a QR code that opens its verification."""
    row = _own_certificate(session, who, certificate_id)
    page = views.archive_page(session, ctx, who.subject or "")
    cert = views.certificate_views([row])[0]
    data = pdf.certificate_pdf(
        sheets.certificate_sheet(page, cert, ctx.settings.base_url), translator(request)
    )
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{row.id}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/archive/transcript.pdf",
    dependencies=[Heavy],
    responses={200: {"content": {"application/pdf": {}}, "description": "the archive as a PDF"}},
)
def download_transcript(
    request: Request, session: PageSession, ctx: ContextDep, who: PageLearner
) -> Response:
    """Download the whole archive as a PDF transcript."""
    page = views.archive_page(session, ctx, who.subject or "")
    data = pdf.transcript_pdf(sheets.transcript_sheet(page, ctx.settings.base_url), translator(request))
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="transcript-{who.subject}.pdf"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# -- the auditor's verification page -------------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    name: str
    credits: str
    issuer: str
    valid: str


def _claims(document: Any) -> Claims | None:
    if not isinstance(document, dict):
        return None
    subject = document.get("credentialSubject")
    subject = subject if isinstance(subject, dict) else {}
    issuer = document.get("issuer")
    issuer_name = issuer.get("name") if isinstance(issuer, dict) else issuer
    earned = subject.get("creditsEarned")
    return Claims(
        name=str(document.get("name", "")),
        credits=str(earned) if earned is not None else "",
        issuer=str(issuer_name or ""),
        valid=f"{document.get('validFrom', '-')} – {document.get('validUntil', '-')}",
    )


def _verify_page(
    request: Request,
    session: Session,
    ctx: AppContext,
    *,
    document: Any = None,
    text: str = "",
    learner_id: str = "",
    error: str | None = None,
    certificate_id: str | None = None,
    download: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    who = optional_principal(request, session, ctx)
    t = translator(request)
    report, record = None, None
    if document is not None and error is None:
        report = certificates.verify(session, ctx, document, learner_id=learner_id or None)
        known = views.known_certificate(session, document, report)
        record = views.status_record(known) if known else None
    failed = ", ".join(t.label("check", name) for name in report.failed) if report else ""
    seen = views.parse_seen(request.cookies.get(SEEN_COOKIE))
    logs = views.log_views(session, seen)
    response = render(
        request,
        ctx,
        who,
        "verify.html",
        status=status_code,
        active="verify",
        report=report,
        reasons=[views.check_reason(t, c, record) for c in report.checks] if report else [],
        record=record,
        failed=failed,
        claims=_claims(document) if report else None,
        text=text,
        learner_id=learner_id,
        error=error,
        certificate_id=certificate_id,
        download=download,
        logs=logs,
        base_url=ctx.settings.base_url.rstrip("/"),
    )
    response.set_cookie(
        SEEN_COOKIE,
        views.format_seen(logs, seen),
        max_age=5 * 365 * 86400,
        httponly=True,
        samesite="lax",
        secure=is_secure(ctx),
    )
    return response


@router.get("/verify", response_class=HTMLResponse, dependencies=[Public])
def verify_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    certificate: Annotated[
        str | None, Query(description="a certificate id (crt_...) to verify", max_length=40)
    ] = None,
) -> HTMLResponse:
    """The auditor's page: verify a certificate, and check that the logs were only appended to.

    With ``?certificate=crt_...`` (the QR code of a printed certificate) it shows the verdict and
    what the printed certificate says, never the signed credential: that goes only to the learner,
    the destination the learner named, and through the learner's share link."""
    t = translator(request)
    if certificate:
        found = _attempt(session, lambda: certificates.get(session, certificate))
        if isinstance(found, CreditBankError):
            return _verify_page(
                request, session, ctx, error=t("verify.unknown_certificate", id=certificate), status_code=404
            )
        who = optional_principal(request, session, ctx)
        own = who is not None and who.role is Role.learner and who.subject == found.learner_id
        return _verify_page(
            request,
            session,
            ctx,
            document=found.document,
            certificate_id=found.id,
            download=f"/archive/certificates/{found.id}.json" if own else None,
        )
    return _verify_page(request, session, ctx)


@router.post("/verify", response_class=HTMLResponse, dependencies=[Public], openapi_extra=body_limit(VERIFY))
def verify_submitted(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    certificate: Annotated[str, Form(description="the certificate JSON, pasted")] = "",
    upload: Annotated[UploadFile | None, File(description="or the certificate JSON file")] = None,
    learner_id: Annotated[str, Form(description="optional: check the holder", max_length=40)] = "",
) -> HTMLResponse:
    """Verify a pasted or uploaded certificate: every check with its result and reason."""
    t = translator(request)
    text = certificate
    if upload is not None and upload.filename:
        raw = upload.file.read(MAX_CERTIFICATE_BYTES + 1)
        if len(raw) > MAX_CERTIFICATE_BYTES:
            error = t("verify.too_large", kb=MAX_CERTIFICATE_BYTES // 1024)
            return _verify_page(request, session, ctx, error=error, status_code=413)
        text = raw.decode("utf-8-sig", errors="replace")
    if len(text) > MAX_CERTIFICATE_BYTES:
        error = t("verify.too_large", kb=MAX_CERTIFICATE_BYTES // 1024)
        return _verify_page(request, session, ctx, error=error, status_code=413)
    if not text.strip():
        return _verify_page(request, session, ctx, error=t("verify.empty"), status_code=422)
    try:
        document = jsontext.loads(text)
    except jsontext.JsonInvalid as exc:
        return _verify_page(
            request, session, ctx, text=text, error=t("verify.not_json", error=exc.detail), status_code=422
        )
    return _verify_page(request, session, ctx, document=document, text=text, learner_id=learner_id.strip())


# -- the console -------------------------------------------------------------------------------------


def _console_response(
    request: Request,
    session: Session,
    ctx: AppContext,
    who: Principal,
    *,
    form: forms.OutcomeForm | None = None,
    notice: str | None = None,
    posted: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    t = translator(request)
    if who.role is Role.institution:
        institution = institutions.get(session, who.subject or "")
        return render(
            request,
            ctx,
            who,
            "console.html",
            status=status_code,
            active="console",
            console=views.console_page(session, ctx, who, institution),
            form=form or forms.OutcomeForm(),
            outcome_types=forms.OUTCOME_TYPES,
            notice=notice,
            posted=posted,
        )
    return render(
        request,
        ctx,
        who,
        "review.html",
        status=status_code,
        active="console",
        queue=views.review_page(session, t.lang),
        notice=notice,
    )


@router.get("/console", response_class=HTMLResponse, dependencies=[Public])
def console(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    posted: Annotated[str | None, Query(description="an outcome just posted", max_length=40)] = None,
    notice: Annotated[
        Literal["revoked", "certificate_revoked", "decided", "accepted", "rejected", "converted"] | None,
        Query(description="a finished action to confirm"),
    ] = None,
    ref: Annotated[str | None, Query(description="what the action concerned", max_length=40)] = None,
) -> HTMLResponse:
    """The institution console (post, upload, revoke, incoming transfers) or the reviewers' queue;
    a sign-in form for anyone else."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role not in (Role.institution, Role.reviewer, Role.admin):
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return _signin_page(request, ctx, who, target="/console", error=error)
    shown = None
    if posted and who.role is Role.institution:
        found = _attempt(session, lambda: outcomes.get_outcome(session, posted))
        if not isinstance(found, CreditBankError) and found[0].institution_id == who.subject:
            shown = found
    messages = {
        "revoked": t("console.revoked_outcome", id=ref or ""),
        "certificate_revoked": t("console.revoked_certificate", id=ref or ""),
        "decided": t("console.decided", id=ref or ""),
        "accepted": t("console.accepted", id=ref or ""),
        "rejected": t("console.rejected", id=ref or ""),
        "converted": t("console.converted", id=ref or ""),
    }
    return _console_response(request, session, ctx, who, posted=shown, notice=messages.get(notice or ""))


def _post_outcome(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, Any]
) -> Response:
    check_csrf(request, ctx, data.get("csrf"))
    t = translator(request)
    form = forms.read_outcome_form(data, t)
    if form.item is None:
        return _console_response(request, session, ctx, who, form=form, status_code=422)
    item = form.item
    institution = institutions.get(session, who.subject or "")
    [result] = outcomes.post_rows(session, ctx, institution, [(1, item)])
    if result.error is not None:
        message = result.error.detail
        slug = result.error.slug
        form.error("learner_id" if "learner" in slug else "reference" if "reference" in slug else "", message)
        return _console_response(request, session, ctx, who, form=form, status_code=result.error.status)
    outcome_id = result.outcome.id if result.outcome else ""
    return finish(_redirect(f"/console?posted={outcome_id}#post"), request)


@router.post("/console/outcomes", response_class=HTMLResponse)
async def console_post_outcome(
    request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Post one outcome from the console's form (the fields of `OutcomeCreate`); problems are shown
    next to their fields."""
    received = await request.form()
    data = {k: v for k, v in received.items() if isinstance(v, str)}
    return await run_in_threadpool(_post_outcome, request, session, ctx, who, data)


@router.post(
    "/console/upload", response_class=HTMLResponse, dependencies=[Heavy], openapi_extra=body_limit(UPLOAD)
)
async def console_upload(
    request: Request,
    ctx: ContextDep,
    who: PageInstitution,
    upload: Annotated[UploadFile | None, File(description="a CSV or XLSX file of outcomes")] = None,
    report: Annotated[
        Literal["page", "csv", "xlsx"], Form(description="the report as a page or a file")
    ] = "page",
    csrf: CsrfField = "",
) -> Response:
    """Post outcomes from a CSV or XLSX file through the batch pipeline; the per-row report is
    streamed as a page as the rows are posted, or answered as a CSV or XLSX file (each chunk of rows
    commits on its own; re-sending the file applies nothing twice)."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    if upload is None or not upload.filename:
        return _message(
            request,
            ctx,
            who,
            title=t("console.upload"),
            text=t("console.upload_missing"),
            status_code=422,
            back="/console#upload",
        )
    raw = await upload.read(forms.MAX_UPLOAD_BYTES + 1)
    try:
        total, parsed = await run_in_threadpool(
            forms.upload_rows, raw, upload.filename, ctx.settings.batch_max_rows
        )
    except CreditBankError as exc:
        return _message(
            request,
            ctx,
            who,
            title=t("console.upload"),
            text=t("console.upload_bad", error=exc.detail),
            status_code=422,
            back="/console#upload",
        )
    summary = pipeline.new_summary()
    reports = pipeline.post_all(ctx, who.subject or "", parsed, summary)
    name = upload.filename.rsplit(".", 1)[0] or "upload"
    if report == "csv":
        return StreamingResponse(
            iterate_in_threadpool(pipeline.report_csv(reports)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": forms.attachment(f"{name}.report.csv")},
        )
    if report == "xlsx":
        book = await run_in_threadpool(pipeline.report_xlsx, reports)
        return Response(
            book,
            media_type=pipeline.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": forms.attachment(f"{name}.report.xlsx")},
        )
    return render_stream(
        request,
        ctx,
        who,
        "upload_report.html",
        active="console",
        filename=upload.filename,
        total=total,
        reports=reports,
        summary=summary,
    )


@router.post("/console/revoke", response_class=HTMLResponse)
def console_revoke_outcome(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    outcome_id: Annotated[str, Form(description="an outcome you posted", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is revoked", max_length=500)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Revoke an outcome this institution posted (its credits are reversed in the ledger)."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    text = reason.strip()
    if len(text) < 2:
        return _message(
            request,
            ctx,
            who,
            title=t("console.revoke"),
            text=t("console.revoke_reason"),
            status_code=422,
            back="/console#outcomes",
        )
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: corrections.revoke(session, outcome_id.strip(), who.subject or "", text),
        back="/console#outcomes",
        then=lambda done: f"/console?notice=revoked&ref={done.outcome.id}#outcomes",
    )


@router.post("/console/certificates/revoke", response_class=HTMLResponse)
def console_revoke_certificate(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    certificate_id: Annotated[str, Form(description="a certificate you issued", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is revoked", max_length=500)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Revoke a certificate this institution issued (its status list bit is set and re-signed)."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: certificates.revoke(session, ctx, who, certificate_id.strip(), reason.strip() or None),
        back="/console#certificates",
        then=lambda done: f"/console?notice=certificate_revoked&ref={done.id}#certificates",
    )


@router.post("/console/review", response_class=HTMLResponse)
def console_review(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageReviewer,
    outcome_id: Annotated[str, Form(description="the outcome decided", max_length=40)] = "",
    stage: Annotated[str, Form(description="the stage decided (as listed)", max_length=16)] = "",
    decision: Annotated[str, Form(description="approve or reject", max_length=10)] = "",
    reason: Annotated[str, Form(description="why", max_length=500)] = "",
    credits: Annotated[str, Form(description="credits to grant instead of the proposed", max_length=10)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Take a review decision from the queue (district, then city; four eyes)."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    problems: list[str] = []
    if decision not in ("approve", "reject"):
        problems.append(f"{t('console.decision')}: {t('err.literal_error')}")
    if len(reason.strip()) < 2:
        problems.append(f"{t('console.reason')}: {t('err.missing')}")
    amount: Decimal | None = None
    if credits.strip():
        try:
            amount = Decimal(credits.strip())
        except InvalidOperation:
            problems.append(f"{t('console.credits_override')}: {t('err.decimal_parsing')}")
    if problems:
        return _message(
            request,
            ctx,
            who,
            title=t("console.queue"),
            text="; ".join(problems),
            status_code=422,
            back="/console",
        )
    verdict: Literal["approve", "reject"] = "approve" if decision == "approve" else "reject"
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: review.decide(
            session,
            outcome_id.strip(),
            decision=verdict,
            reason=reason.strip(),
            reviewer=review.reviewer_of(session, who),
            credits=amount,
            stage=stage.strip() or None,
        ),
        back="/console",
        then=lambda done: f"/console?notice=decided&ref={done.outcome.id}",
    )


@router.get("/console/transfers/{transfer_id}/preview", response_class=HTMLResponse)
def console_preview_transfer(
    transfer_id: str, request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Before accepting: what accepting this incoming transfer would convert now, lot by lot, with
    the reason for every lot left out. Nothing is recorded; the page offers to accept."""
    found = _attempt(session, lambda: planning.preview_transfer(session, ctx, who, transfer_id))
    if isinstance(found, CreditBankError):
        return _error_page(request, ctx, who, found, "/console#incoming")
    programme, plan = found
    return render(
        request,
        ctx,
        who,
        "conversion_preview.html",
        active="console",
        preview=preview_of(programme, plan),
        send_lots=None,
        accept_transfer=transfer_id,
    )


@router.post("/console/transfers/accept", response_class=HTMLResponse)
def console_accept_transfer(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    transfer_id: Annotated[str, Form(description="an incoming transfer", max_length=40)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Accept a transfer addressed to this institution: its certificates are verified, the rules
    plan the conversion under the programme's caps, and the ledger converts each lot once."""
    check_csrf(request, ctx, csrf)
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: exchange.accept_transfer(session, ctx, who, transfer_id.strip()),
        back="/console#incoming",
        then=lambda _: f"/console?notice=accepted&ref={transfer_id.strip()}#incoming",
    )


@router.post("/console/transfers/reject", response_class=HTMLResponse)
def console_reject_transfer(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    transfer_id: Annotated[str, Form(description="an incoming transfer", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is declined", max_length=500)] = "",
    csrf: CsrfField = "",
) -> Response:
    """Decline a transfer addressed to this institution, with a reason the learner sees."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    if len(reason.strip()) < 2:
        return _message(
            request,
            ctx,
            who,
            title=t("console.reject_transfer"),
            text=f"{t('console.reason')}: {t('err.missing')}",
            status_code=422,
            back="/console#incoming",
        )
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: exchange.reject_transfer(session, who, transfer_id.strip(), reason.strip()),
        back="/console#incoming",
        then=lambda done: f"/console?notice=rejected&ref={done.id}#incoming",
    )


@router.post("/console/conversions", response_class=HTMLResponse)
def console_accept_certificates(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    programme_id: Annotated[str, Form(description="your programme to convert into", max_length=40)] = "",
    certificates_json: Annotated[
        str, Form(alias="certificates", description="one certificate, or a JSON array of them")
    ] = "",
    csrf: CsrfField = "",
) -> Response:
    """Accept certificates a learner brings (pasted JSON): verified like any outside verifier would,
    then converted into one of this institution's programmes (each lot once, at any school)."""
    check_csrf(request, ctx, csrf)
    t = translator(request)
    problem: str | None = None
    parsed: Any = None
    try:
        parsed = jsontext.loads(certificates_json) if certificates_json.strip() else None
    except jsontext.JsonInvalid as exc:
        problem = t("verify.not_json", error=exc.detail)
    documents = parsed if isinstance(parsed, list) else [parsed] if isinstance(parsed, dict) else []
    if problem or not documents or not all(isinstance(d, dict) for d in documents):
        return _message(
            request,
            ctx,
            who,
            title=t("console.accept_certificates"),
            text=problem or t("verify.empty"),
            status_code=422,
            back="/console#bring",
        )
    return _submit(
        request,
        ctx,
        who,
        session,
        lambda: exchange.accept_certificates(
            session,
            ctx,
            institution_id=who.subject or "",
            programme_id=programme_id.strip(),
            documents=documents,
        ),
        back="/console#bring",
        then=lambda done: f"/console?notice=converted&ref={done.conversion.id}#bring",
    )
