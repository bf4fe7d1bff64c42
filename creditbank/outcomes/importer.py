"""Importing outcomes from a file (the command is ``creditbank import``, in :mod:`creditbank.outcomes.cli`).

How this works:

1. The file is read row by row (constant memory): CSV with a header of ``OutcomeCreate`` field
   names (attributes as ``attr.<name>`` columns; empty cells are left out), or JSON lines (a
   ``.json`` file may also hold one JSON array). Each row is validated like a row of the batch API.
2. Rows are posted ``--chunk`` at a time through the same service function as the batch API
   (:func:`creditbank.outcomes.service.post_rows`), each chunk in its own transaction. Should a
   whole chunk fail (the database refusing a value), its rows are retried one by one, so only the
   bad row fails.
3. Every row gets a line in the report (CSV or JSON lines, by the report's extension; by default
   ``FILE.report.csv`` or ``FILE.report.jsonl`` beside the input), written as chunks finish.

Re-running a file after an interruption applies nothing twice: rows already posted come back as
``duplicate`` (same reference, same content). The command exits 1 when any row failed.
"""

import csv
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.exc import DataError
from tqdm import tqdm

from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.errors import CreditBankError, ValidationFailed
from creditbank.institutions import service as institutions
from creditbank.outcomes import service
from creditbank.outcomes.batch import CHUNK_ROWS, ParsedRow, RowDecoder, RowInvalid, validate_row
from creditbank.outcomes.schemas import OutcomeCreate, RowReport
from creditbank.spreadsheets import csv_writer

ATTRIBUTE_PREFIX = "attr."
CSV_SUFFIXES = (".csv",)
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
REPORT_COLUMNS = (
    "row",
    "reference",
    "status",
    "outcome_id",
    "recognition",
    "credits",
    "error_type",
    "error_detail",
)
_INTEGER = re.compile(r"^-?[0-9]{1,15}$")
_READ_BYTES = 256 * 1024


class ImportFileInvalid(ValidationFailed):
    slug = "import-file-invalid"
    title = "The import file cannot be read as outcomes"


class UnstorableRow(ValidationFailed):
    slug = "unstorable-value"
    title = "The row holds a value that cannot be stored"


@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    duplicate: int = 0
    errors: int = 0
    recognised: int = 0
    review: int = 0
    rejected: int = 0
    report: Path | None = None

    def add(self, report: RowReport) -> None:
        self.rows += 1
        if report.status == "created":
            self.created += 1
            if report.recognition == "recognised":
                self.recognised += 1
            elif report.recognition == "review":
                self.review += 1
            elif report.recognition == "rejected":
                self.rejected += 1
        elif report.status == "duplicate":
            self.duplicate += 1
        else:
            self.errors += 1

    def line(self) -> str:
        return (
            f"{self.rows} rows: {self.created} created ({self.recognised} recognised, "
            f"{self.review} in review, {self.rejected} rejected), "
            f"{self.duplicate} duplicate, {self.errors} failed"
        )


# -- reading -------------------------------------------------------------------------------------


def file_format(path: Path) -> str:
    """``csv`` or ``jsonl`` by the file's extension.

    Raises: ImportFileInvalid.
    """
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSON_SUFFIXES:
        return "jsonl"
    raise ImportFileInvalid(f"{path.name}: use a .csv or .jsonl file")


def _attribute(value: str) -> str | int | bool:
    """A CSV cell as an attribute: true/false and whole numbers keep their JSON type."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INTEGER.match(value):
        return int(value)
    return value


def _check_header(columns: list[str] | None, path: Path) -> None:
    if not columns:
        raise ImportFileInvalid(f"{path.name}: no header row")
    known = set(OutcomeCreate.model_fields) - {"attributes"}
    unknown = [
        c
        for c in columns
        if c not in known and not (c.startswith(ATTRIBUTE_PREFIX) and len(c) > len("attr."))
    ]
    if unknown:
        raise ImportFileInvalid(
            f"{path.name}: unknown column(s) {', '.join(unknown)}; use OutcomeCreate field names and "
            f"attr.<name> for attributes",
            columns=unknown,
        )
    if len(set(columns)) != len(columns):
        raise ImportFileInvalid(f"{path.name}: a column appears twice")


def csv_rows(handle: TextIO, path: Path) -> Iterator[ParsedRow]:
    """Rows of a CSV file (UTF-8, optional BOM), 1-based after the header.

    Raises: ImportFileInvalid (bad header).
    """
    reader = csv.DictReader(handle)
    _check_header(list(reader.fieldnames or []), path)
    for number, record in enumerate(reader, start=1):
        if None in record or any(v is None for v in record.values()):
            reference = record.get("reference") or None
            yield ParsedRow(
                number, None, reference, RowInvalid("the row has more or fewer cells than the header")
            )
            continue
        value: dict[str, Any] = {}
        attributes: dict[str, Any] = {}
        for column, cell in record.items():
            text = (cell or "").strip()
            if not text:
                continue
            if column.startswith(ATTRIBUTE_PREFIX):
                attributes[column[len(ATTRIBUTE_PREFIX) :]] = _attribute(text)
            else:
                value[column] = text
        if attributes:
            value["attributes"] = attributes
        yield validate_row(number, value)


def json_rows(handle: TextIO) -> Iterator[ParsedRow]:
    """Rows of a JSON lines file (or of one JSON array), read incrementally.

    Raises: BatchMalformed (the file is not JSON lines or an array).
    """
    decoder = RowDecoder()
    while block := handle.read(_READ_BYTES):
        yield from decoder.feed(block.encode("utf-8"))
    yield from decoder.feed(b"", final=True)


def count_rows(path: Path, fmt: str) -> int | None:
    """Rows in the file, for the progress bar (None when it cannot tell cheaply)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if fmt == "csv":
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
        first = handle.read(1024).lstrip()
        if first.startswith("["):
            return None
        handle.seek(0)
        return sum(1 for line in handle if line.strip())


# -- posting -------------------------------------------------------------------------------------


def _report(result: service.RowResult) -> RowReport:
    return RowReport(
        row=result.row,
        reference=result.reference,
        status=result.status,
        outcome_id=result.outcome.id if result.outcome else None,
        recognition=result.recognition.status if result.recognition else None,
        credits=result.recognition.credits if result.recognition else None,
        error=result.error.to_problem() if result.error else None,
    )


def _failed(parsed: ParsedRow, error: CreditBankError) -> RowReport:
    return RowReport(row=parsed.row, reference=parsed.reference, status="error", error=error.to_problem())


def _post(ctx: AppContext, institution_id: str, rows: list[ParsedRow]) -> list[RowReport]:
    """Post rows in one transaction. Raises what the transaction raises (then nothing is kept)."""
    good = [(p.row, p.item) for p in rows if p.item is not None]
    with contextmanager(transaction)(ctx.sessions) as session:
        institution = institutions.lookup(session, institution_id)
        results = {r.row: _report(r) for r in service.post_rows(session, ctx, institution, good)}
    return [results[p.row] for p in rows]


def post_chunk(ctx: AppContext, institution_id: str, parsed: list[ParsedRow]) -> list[RowReport]:
    """Post one chunk in one transaction; if the chunk as a whole fails, row by row."""
    reports = {p.row: _failed(p, p.error) for p in parsed if p.error is not None}
    todo = [p for p in parsed if p.item is not None]
    if todo:
        try:
            done = _post(ctx, institution_id, todo)
        except (CreditBankError, DataError) as exc:
            if len(todo) == 1:
                error = exc if isinstance(exc, CreditBankError) else _unstorable(exc)
                done = [_failed(todo[0], error)]
            else:
                done = [report for p in todo for report in post_chunk(ctx, institution_id, [p])]
        reports.update({r.row: r for r in done})
    return [reports[p.row] for p in parsed]


def _unstorable(exc: DataError) -> UnstorableRow:
    return UnstorableRow(f"the database refused a value of this row ({type(exc.orig).__name__})")


class _ReportWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.writer = csv_writer(self.handle) if self.csv else None
        if self.writer is not None:
            self.writer.writerow(REPORT_COLUMNS)

    def write(self, reports: list[RowReport]) -> None:
        for report in reports:
            if self.writer is not None:
                error = report.error or {}
                self.writer.writerow(
                    [
                        report.row,
                        report.reference,
                        report.status,
                        report.outcome_id,
                        report.recognition,
                        report.credits,
                        error.get("type", ""),
                        error.get("detail", ""),
                    ]
                )
            else:
                self.handle.write(report.model_dump_json() + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def default_report_path(path: Path, fmt: str) -> Path:
    return path.with_name(f"{path.stem}.report.{'csv' if fmt == 'csv' else 'jsonl'}")


def _check_institution(ctx: AppContext, institution_id: str) -> None:
    with contextmanager(transaction)(ctx.sessions) as session:
        institutions.get(session, institution_id)


def import_file(
    ctx: AppContext,
    path: Path,
    institution_id: str,
    *,
    chunk: int = CHUNK_ROWS,
    report_path: Path | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Import a CSV or JSON lines file for one institution (see the module docstring).

    Raises:
        ImportFileInvalid: unknown extension, unreadable file, bad CSV header.
        BatchMalformed: a JSON file that is neither JSON lines nor an array.
        InstitutionNotFound: no such institution (checked before anything is posted).
    """
    if chunk < 1:
        raise ImportFileInvalid("--chunk must be at least 1")
    fmt = file_format(path)
    if not path.is_file():
        raise ImportFileInvalid(f"{path}: no such file")
    _check_institution(ctx, institution_id)
    target = report_path or default_report_path(path, fmt)
    if target.resolve() == path.resolve():
        raise ImportFileInvalid("the report would overwrite the file being imported; choose another --report")
    summary = ImportSummary(report=target)
    try:
        total = count_rows(path, fmt)
        handle = path.open(encoding="utf-8-sig", newline="")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileInvalid(f"{path.name}: {exc}") from exc
    writer = _ReportWriter(target)
    bar = tqdm(total=total, unit="row", desc=path.name, disable=not progress, leave=True)
    try:
        rows = csv_rows(handle, path) if fmt == "csv" else json_rows(handle)
        batch: list[ParsedRow] = []
        for parsed in rows:
            batch.append(parsed)
            if len(batch) >= chunk:
                _flush(ctx, institution_id, batch, writer, summary, bar)
        if batch:
            _flush(ctx, institution_id, batch, writer, summary, bar)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileInvalid(f"{path.name}: {exc}") from exc
    finally:
        bar.close()
        writer.close()
        handle.close()
    return summary


def _flush(
    ctx: AppContext,
    institution_id: str,
    batch: list[ParsedRow],
    writer: _ReportWriter,
    summary: ImportSummary,
    bar: "tqdm[Any]",
) -> None:
    reports = post_chunk(ctx, institution_id, batch)
    writer.write(reports)
    for report in reports:
        summary.add(report)
    bar.update(len(batch))
    batch.clear()


def report_rows(path: Path) -> list[dict[str, Any]]:
    """Read a report back (CSV or JSON lines), e.g. in tests or scripts."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            return list(csv.DictReader(handle))
        return [json.loads(line) for line in handle if line.strip()]
