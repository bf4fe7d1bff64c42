"""Importing outcomes from a file (the command is ``creditbank import``, in :mod:`creditbank.outcomes.cli`).

The file goes through the one batch pipeline (:mod:`creditbank.outcomes.pipeline`), as the batch API
and the console's upload do: CSV in the one dialect (:mod:`creditbank.outcomes.dialect`: UTF-8 or
GB18030, field names or their Chinese/English labels), JSON lines (a ``.json`` file may also hold
one JSON array) or an XLSX workbook, read block by block (a workbook whole) and posted ``--chunk``
rows at a time, each chunk in its own transaction.

Every row gets a line in the report, written as chunks finish: CSV, XLSX or JSON lines by the
report's extension (by default ``FILE.report.csv`` beside a CSV or XLSX file, ``FILE.report.jsonl``
beside a JSON one), with the columns of :data:`creditbank.outcomes.pipeline.REPORT_COLUMNS`.

Re-running a file after an interruption applies nothing twice: rows already posted come back as
``duplicate`` (same reference, same content). The command exits 1 when any row failed.
"""

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.errors import ValidationFailed
from creditbank.i18n import Message, msg
from creditbank.institutions import service as institutions
from creditbank.outcomes import pipeline
from creditbank.outcomes.batch import CHUNK_ROWS
from creditbank.outcomes.dialect import CsvHeaderInvalid
from creditbank.outcomes.pipeline import UnstorableRow, post_chunk
from creditbank.outcomes.schemas import BatchSummary, RowReport
from creditbank.spreadsheets import csv_writer

__all__ = ["ImportFileInvalid", "ImportSummary", "UnstorableRow", "import_file", "post_chunk", "report_rows"]

SUFFIXES: dict[str, pipeline.Format] = {
    ".csv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
    ".xlsx": "xlsx",
}
REPORT_COLUMNS = pipeline.REPORT_COLUMNS
_READ_BYTES = 256 * 1024


class ImportFileInvalid(ValidationFailed):
    slug = "import-file-invalid"
    title = "The import file cannot be read as outcomes"


class ImportSummary(BatchSummary):
    """The batch counts, and where the report went."""

    report: Path

    def said(self) -> Message:
        """The summary line, to be said in the reader's language."""
        return msg(
            "import.summary",
            rows=self.rows,
            created=self.created,
            recognised=self.recognised,
            review=self.review,
            rejected=self.rejected,
            duplicate=self.duplicate,
            errors=self.errors,
        )


def file_format(path: Path) -> pipeline.Format:
    """``csv``, ``json`` or ``xlsx`` by the file's extension.

    Raises: ImportFileInvalid.
    """
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ImportFileInvalid(msg("detail.outcomes.importer.use_csv_jsonl_xlsx", name=path.name))
    return fmt


class ReportWriter:
    """The report file, written chunk by chunk (an XLSX one when the upload ends)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = {".csv": "csv", ".xlsx": "xlsx"}.get(path.suffix.lower(), "json")
        self.rows: list[RowReport] = []
        self.handle = None if self.kind == "xlsx" else path.open("w", encoding="utf-8", newline="")
        self.writer = csv_writer(self.handle) if self.kind == "csv" and self.handle else None
        if self.writer is not None and self.handle is not None:
            self.handle.write("\ufeff")
            self.writer.writerow(REPORT_COLUMNS)

    def write(self, reports: list[RowReport]) -> None:
        if self.kind == "xlsx":
            self.rows.extend(reports)
            return
        assert self.handle is not None
        for report in reports:
            if self.writer is not None:
                self.writer.writerow(pipeline.report_cells(report))
            else:
                self.handle.write(report.model_dump_json() + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.kind == "xlsx":
            self.path.write_bytes(pipeline.report_xlsx(self.rows))
        elif self.handle is not None:
            self.handle.close()


def default_report_path(path: Path, fmt: pipeline.Format) -> Path:
    return path.with_name(f"{path.stem}.report.{'jsonl' if fmt == 'json' else 'csv'}")


def _check_institution(ctx: AppContext, institution_id: str) -> None:
    with contextmanager(transaction)(ctx.sessions) as session:
        institutions.get(session, institution_id)


def _blocks(path: Path, bar: "tqdm[Any]") -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(_READ_BYTES):
            bar.update(len(block))
            yield block


def import_file(
    ctx: AppContext,
    path: Path,
    institution_id: str,
    *,
    chunk: int = CHUNK_ROWS,
    report_path: Path | None = None,
    progress: bool = False,
) -> ImportSummary:
    """Import a CSV, JSON lines or XLSX file for one institution (see the module docstring).

    Raises:
        ImportFileInvalid: unknown extension, unreadable file, bad CSV header.
        BodyMalformed: a file that is not in its format (a JSON file neither JSON lines nor an
            array, a CSV file neither UTF-8 nor GB18030).
        InstitutionNotFound: no such institution (checked before anything is posted).
    """
    if chunk < 1:
        raise ImportFileInvalid(msg("detail.outcomes.importer.chunk_must_least"))
    fmt = file_format(path)
    if not path.is_file():
        raise ImportFileInvalid(msg("detail.outcomes.importer.no_such_file", path=path))
    _check_institution(ctx, institution_id)
    target = report_path or default_report_path(path, fmt)
    if target.resolve() == path.resolve():
        raise ImportFileInvalid(msg("detail.outcomes.importer.report_would_overwrite_file"))
    summary = ImportSummary(**pipeline.new_summary().model_dump(), report=target)
    bar = tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name, disable=not progress)
    writer = ReportWriter(target)
    try:
        chunks = pipeline.file_chunks(_blocks(path, bar), fmt, chunk)
        for parsed in chunks:
            reports = post_chunk(ctx, institution_id, parsed)
            for report in reports:
                summary.add(report.status, report.recognition)
            writer.write(reports)
    except CsvHeaderInvalid as exc:
        raise ImportFileInvalid(
            msg("detail.outcomes.importer.header_invalid", name=path.name, reason=exc.said), **exc.extensions
        ) from exc
    except OSError as exc:
        raise ImportFileInvalid(
            msg("detail.outcomes.importer.file_unreadable", name=path.name, exc=exc)
        ) from exc
    finally:
        bar.close()
        writer.close()
    return summary


def report_rows(path: Path) -> list[dict[str, Any]]:
    """Read a report back (CSV or JSON lines), e.g. in tests or scripts."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        rows = list(book.worksheets[0].iter_rows(values_only=True))
        book.close()
        names = [str(c) for c in rows[0]]
        return [{n: ("" if v is None else v) for n, v in zip(names, r, strict=False)} for r in rows[1:]]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if path.suffix.lower() == ".csv":
            return list(csv.DictReader(handle))
        return [json.loads(line) for line in handle if line.strip()]
