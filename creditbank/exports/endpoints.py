from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from creditbank.auth.deps import InstitutionOnly, ReviewerOrAdmin
from creditbank.deps import ContextDep, SessionDep
from creditbank.exports import service
from creditbank.limits import Heavy
from creditbank.outcomes import review

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])

Format = Annotated[Literal["csv", "xlsx"], Query(description="csv (UTF-8 with a BOM) or xlsx")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the export, streamed",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _stream(ctx: ContextDep, export: service.Export, fmt: str) -> StreamingResponse:
    """Stream ``export``, read in a session of its own (the request's ends when the route returns)."""

    def chunks() -> Iterator[bytes]:
        with ctx.sessions() as session:
            if fmt == "csv":
                yield from service.csv_chunks(export, session)
                return
            handle = service.xlsx_file(export, session)
        with handle:
            while block := handle.read(64 * 1024):
                yield block

    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX
    disposition = f'attachment; filename="{export.name}.{fmt}"'
    return StreamingResponse(chunks(), media_type=media, headers={"Content-Disposition": disposition})


@router.get("/outcomes", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_outcomes(ctx: ContextDep, who: InstitutionOnly, format: Format = "csv") -> StreamingResponse:
    """The outcomes this institution posted, with their current recognition, as CSV or XLSX (streamed).
    Text cells a spreadsheet would run as a formula start with `'`."""
    return _stream(ctx, service.outcomes_of(who.subject or ""), format)


@router.get("/conversions", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_conversions(ctx: ContextDep, who: InstitutionOnly, format: Format = "csv") -> StreamingResponse:
    """The conversions this institution made as the destination, as CSV or XLSX (streamed)."""
    return _stream(ctx, service.conversions_of(who.subject or ""), format)


@router.get("/review-log", response_class=StreamingResponse, responses=_FILE, dependencies=[Heavy])
def export_review_log(
    session: SessionDep,
    ctx: ContextDep,
    who: ReviewerOrAdmin,
    format: Format = "csv",
) -> StreamingResponse:
    """Every review decision, as CSV or XLSX (streamed): a district sub-centre's reviewer gets its
    own district's, the city centre and admins every district's."""
    return _stream(ctx, service.review_log(review.scope_of(session, who)), format)
