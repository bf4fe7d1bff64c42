"""The one batch pipeline: parse -> validate -> post in chunks -> per-row report.

``POST /api/v1/outcomes/batch``, ``creditbank import`` and the console's upload all go through it:

1. **Parse.** A decoder turns bytes into rows as they arrive: JSON lines or a JSON array
   (:class:`~creditbank.outcomes.batch.RowDecoder`), CSV in the one dialect of
   :mod:`creditbank.outcomes.dialect`, or an XLSX sheet (:func:`xlsx_rows`, read whole: a zip).
2. **Validate.** Each row becomes an :class:`~creditbank.outcomes.schemas.OutcomeCreate` or a
   row error, exactly as a single posted outcome would.
3. **Post in chunks.** :func:`post_chunk` posts a chunk of rows in one transaction through
   :func:`creditbank.outcomes.service.post_rows`; should the chunk as a whole fail (the database
   refusing a value), its rows are retried one by one, so only the bad row fails.
4. **Report.** Every row gets one :class:`~creditbank.outcomes.schemas.RowReport` (the API's JSON,
   the CLI's report file, the console's page and its CSV/XLSX download have the same columns,
   :data:`REPORT_COLUMNS`), with the reason for every failed, rejected or reviewed row in Chinese
   and English (:mod:`creditbank.outcomes.reasons`).
"""

import datetime as dt
import io
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Literal, Protocol

from sqlalchemy.exc import DataError

from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.errors import CreditBankError, ValidationFailed
from creditbank.i18n import msg
from creditbank.institutions import service as institutions
from creditbank.outcomes import reasons, service
from creditbank.outcomes.batch import CHUNK_ROWS, ParsedRow, RowDecoder, TooManyRows, validate_row
from creditbank.outcomes.dialect import CsvHeaderInvalid, CsvRowDecoder, read_header, row_body
from creditbank.outcomes.schemas import BatchSummary, RowReport
from creditbank.spreadsheets import csv_writer, safe_cell

Format = Literal["json", "csv", "xlsx"]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_COLUMNS: tuple[str, ...] = (
    "row",
    "reference",
    "status",
    "outcome_id",
    "recognition",
    "credits",
    "reason_zh",
    "reason_en",
    "error_type",
    "error_detail",
)
MAX_XLSX_CELLS = 50
MAX_XLSX_UNPACKED = 256 * 1024 * 1024  # bytes of a workbook's parts once decompressed


class UnstorableRow(ValidationFailed):
    slug = "unstorable-value"
    title = "The row holds a value that cannot be stored"


class Decoder(Protocol):
    row: int

    def feed(self, data: bytes, final: bool = False) -> Iterator[ParsedRow]: ...


def decoder(fmt: Format) -> Decoder:
    """The streaming decoder of a format (XLSX is not streamed: see :func:`xlsx_rows`)."""
    if fmt == "csv":
        return CsvRowDecoder()
    return RowDecoder()


def new_summary() -> BatchSummary:
    return BatchSummary(rows=0, created=0, duplicate=0, errors=0, recognised=0, review=0, rejected=0)


# -- parsing ---------------------------------------------------------------------------------------


def _capped(parsed: ParsedRow, max_rows: int | None) -> ParsedRow:
    if max_rows is not None and parsed.row > max_rows:
        raise TooManyRows(
            msg("detail.outcomes.pipeline.more_than_rows_one", max_rows=max_rows),
            max_rows=max_rows,
        )
    return parsed


async def chunks(
    stream: AsyncIterator[bytes],
    fmt: Format = "json",
    size: int = CHUNK_ROWS,
    max_rows: int | None = None,
) -> AsyncIterator[list[ParsedRow]]:
    """Rows of a request body, ``size`` at a time, read as the body arrives.

    Raises:
        TooManyRows: more than ``max_rows`` rows; raised when row ``max_rows + 1`` is read, so the
            rows of the chunk it falls in are never handed out.
        BodyMalformed: the body is not in the format (or a CSV header names no outcome columns).
    """
    batch: list[ParsedRow] = []
    if fmt == "xlsx":  # a zip: its directory is at the end
        whole = b"".join([data async for data in stream])
        for chunk in file_chunks([whole], fmt, size, max_rows):
            yield chunk
        return
    rows = decoder(fmt)
    async for data in stream:
        for parsed in rows.feed(data):
            batch.append(_capped(parsed, max_rows))
            if len(batch) >= size:
                yield batch
                batch = []
    for parsed in rows.feed(b"", final=True):
        batch.append(_capped(parsed, max_rows))
    if batch:
        yield batch


def file_chunks(
    blocks: Iterable[bytes], fmt: Format, size: int = CHUNK_ROWS, max_rows: int | None = None
) -> Iterator[list[ParsedRow]]:
    """:func:`chunks` for bytes at hand (a file read block by block, an uploaded form file)."""
    if fmt == "xlsx":
        rows: Iterator[ParsedRow] = xlsx_rows(b"".join(blocks))
    else:
        rows = _decoded(blocks, decoder(fmt))
    batch: list[ParsedRow] = []
    for parsed in rows:
        batch.append(_capped(parsed, max_rows))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _decoded(blocks: Iterable[bytes], rows: Decoder) -> Iterator[ParsedRow]:
    for data in blocks:
        yield from rows.feed(data)
    yield from rows.feed(b"", final=True)


def xlsx_rows(data: bytes) -> Iterator[ParsedRow]:
    """Rows of the first sheet of an XLSX workbook, with the CSV dialect's header and cells; a date
    cell is a date.

    Raises:
        CsvHeaderInvalid: not an XLSX workbook, or its header names no outcome columns.
    """
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise CsvHeaderInvalid(msg("detail.outcomes.pipeline.file_xlsx_workbook")) from exc
    if unpacked > MAX_XLSX_UNPACKED:  # a zip bomb: refused before anything is decompressed
        raise CsvHeaderInvalid(
            msg(
                "detail.outcomes.pipeline.workbook_unpacks_more_than",
                value=MAX_XLSX_UNPACKED // (1024 * 1024),
            )
        )
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors alike
        raise CsvHeaderInvalid(msg("detail.outcomes.pipeline.file_xlsx_workbook")) from exc
    try:
        sheet = book.worksheets[0]
        values = sheet.iter_rows(values_only=True, max_col=MAX_XLSX_CELLS)
        header = next(values, None)
        fields = read_header([_cell_text(c) for c in header or ()][: _width(header or ())])
        number = 0
        for record in values:
            cells = [_cell_text(c) for c in record[: len(fields)]]
            cells += [""] * (len(fields) - len(cells))
            if not any(cells):
                continue
            number += 1
            yield validate_row(number, row_body(fields, cells))
    finally:
        book.close()


def _width(header: tuple[Any, ...]) -> int:
    """Columns up to the last named one (a sheet's header often ends in empty cells)."""
    named = [i for i, cell in enumerate(header) if cell is not None and str(cell).strip()]
    return named[-1] + 1 if named else 0


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- posting ---------------------------------------------------------------------------------------


def _report(result: service.RowResult) -> RowReport:
    rec = result.recognition
    report = RowReport(
        row=result.row,
        reference=result.reference,
        status=result.status,
        outcome_id=result.outcome.id if result.outcome else None,
        recognition=rec.status if rec else None,
        credits=rec.credits if rec else None,
        error=result.error.to_problem() if result.error else None,
    )
    return reasons.explained(report, rec, result.error)


def failed(parsed: ParsedRow, error: CreditBankError) -> RowReport:
    """The report of a row that failed before or while posting."""
    report = RowReport(row=parsed.row, reference=parsed.reference, status="error", error=error.to_problem())
    return reasons.explained(report, None, error)


def _post(ctx: AppContext, institution_id: str, rows: list[ParsedRow]) -> list[RowReport]:
    """Post rows in one transaction. Raises what the transaction raises (then nothing is kept)."""
    good = [(p.row, p.item) for p in rows if p.item is not None]
    with contextmanager(transaction)(ctx.sessions) as session:
        institution = institutions.lookup(session, institution_id)
        results = {r.row: _report(r) for r in service.post_rows(session, ctx, institution, good)}
    return [results[p.row] for p in rows]


def post_chunk(ctx: AppContext, institution_id: str, parsed: list[ParsedRow]) -> list[RowReport]:
    """Post one chunk in one transaction; if the chunk as a whole fails, row by row."""
    reports = {p.row: failed(p, p.error) for p in parsed if p.error is not None}
    todo = [p for p in parsed if p.item is not None]
    if todo:
        try:
            done = _post(ctx, institution_id, todo)
        except (CreditBankError, DataError) as exc:
            if len(todo) == 1:
                error = exc if isinstance(exc, CreditBankError) else _unstorable(exc)
                done = [failed(todo[0], error)]
            else:
                done = [report for p in todo for report in post_chunk(ctx, institution_id, [p])]
        reports.update({r.row: r for r in done})
    return [reports[p.row] for p in parsed]


def _unstorable(exc: DataError) -> UnstorableRow:
    return UnstorableRow(msg("detail.outcomes.pipeline.unstorable_row", kind=type(exc.orig).__name__))


def post_all(
    ctx: AppContext, institution_id: str, parsed: Iterable[list[ParsedRow]], summary: BatchSummary
) -> Iterator[RowReport]:
    """Post chunk after chunk; yield each row's report as its chunk commits, counting it in ``summary``."""
    for chunk in parsed:
        for report in post_chunk(ctx, institution_id, chunk):
            summary.add(report.status, report.recognition)
            yield report


# -- report files ----------------------------------------------------------------------------------


def report_cells(report: RowReport) -> list[object]:
    """One report row as the cells of :data:`REPORT_COLUMNS`."""
    error = report.error or {}
    return [
        report.row,
        report.reference,
        report.status,
        report.outcome_id,
        report.recognition,
        report.credits,
        report.reason_zh,
        report.reason_en,
        error.get("type", ""),
        error.get("detail", ""),
    ]


def report_csv(reports: Iterable[RowReport]) -> Iterator[str]:
    """The report as CSV text, line by line (UTF-8 with a BOM, so Excel reads the Chinese)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(REPORT_COLUMNS)
    for report in reports:
        writer.writerow(report_cells(report))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def report_xlsx(reports: Iterable[RowReport]) -> bytes:
    """The report as an XLSX workbook; text cells that a spreadsheet would read as a formula are
    escaped like the CSV's (:func:`creditbank.spreadsheets.safe_cell`)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("上传报告 report")
    sheet.append(list(REPORT_COLUMNS))
    for report in reports:
        sheet.append([_xlsx_cell(value) for value in report_cells(report)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return safe_cell(value) or None
