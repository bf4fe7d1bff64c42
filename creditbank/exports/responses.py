"""An export as an HTTP response, for the API (bearer tokens) and the pages (the browser's session).

The response says how many rows follow, in ``X-Export-Rows`` (the header line not counted), so a
page can show the download's progress: a CSV is streamed as it is read (in a session of its own, as
the request's ends when the route returns); an XLSX workbook is written to a temporary file first
and streamed with its ``Content-Length``.
"""

import os
from collections.abc import Iterator

from fastapi.responses import StreamingResponse
from sqlmodel import Session
from starlette.background import BackgroundTask

from creditbank.context import AppContext
from creditbank.exports import service
from creditbank.exports.service import Export

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROWS_HEADER = "X-Export-Rows"


def respond(ctx: AppContext, session: Session, export: Export, fmt: str) -> StreamingResponse:
    """Stream ``export`` as ``fmt`` (``csv`` or ``xlsx``), its row count in :data:`ROWS_HEADER`."""
    headers = {
        "Content-Disposition": f'attachment; filename="{export.name}.{fmt}"',
        ROWS_HEADER: str(export.count(session)),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "xlsx":
        handle = service.xlsx_file(export, session)
        headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)

        def blocks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(64 * 1024):
                    yield block

        return StreamingResponse(
            blocks(), media_type=XLSX, headers=headers, background=BackgroundTask(handle.close)
        )

    def chunks() -> Iterator[bytes]:
        with ctx.sessions() as own:
            yield from service.csv_chunks(export, own)

    return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8", headers=headers)
