"""The learner's archive pages: the archive, share links, grants, consents, transfers,
corrections, erasure and the downloads (see :mod:`creditbank.web.pages` for who may call what).
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from creditbank.archive import erasure
from creditbank.auth.deps import PageLearner, Public
from creditbank.auth.models import Role
from creditbank.catalog import consent as consents
from creditbank.catalog import exchange, planning
from creditbank.catalog import service as catalog
from creditbank.catalog.schemas import preview_of
from creditbank.credentials import issuance
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.i18n import msg
from creditbank.learners import access
from creditbank.outcomes import records
from creditbank.web import archive_page, pages, views
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import (
    clear_session,
    optional_principal,
)
from creditbank.web.share import SHARE_DAYS, make_share_token, read_share_token

router = APIRouter(tags=["web pages"])


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
        return finish(pages.redirect(pages.HOME[who.role]), request)
    if who is not None and who.role is Role.learner and who.subject is None:
        return finish(pages.redirect("/account"), request)  # an account not verified yet sees only itself
    if who is None or who.role is not Role.learner or who.subject is None:
        error = t("signin.wrong_role_archive", role=t(f"role.{who.role.value}")) if who else None
        notice = t("signin.signed_out") if signed_out and who is None else None
        target = "/" if home else "/archive"
        return pages.signin_page(request, ctx, who, target=target, error=error, notice=notice)
    subject = who.subject
    page = pages.attempt(session, lambda: views.archive_page(session, ctx, subject))
    if isinstance(page, CreditBankError):  # a token naming a learner that does not exist
        return pages.signin_page(request, ctx, who, target="/archive", error=page.detail_in(t.lang))
    return archive_page.response(request, session, ctx, who, page, done=done)


@router.post("/archive/share", response_class=HTMLResponse, dependencies=[FormCsrf])
def create_share_link(
    request: Request, session: PageSession, ctx: ContextDep, who: PageLearner
) -> HTMLResponse:
    """Make a read-only share link of the archive, valid for seven days (revocable on the archive
    page; it stops working when the learner's data is erased)."""
    t = translator(request)
    row = access.create_share_link(session, who.subject or "", days=SHARE_DAYS)
    expires = row.expires_at
    link = f"{ctx.settings.base_url.rstrip('/')}/share/{make_share_token(ctx.secrets.session_secret, row.id)}"
    return pages.message(
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
        return pages.message(
            request,
            ctx,
            None,
            title=t("share.invalid"),
            text=t("share.invalid_detail"),
            status_code=status.HTTP_404_NOT_FOUND,
        )
    found = pages.attempt(session, lambda: views.archive_page(session, ctx, grant.learner_id))
    if isinstance(found, CreditBankError):
        return pages.message(
            request, ctx, None, title=t("share.invalid"), text=t("share.invalid_detail"), status_code=404
        )
    access.log_share_view(session, grant)
    return archive_page.response(
        request, session, ctx, None, found, shared_until=grant.expires_at, share_token=token
    )


@router.post("/archive/share/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def revoke_share_link(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    link_id: Annotated[str, Form(description="one of your share links", max_length=40)] = "",
) -> Response:
    """Revoke one of the learner's share links: it stops working at once."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: access.revoke_share_link(session, who.subject or "", link_id.strip()),
        back="/archive#access",
        then=lambda done: "/archive?done=share_revoked#access",
    )


@router.post("/archive/grants", response_class=HTMLResponse, dependencies=[FormCsrf])
def create_grant(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    institution_id: Annotated[str, Form(description="the institution that may read", max_length=40)] = "",
    days: Annotated[int, Form(description="how many days, 1 to 365", ge=1, le=365)] = 30,
    purpose: Annotated[str, Form(description="why (shown in your archive)", max_length=200)] = "",
) -> Response:
    """Let one institution read the whole archive for some days (every read is logged here)."""
    return pages.submit(
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


@router.post("/archive/grants/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def revoke_grant(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    grant_id: Annotated[str, Form(description="one of your grants", max_length=40)] = "",
) -> Response:
    """Revoke a grant: the institution's next read is refused."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: access.revoke_grant(session, who.subject or "", grant_id.strip()),
        back="/archive#access",
        then=lambda done: "/archive?done=grant_revoked#access",
    )


@router.post("/archive/certificates", response_class=HTMLResponse, dependencies=[FormCsrf])
def issue_certificate(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_id: Annotated[str, Form(description="the credit lot to certify", max_length=40)] = "",
) -> Response:
    """Issue a signed certificate for one of the learner's credit lots."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: issuance.request_certificates(session, ctx, who, lot_ids=[lot_id.strip()]),
        back="/archive",
        then=lambda done: "/archive?done=certificate#certificates",
    )


@router.post("/archive/transfer", response_class=HTMLResponse, dependencies=[FormCsrf])
def request_transfer(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_ids: Annotated[list[str] | None, Form(description="credit lots to transfer")] = None,
    programme_id: Annotated[str, Form(description="the destination programme", max_length=40)] = "",
) -> Response:
    """Ask for a transfer of credit lots into another school's programme: a certificate per lot is
    issued at once, addressed to that school, which then verifies and accepts (or declines) it."""
    chosen = [lot.strip() for lot in (lot_ids or []) if lot.strip()]

    def work() -> Any:
        if not chosen:
            raise exchange.NothingToConvert(msg("detail.web.archive_endpoints.choose_least_one_credit"))
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

    return pages.submit(
        request,
        ctx,
        who,
        session,
        work,
        back="/archive#transfer",
        then=lambda done: "/archive?done=transfer#transfers",
    )


@router.post("/archive/consents", response_class=HTMLResponse, dependencies=[FormCsrf])
def give_consent(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_ids: Annotated[list[str] | None, Form(description="credit lots the school may convert")] = None,
    institution_id: Annotated[str, Form(description="the school that may convert them", max_length=40)] = "",
) -> Response:
    """Consent that one school may convert the chosen credit lots (certificates you bring to it, or
    a transfer your issuing institution asks for); revocable until a conversion uses it."""
    chosen = [lot.strip() for lot in (lot_ids or []) if lot.strip()]
    return pages.submit(
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


@router.post("/archive/consents/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def revoke_consent(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    consent_id: Annotated[str, Form(description="one of your consents", max_length=40)] = "",
) -> Response:
    """Withdraw a consent that no conversion has used yet."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: consents.revoke(session, who, consent_id.strip()),
        back="/archive#consents",
        then=lambda done: f"/archive?done=consent_revoked#consent-{done.id}",
    )


@router.post("/archive/transfer/preview", response_class=HTMLResponse, dependencies=[FormCsrf])
def preview_transfer_request(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    lot_ids: Annotated[list[str] | None, Form(description="credit lots to transfer")] = None,
    programme_id: Annotated[str, Form(description="the destination programme", max_length=40)] = "",
) -> Response:
    """Before sending: what the chosen lots would become in the programme, lot by lot, and why any
    would be left out. Nothing is sent or recorded; the page offers to send the same transfer."""
    chosen = [lot.strip() for lot in (lot_ids or []) if lot.strip()][:50]

    def work() -> Any:
        if not chosen:
            raise exchange.NothingToConvert(msg("detail.web.archive_endpoints.choose_least_one_credit"))
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

    found = pages.attempt(session, work)
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, "/archive#transfer")
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


@router.post("/archive/correction", response_class=HTMLResponse, dependencies=[FormCsrf])
def request_correction(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    outcome_id: Annotated[str, Form(description="the outcome to correct", max_length=40)] = "",
    reason: Annotated[str, Form(description="what needs correcting", max_length=500)] = "",
) -> Response:
    """Ask the posting institution to correct an outcome: recorded in the outcome's history."""
    t = translator(request)
    text = reason.strip()
    refused = pages.without_reason(
        request,
        ctx,
        who,
        text,
        title=t("archive.request_correction"),
        field=t("archive.correction_reason"),
        back="/archive#outcomes",
    )
    if refused is not None:
        return refused

    def work() -> None:
        records.request_correction(session, who, outcome_id.strip(), text)

    return pages.submit(
        request,
        ctx,
        who,
        session,
        work,
        back="/archive#outcomes",
        then=lambda done: "/archive?done=correction#outcomes",
    )


@router.post("/archive/erasure", response_class=HTMLResponse, dependencies=[FormCsrf])
def request_erasure(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    confirm: Annotated[str, Form(description="must be set to confirm", max_length=10)] = "",
) -> Response:
    """Erase the learner's personal data (crypto-shredding) and sign them out; the ledger stays."""
    t = translator(request)
    if not confirm:
        return pages.message(
            request,
            ctx,
            who,
            title=t("archive.erasure"),
            text=t("archive.erasure_missing"),
            status_code=422,
            back="/archive#erasure",
        )
    done = pages.attempt(
        session, lambda: erasure.erase(session, who.subject or "", requested_by=Role.learner)
    )
    if isinstance(done, CreditBankError):
        return pages.error_page(request, ctx, who, done, "/archive#erasure")
    response = pages.message(request, ctx, None, title=t("archive.erasure"), text=t("archive.erasure_done"))
    clear_session(response, ctx)
    return response
