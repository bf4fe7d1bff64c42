"""Exports an institution or an operator takes away: an institution's posted outcomes and the
conversions it made; the review log for the operators. CSV (UTF-8 with a BOM, for Excel) or XLSX.

How this works: each export is a query read in pages of :data:`PAGE` rows (keyset on the row id,
so memory stays flat however large the export), turned into rows of cells; :func:`csv_chunks`
and :func:`xlsx_file` write them. Every text cell passes :func:`creditbank.spreadsheets.safe_cell`
(a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``), in
XLSX too, where openpyxl would otherwise store such text as a formula.
"""

import io
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from sqlmodel import Session, col, func, select

from creditbank.catalog.models import Conversion
from creditbank.institutions import districts
from creditbank.institutions.models import Institution
from creditbank.outcomes.models import Outcome, OutcomeEvent, Recognition
from creditbank.spreadsheets import csv_writer, safe_cell

PAGE = 1000
REVIEW_KINDS = ("decision", "rejected", "recognised")


@dataclass(frozen=True)
class Export:
    name: str  # the file name without extension
    header: Sequence[str]
    rows: Callable[[Session], Iterator[Sequence[object]]]
    count: Callable[[Session], int]
    """How many rows :attr:`rows` yields (the header not counted): the total a progress bar shows."""


def _counter(stmt: Any) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return int(session.exec(select(func.count()).select_from(stmt.subquery())).one())

    return count


def _pages(session: Session, stmt: Any, key: Any, key_of: Callable[[Any], Any]) -> Iterator[Any]:
    """The rows of ``stmt`` in pages of :data:`PAGE`, by ``key`` (keyset paging: no OFFSET, no
    whole result in memory); ``key_of`` reads the key of a row."""
    last: Any = None
    while True:
        page = stmt if last is None else stmt.where(key > last)
        rows = session.exec(page.order_by(key).limit(PAGE)).all()
        yield from rows
        if len(rows) < PAGE:
            return
        last = key_of(rows[-1])


def outcomes_of(institution_id: str) -> Export:
    """The outcomes an institution posted, with their current recognition."""

    stmt = (
        select(Outcome, Recognition)
        .join(Recognition, col(Recognition.outcome_id) == col(Outcome.id))
        .where(col(Outcome.institution_id) == institution_id)
    )

    def rows(session: Session) -> Iterator[Sequence[object]]:
        for outcome, rec in _pages(session, stmt, col(Outcome.id), lambda r: r[0].id):
            yield (
                outcome.id,
                outcome.reference,
                outcome.learner_id,
                outcome.outcome_type,
                outcome.title,
                outcome.achieved_on.isoformat(),
                outcome.level,
                outcome.course_code,
                rec.status,
                rec.stage,
                rec.credits,
                rec.rule_id,
                rec.lot_id,
                outcome.created_at.isoformat(),
            )

    header = [
        "outcome_id",
        "reference",
        "learner_id",
        "outcome_type",
        "title",
        "achieved_on",
        "level",
        "course_code",
        "status",
        "stage",
        "credits",
        "rule_id",
        "lot_id",
        "posted_at",
    ]
    return Export(f"outcomes-{institution_id}", header, rows, _counter(stmt))


def conversions_of(institution_id: str) -> Export:
    """The conversions an institution made as the destination."""

    stmt = select(Conversion).where(col(Conversion.institution_id) == institution_id)

    def rows(session: Session) -> Iterator[Sequence[object]]:
        for row in _pages(session, stmt, col(Conversion.id), lambda r: r.id):
            yield (
                row.id,
                row.learner_id,
                row.programme_id,
                row.transfer_id,
                " ".join(row.lot_ids),
                row.credits,
                row.ledger_tx_id,
                row.created_at.isoformat(),
            )

    header = [
        "conversion_id",
        "learner_id",
        "programme_id",
        "transfer_id",
        "lot_ids",
        "credits",
        "ledger_tx_id",
        "converted_at",
    ]
    return Export(f"conversions-{institution_id}", header, rows, _counter(stmt))


def review_log(district: str | None = None) -> Export:
    """Every review decision (both stages), oldest first; only one district's when ``district`` is set."""

    stmt = (
        select(OutcomeEvent, Outcome, col(Institution.district))
        .join(Outcome, col(Outcome.id) == col(OutcomeEvent.outcome_id))
        .join(Institution, col(Institution.id) == col(Outcome.institution_id))
        .where(col(OutcomeEvent.kind).in_(REVIEW_KINDS), col(OutcomeEvent.actor_role) == "reviewer")
    )
    if district is not None:
        stmt = stmt.where(col(Institution.district) == district)

    def rows(session: Session) -> Iterator[Sequence[object]]:
        for event, outcome, place in _pages(session, stmt, col(OutcomeEvent.id), lambda r: r[0].id):
            yield (
                event.id,
                event.at.isoformat(),
                outcome.id,
                outcome.outcome_type,
                outcome.institution_id,
                place,
                event.kind,
                event.actor,
                event.detail_zh,
                event.detail_en,
                event.ledger_tx_id,
            )

    header = [
        "event_id",
        "decided_at",
        "outcome_id",
        "outcome_type",
        "institution_id",
        "district",
        "kind",
        "reviewer",
        "detail_zh",
        "detail_en",
        "ledger_tx_id",
    ]
    # the file name is ASCII (a header): the district by its GB/T 2260 code
    name = "review-log" + (f"-{districts.district(district).code}" if district else "")
    return Export(name, header, rows, _counter(stmt))


def csv_chunks(export: Export, session: Session) -> Iterator[bytes]:
    """The export as CSV, in chunks of about :data:`PAGE` rows (UTF-8 with a BOM)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(export.header)
    for n, row in enumerate(export.rows(session), start=1):
        writer.writerow(row)
        if n % PAGE == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_file(export: Export, session: Session) -> IO[bytes]:
    """The export as an XLSX workbook in a temporary file (openpyxl's write-only mode keeps memory
    flat), rewound; the caller streams and closes it."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(export.name[:31])
    sheet.append(list(export.header))
    for row in export.rows(session):
        sheet.append([safe_cell(v) if not _number(v) else v for v in row])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response that streams it
    book.save(handle)
    handle.seek(0)
    return handle


def _number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
