"""The statistics page (数据看板) for the city centre, the district sub-centres and institutions, and
the exports it offers (the statistics; the review log for operators; the outcomes and conversions
for an institution), downloaded with the browser's session; ``/static/export.js`` shows their
progress (without it they are plain downloads)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from creditbank.auth.deps import PageGuard, PageInstitution, Public
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.dashboards import service
from creditbank.deps import ContextDep
from creditbank.errors import CreditBankError
from creditbank.exports import service as exports
from creditbank.exports.responses import ROWS_HEADER, XLSX, respond
from creditbank.exports.statistics import statistics_of
from creditbank.limits import Heavy
from creditbank.outcomes import review
from creditbank.web import pages, statistics_page
from creditbank.web.pages import PageSession
from creditbank.web.rendering import render, translator
from creditbank.web.session import optional_principal

router = APIRouter(tags=["web pages"])
READERS = (Role.institution, Role.reviewer, Role.admin)
PageReader = Annotated[Principal, Depends(PageGuard(*READERS))]
PageOperator = Annotated[Principal, Depends(PageGuard(Role.reviewer, Role.admin))]
FileFormat = Literal["csv", "xlsx"]
District = Annotated[
    str | None, Query(max_length=60, description="only this district (the city centre only)")
]
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"the export, streamed; `{ROWS_HEADER}` says how many rows follow the header",
        "content": {"text/csv": {"schema": {"type": "string"}}, XLSX: {"schema": {"type": "string"}}},
    }
}


@router.get("/statistics", response_class=HTMLResponse, dependencies=[Public])
def statistics(
    request: Request,
    session: PageSession,
    ctx: ContextDep,
    district: District = None,
) -> HTMLResponse:
    """The statistics (数据看板) as charts drawn on the server with their numbers in tables: the city
    centre's (every district, or one), a district sub-centre's (its district), an institution's
    (itself); a sign-in form for anyone else; another district's figures are a 403 page."""
    t = translator(request)
    who = optional_principal(request, session, ctx)
    if who is None or who.role not in READERS:
        error = t("signin.wrong_role_console", role=t(f"role.{who.role.value}")) if who else None
        return pages.signin_page(request, ctx, who, target="/console", error=error)
    found = pages.attempt(session, lambda: service.scope_for(session, who, district or None))
    if isinstance(found, CreditBankError):
        return pages.error_page(request, ctx, who, found, back="/statistics")
    board = service.dashboard(session, found)
    return render(
        request,
        ctx,
        who,
        "statistics.html",
        active="statistics",
        stats=statistics_page.view(board, t, city=found.city and found.institution_id is None),
        scope=found,
        exports=statistics_page.exports(who.role, found.district if found.city else None),
        chosen=found.district if found.city else None,
    )


@router.get(
    "/exports/statistics.{format}", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy]
)
def download_statistics(
    format: FileFormat, session: PageSession, ctx: ContextDep, who: PageReader, district: District = None
) -> StreamingResponse:
    """The statistics the page shows (and each institution's), as CSV or XLSX: the page's
    counterpart of `GET /api/v1/exports/statistics`, scoped alike (another district is a 403)."""
    scope = service.scope_for(session, who, district or None)
    return respond(ctx, session, statistics_of(session, scope), format)


@router.get(
    "/exports/review-log.{format}", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy]
)
def download_review_log(
    format: FileFormat, session: PageSession, ctx: ContextDep, who: PageOperator
) -> StreamingResponse:
    """The review log (a district sub-centre's reviewer: its district's), as CSV or XLSX."""
    return respond(ctx, session, exports.review_log(review.scope_of(session, who)), format)


@router.get(
    "/exports/outcomes.{format}", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy]
)
def download_outcomes(
    format: FileFormat, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> StreamingResponse:
    """The outcomes the signed-in institution posted, as CSV or XLSX."""
    return respond(ctx, session, exports.outcomes_of(who.subject or ""), format)


@router.get(
    "/exports/conversions.{format}", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy]
)
def download_conversions(
    format: FileFormat, session: PageSession, ctx: ContextDep, who: PageInstitution
) -> StreamingResponse:
    """The conversions the signed-in institution made as the destination, as CSV or XLSX."""
    return respond(ctx, session, exports.conversions_of(who.subject or ""), format)
