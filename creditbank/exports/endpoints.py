from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from creditbank.auth.deps import InstitutionOnly, ReviewerOrAdmin, RoleGuard
from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.dashboards import service as dashboards
from creditbank.deps import ContextDep, SessionDep
from creditbank.exports import service
from creditbank.exports.responses import ROWS_HEADER, XLSX, respond
from creditbank.exports.statistics import statistics_of
from creditbank.limits import Heavy
from creditbank.outcomes import review

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

Format = Annotated[Literal["csv", "xlsx"], Query(description="csv (UTF-8 with a BOM) or xlsx")]
StatisticsReader = Annotated[Principal, Depends(RoleGuard(Role.admin, Role.reviewer, Role.institution))]
DistrictFilter = Annotated[
    str | None,
    Query(max_length=60, description="only this district (name or GB/T 2260 code); city centre only"),
]
InstitutionFilter = Annotated[str | None, Query(max_length=40, description="only this institution")]
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"the export, streamed; `{ROWS_HEADER}` says how many rows follow the header",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get("/outcomes", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_outcomes(
    session: SessionDep, ctx: ContextDep, who: InstitutionOnly, format: Format = "csv"
) -> StreamingResponse:
    """The outcomes this institution posted, with their current recognition, as CSV or XLSX (streamed).
    Text cells a spreadsheet would run as a formula start with `'`."""
    return respond(ctx, session, service.outcomes_of(who.subject or ""), format)


@router.get("/conversions", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_conversions(
    session: SessionDep, ctx: ContextDep, who: InstitutionOnly, format: Format = "csv"
) -> StreamingResponse:
    """The conversions this institution made as the destination, as CSV or XLSX (streamed)."""
    return respond(ctx, session, service.conversions_of(who.subject or ""), format)


@router.get("/review-log", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_review_log(
    session: SessionDep,
    ctx: ContextDep,
    who: ReviewerOrAdmin,
    format: Format = "csv",
) -> StreamingResponse:
    """Every review decision, as CSV or XLSX (streamed): a district sub-centre's reviewer gets its
    own district's, the city centre and admins every district's."""
    return respond(ctx, session, service.review_log(review.scope_of(session, who)), format)


@router.get("/statistics", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_statistics(
    session: SessionDep,
    ctx: ContextDep,
    who: StatisticsReader,
    format: Format = "csv",
    district: DistrictFilter = None,
    institution_id: InstitutionFilter = None,
) -> StreamingResponse:
    """The statistics (数据看板) as CSV or XLSX: the page's figures (total, by month, district,
    category, level and outcome type) and each institution's, scoped like `GET /api/v1/statistics`
    (the city centre any district or institution, a district sub-centre its own, an institution
    itself; anything else a 403 `dashboard-out-of-scope`). Text cells that would run as a formula
    start with `'`."""
    scope = dashboards.scope_for(session, who, district, institution_id)
    return respond(ctx, session, statistics_of(session, scope), format)
