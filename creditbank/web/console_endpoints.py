"""The institution console and the review desk: posting and uploading outcomes, revoking,
reviews, transfers and conversions (see :mod:`creditbank.web.pages` for who may call what).
"""

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlmodel import Session
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from creditbank import jsontext
from creditbank.auth.deps import PageInstitution, PageReviewer, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import enrolment_results, exchange, planning
from creditbank.catalog.schemas import preview_of
from creditbank.context import AppContext
from creditbank.credentials import service as certificates
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.institutions import service as institutions
from creditbank.limits import UPLOAD, Heavy, body_limit
from creditbank.outcomes import corrections, pipeline, records, review
from creditbank.outcomes import service as outcomes
from creditbank.web import forms, pages, views
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, render_stream, translator
from creditbank.web.session import (
    optional_principal,
)

router = APIRouter(tags=["web pages"])


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
    scope = review.scope_of(session, who)
    return render(
        request,
        ctx,
        who,
        "review.html",
        status=status_code,
        active="console",
        queue=views.review_page(session, t.lang, scope),
        scope=scope,
        notice=notice,
    )


@router.get("/console", response_class=HTMLResponse, dependencies=[Public])
def console(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    posted: Annotated[str | None, Query(description="an outcome just posted", max_length=40)] = None,
    notice: Annotated[
        Literal[
            "revoked",
            "certificate_revoked",
            "decided",
            "accepted",
            "rejected",
            "converted",
            "corrected",
            "refused",
        ]
        | None,
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
        return pages.signin_page(request, ctx, who, target="/console", error=error)
    shown = None
    if posted and who.role is Role.institution:
        found = pages.attempt(session, lambda: records.get_outcome(session, posted))
        if not isinstance(found, CreditBankError) and found[0].institution_id == who.subject:
            shown = found
    messages = {
        "revoked": t("console.revoked_outcome", id=ref or ""),
        "certificate_revoked": t("console.revoked_certificate", id=ref or ""),
        "decided": t("console.decided", id=ref or ""),
        "accepted": t("console.accepted", id=ref or ""),
        "rejected": t("console.rejected", id=ref or ""),
        "converted": t("console.converted", id=ref or ""),
        "corrected": t("console.corrected", id=ref or ""),
        "refused": t("console.correction_refused", id=ref or ""),
    }
    return _console_response(request, session, ctx, who, posted=shown, notice=messages.get(notice or ""))


def _post_outcome(
    request: Request, session: Session, ctx: AppContext, who: Principal, data: dict[str, Any]
) -> Response:
    t = translator(request)
    form = forms.read_outcome_form(data, t)
    if form.item is None:
        return _console_response(request, session, ctx, who, form=form, status_code=422)
    item = form.item
    institution = institutions.get(session, who.subject or "")
    [result] = outcomes.post_rows(session, ctx, institution, [(1, item)])
    if result.error is not None:
        message = result.error.detail_in(t.lang)
        slug = result.error.slug
        form.error("learner_id" if "learner" in slug else "reference" if "reference" in slug else "", message)
        return _console_response(request, session, ctx, who, form=form, status_code=result.error.status)
    outcome_id = result.outcome.id if result.outcome else ""
    return finish(pages.redirect(f"/console?posted={outcome_id}#post"), request)


@router.post("/console/outcomes", response_class=HTMLResponse, dependencies=[FormCsrf])
async def console_post_outcome(
    request: Request, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> Response:
    """Post one outcome from the console's form (the fields of `OutcomeCreate`); problems are shown
    next to their fields."""
    received = await request.form()
    data = {k: v for k, v in received.items() if isinstance(v, str)}
    return await run_in_threadpool(_post_outcome, request, session, ctx, who, data)


@router.post(
    "/console/upload",
    response_class=HTMLResponse,
    dependencies=[FormCsrf, Heavy],
    openapi_extra=body_limit(UPLOAD),
)
async def console_upload(
    request: Request,
    ctx: ContextDep,
    who: PageInstitution,
    upload: Annotated[UploadFile | None, File(description="a CSV or XLSX file of outcomes")] = None,
    report: Annotated[
        Literal["page", "csv", "xlsx"], Form(description="the report as a page or a file")
    ] = "page",
) -> Response:
    """Post outcomes from a CSV or XLSX file through the batch pipeline; the per-row report is
    streamed as a page as the rows are posted, or answered as a CSV or XLSX file (each chunk of rows
    commits on its own; re-sending the file applies nothing twice)."""
    t = translator(request)
    if upload is None or not upload.filename:
        return pages.message(
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
        return pages.message(
            request,
            ctx,
            who,
            title=t("console.upload"),
            text=t("console.upload_bad", error=exc.detail_in(t.lang)),
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


@router.post("/console/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def console_revoke_outcome(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    outcome_id: Annotated[str, Form(description="an outcome you posted", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is revoked", max_length=500)] = "",
) -> Response:
    """Revoke an outcome this institution posted (its credits are reversed in the ledger)."""
    t = translator(request)
    text = reason.strip()
    refused = pages.without_reason(
        request,
        ctx,
        who,
        text,
        title=t("console.revoke"),
        field=t("console.revoke_reason"),
        back="/console#outcomes",
    )
    if refused is not None:
        return refused
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: corrections.revoke(session, outcome_id.strip(), who.subject or "", text),
        back="/console#outcomes",
        then=lambda done: f"/console?notice=revoked&ref={done.outcome.id}#outcomes",
    )


@router.post("/console/certificates/revoke", response_class=HTMLResponse, dependencies=[FormCsrf])
def console_revoke_certificate(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    certificate_id: Annotated[str, Form(description="a certificate you issued", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is revoked", max_length=500)] = "",
) -> Response:
    """Revoke a certificate this institution issued (its status list bit is set and re-signed)."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: certificates.revoke(session, ctx, who, certificate_id.strip(), reason.strip() or None),
        back="/console#certificates",
        then=lambda done: f"/console?notice=certificate_revoked&ref={done.id}#certificates",
    )


@router.post("/console/review", response_class=HTMLResponse, dependencies=[FormCsrf])
def console_review(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageReviewer,
    outcome_id: Annotated[str, Form(description="the outcome decided", max_length=40)] = "",
    stage: Annotated[str, Form(description="the stage decided (as listed)", max_length=16)] = "",
    decision: Annotated[
        str, Form(description="approve, reject or return (applications)", max_length=10)
    ] = "",
    reason: Annotated[str, Form(description="why", max_length=500)] = "",
    credits: Annotated[str, Form(description="credits to grant instead of the proposed", max_length=10)] = "",
) -> Response:
    """Take a review decision from the queue (district, then city; four eyes)."""
    t = translator(request)
    problems: list[str] = []
    if decision not in ("approve", "reject", "return"):
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
        return pages.message(
            request,
            ctx,
            who,
            title=t("console.queue"),
            text="; ".join(problems),
            status_code=422,
            back="/console",
        )
    verdict: Literal["approve", "reject", "return"] = (
        "approve" if decision == "approve" else "return" if decision == "return" else "reject"
    )
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: enrolment_results.decide(
            session,
            ctx,
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
    found = pages.attempt(session, lambda: planning.preview_transfer(session, ctx, who, transfer_id))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, "/console#incoming")
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


@router.post("/console/transfers/accept", response_class=HTMLResponse, dependencies=[FormCsrf])
def console_accept_transfer(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    transfer_id: Annotated[str, Form(description="an incoming transfer", max_length=40)] = "",
) -> Response:
    """Accept a transfer addressed to this institution: its certificates are verified, the rules
    plan the conversion under the programme's caps, and the ledger converts each lot once."""
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: exchange.accept_transfer(session, ctx, who, transfer_id.strip()),
        back="/console#incoming",
        then=lambda _: f"/console?notice=accepted&ref={transfer_id.strip()}#incoming",
    )


@router.post("/console/transfers/reject", response_class=HTMLResponse, dependencies=[FormCsrf])
def console_reject_transfer(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    transfer_id: Annotated[str, Form(description="an incoming transfer", max_length=40)] = "",
    reason: Annotated[str, Form(description="why it is declined", max_length=500)] = "",
) -> Response:
    """Decline a transfer addressed to this institution, with a reason the learner sees."""
    t = translator(request)
    refused = pages.without_reason(
        request,
        ctx,
        who,
        reason,
        title=t("console.reject_transfer"),
        field=t("console.reason"),
        back="/console#incoming",
    )
    if refused is not None:
        return refused
    return pages.submit(
        request,
        ctx,
        who,
        session,
        lambda: exchange.reject_transfer(session, who, transfer_id.strip(), reason.strip()),
        back="/console#incoming",
        then=lambda done: f"/console?notice=rejected&ref={done.id}#incoming",
    )


@router.post("/console/conversions", response_class=HTMLResponse, dependencies=[FormCsrf])
def console_accept_certificates(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageInstitution,
    programme_id: Annotated[str, Form(description="your programme to convert into", max_length=40)] = "",
    certificates_json: Annotated[
        str, Form(alias="certificates", description="one certificate, or a JSON array of them")
    ] = "",
) -> Response:
    """Accept certificates a learner brings (pasted JSON): verified like any outside verifier would,
    then converted into one of this institution's programmes (each lot once, at any school)."""
    t = translator(request)
    problem: str | None = None
    parsed: Any = None
    try:
        parsed = jsontext.loads(certificates_json) if certificates_json.strip() else None
    except jsontext.JsonInvalid as exc:
        problem = t("verify.not_json", error=exc.detail_in(t.lang))
    documents = parsed if isinstance(parsed, list) else [parsed] if isinstance(parsed, dict) else []
    if problem or not documents or not all(isinstance(d, dict) for d in documents):
        return pages.message(
            request,
            ctx,
            who,
            title=t("console.accept_certificates"),
            text=problem or t("verify.empty"),
            status_code=422,
            back="/console#bring",
        )
    return pages.submit(
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
