"""The learner's applications for recognition (申请认定) on the web, and the evidence viewer.

``/applications`` lists the signed-in learner's applications (each with its state, history and
evidence) and holds the form to apply, which adapts to the outcome type (the fields each type needs
are shown with it); a returned application has a form to resubmit. A form that fails is shown again
with the problem in the reader's language (Chinese first), and nothing of it is kept.

``/applications/{id}/evidence/{file}`` serves one evidence file inline to the learner and to the
reviewers whose scope covers the application at its stage, with its type read from its content,
``X-Content-Type-Options: nosniff`` and a Content-Security-Policy under which no script runs.
"""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response

from creditbank.applications import appeal_views, appeals, claim_fields, service
from creditbank.applications import views as api
from creditbank.applications.evidence import PDF
from creditbank.auth.deps import PageLearner, PageLearnerOrReviewer, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.context import AppContext
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.limits import APPLICATION, body_limit
from creditbank.outcomes.models import ApplicationFile
from creditbank.outcomes.registrar import accepted_levels
from creditbank.rule_engine.models import OUTCOME_TYPES
from creditbank.web import pages
from creditbank.web.pages import FormCsrf, PageSession
from creditbank.web.rendering import finish, render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])

FILE_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'self'; script-src 'none'; "
    "frame-ancestors 'self'"
)
"""Served evidence runs no script (an SVG or HTML smuggled past the checks could not either), and
only this service's own pages may frame it: the review desk shows a PDF in an ``<iframe>``, where
Chromium's own PDF viewer draws it (headless Chromium too, since its new headless mode; the old
headless shell downloaded PDFs instead)."""
Field = Annotated[str, Form(max_length=300)]
Files = Annotated[list[UploadFile], File(description="evidence: PDF, JPEG or PNG")]


def _choices(chosen: str | None) -> dict[str, list[tuple[str, str]]]:
    """The options of the type's choice fields: (value, what the reader sees)."""
    return {
        f.name: (
            list(zip(f.choices, accepted_levels(chosen), strict=True))
            if f.name == "level" and chosen
            else [(c, c) for c in f.choices]
        )
        for f in claim_fields.fields_of(chosen or "")
        if f.kind == "choice"
    }


def _fields(chosen: str | None, kept: dict[str, str]) -> dict[str, Any]:
    """What ``_claim_fields.html`` needs."""
    return {
        "chosen": chosen,
        "type_fields": claim_fields.fields_of(chosen or ""),
        "choices": _choices(chosen),
        "kept": kept,
    }


def _page(
    request: Request,
    session: PageSession,
    ctx: AppContext,
    who: Principal,
    *,
    chosen: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    kept: dict[str, str] | None = None,
) -> HTMLResponse:
    filed = [
        api.application_public(session, a, o, r) for a, o, r in service.of_learner(session, who.subject or "")
    ]
    try:
        home: str | None = service.home_district(session, who.subject or "")
    except service.DistrictUnknown:
        home = None
    return render(
        request,
        ctx,
        who,
        "applications.html",
        status=status_code,
        active="applications",
        applications=filed,
        error=error,
        types=OUTCOME_TYPES,
        home_district=home,
        issuer_kinds=service.ISSUER_KINDS,
        limits=ctx.settings,
        **_fields(chosen, kept or {}),
        appeal_windows=appeal_views.windows(session, ctx, who.subject or ""),
    )


def _said(request: Request, exc: CreditBankError | RequestValidationError) -> str:
    """A domain error as every form says it (:func:`pages.said`); the form's own fields by name."""
    if isinstance(exc, CreditBankError):
        return pages.said(request, exc)
    t = translator(request)
    parts = []
    for e in exc.errors():
        name = str(list(e.get("loc", ("",)))[-1])
        kind = str(e.get("type", "value_error"))
        parts.append(f"{t('applications.field.' + name)}{t('common.colon')}{t('err.' + kind)}")
    return "；".join(parts)


def _learner_or_signin(request: Request, session: PageSession, ctx: AppContext) -> Principal | Response:
    who = optional_principal(request, session, ctx)
    if who is not None and who.role is Role.learner and who.subject is None:
        return finish(pages.redirect("/account"), request)
    if who is None or who.role is not Role.learner:
        return pages.signin_page(request, ctx, who, target=request.url.path)
    return who


@router.get("/applications", response_class=HTMLResponse, dependencies=[Public], summary="My applications")
def applications_page(request: Request, session: PageSession, ctx: ContextDep) -> Response:
    """The signed-in learner's applications for recognition and the first step of applying
    (choosing the outcome type); a sign-in form to others; an account not yet verified is sent to
    its account page."""
    who = _learner_or_signin(request, session, ctx)
    return who if isinstance(who, Response) else _page(request, session, ctx, who)


@router.get(
    "/applications/new", response_class=HTMLResponse, dependencies=[Public], summary="Apply: the form"
)
def new_application_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    type: Annotated[str, Query(max_length=40, description="the outcome type chosen")] = "",
    part: Annotated[str, Query(max_length=20, description="fields: only the type's fieldset")] = "",
) -> Response:
    """The application form for one outcome type: its own fields only, the required ones marked
    (``part=fields``: the fieldset alone, which the page's script swaps in when the type changes).
    An unknown type is a 422 with the type to choose again."""
    who = _learner_or_signin(request, session, ctx)
    if isinstance(who, Response):
        return who
    known = type in OUTCOME_TYPES
    t = translator(request)
    error = None if known or not type else t("applications.unknown_type")
    status_code = 200 if known or not type else 422
    if part == "fields":
        return render(
            request,
            ctx,
            who,
            "_claim_fields.html",
            status=status_code,
            **_fields(type if known else None, {}),
        )
    return _page(
        request, session, ctx, who, chosen=type if known else None, error=error, status_code=status_code
    )


@router.post(
    "/applications",
    response_class=HTMLResponse,
    openapi_extra=body_limit(APPLICATION),
    dependencies=[FormCsrf],
)
async def apply_page(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    files: Files,
    outcome_type: Field = "",
    title: Field = "",
    achieved_on: Field = "",
    district: Field = "",
    issuer_kind: Field = "",
    issuer_name: Field = "",
    statement: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Apply for recognition from the page's form (see the API's ``POST /api/v1/applications``):
    the chosen type's own fields are read from the form, the others ignored. The form names no
    district (it is the learner's own); a forged one naming another district is refused."""
    form = await request.form()
    given = {name: str(form.get(name) or "")[:300] for name in claim_fields.NAMES}
    kept = {
        "title": title,
        "achieved_on": achieved_on,
        "issuer_kind": issuer_kind,
        "issuer_name": issuer_name,
        "statement": statement,
        **given,
    }
    chosen = outcome_type if outcome_type in OUTCOME_TYPES else None

    def again(exc: CreditBankError | RequestValidationError) -> HTMLResponse:
        status_code = exc.status if isinstance(exc, CreditBankError) else 422
        return _page(
            request,
            session,
            ctx,
            who,
            chosen=chosen,
            error=_said(request, exc),
            status_code=status_code,
            kept=kept,
        )

    try:
        claim = api.claim_of(
            outcome_type=outcome_type,
            title=title,
            achieved_on=achieved_on,
            issuer_kind=issuer_kind,
            issuer_name=issuer_name,
            statement=statement,
            district=district,
            given=given,
        )
        checked = await api.read_files(files, ctx.settings)
    except (CreditBankError, RequestValidationError) as exc:
        return again(exc)
    done = pages.attempt(session, lambda: service.submit(session, ctx, who.subject or "", claim, checked))
    if isinstance(done, CreditBankError):
        return again(done)
    return finish(pages.redirect(f"/applications?done=applied#{done.application.id}"), request)


@router.post(
    "/applications/{application_id}/resubmission",
    response_class=HTMLResponse,
    openapi_extra=body_limit(APPLICATION),
    dependencies=[FormCsrf],
)
async def resubmit_page(
    application_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearner,
    files: Files,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Send the material a reviewer asked for (see the API's resubmission)."""
    try:
        checked = await api.read_files(files, ctx.settings)
    except CreditBankError as exc:
        return _page(request, session, ctx, who, error=_said(request, exc), status_code=exc.status)
    done = pages.attempt(
        session, lambda: service.resubmit(session, ctx, who.subject or "", application_id, note, checked)
    )
    if isinstance(done, CreditBankError):
        return _page(request, session, ctx, who, error=_said(request, done), status_code=done.status)
    return finish(pages.redirect(f"/applications?done=resubmitted#{application_id}"), request)


def _serve(row: ApplicationFile, data: bytes) -> Response:
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in row.filename)
    return Response(
        data,
        media_type=row.media_type,
        headers={
            "Content-Disposition": (
                f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_CSP if row.media_type == PDF else FILE_CSP + "; sandbox",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
            "Cross-Origin-Resource-Policy": "same-origin",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.get(
    "/applications/{application_id}/evidence/{file_id}",
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
    summary="View an evidence file",
)
def evidence_file(
    application_id: str,
    file_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearnerOrReviewer,
) -> Response:
    """One evidence file, inline, for the learner who applied and the reviewers whose scope covers
    the application at its current stage (403 for another district's or stage's reviewer, 404 for
    another learner)."""
    return _serve(*service.open_evidence(session, ctx, who, application_id, file_id))


@router.get(
    "/appeals/{appeal_id}/evidence/{file_id}",
    responses={200: {"content": {"application/pdf": {}, "image/jpeg": {}, "image/png": {}}}},
    summary="View an appeal's evidence file",
)
def appeal_evidence_file(
    appeal_id: str,
    file_id: str,
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    who: PageLearnerOrReviewer,
) -> Response:
    """One file of an appeal, inline, for the learner who appealed and the city centre's reviewers."""
    return _serve(*appeals.open_evidence(session, ctx, who, appeal_id, file_id))
