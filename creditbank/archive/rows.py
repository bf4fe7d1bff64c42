"""Plain rows for a read model: Core ``SELECT``s run on the driver, in one round trip.

:func:`pipelined_reads` serves the archive (:mod:`creditbank.archive.service`), whose half a dozen
reads through the session each cost a statement's compiling, cache-key and result machinery, and a
round trip. Nothing here is specific to the archive: another read model may use it.
"""

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from creditbank.db import pg_connection, translated_errors


@dataclass
class _ReadPlan:
    """A Core ``SELECT`` compiled once for the driver: its SQL, its default parameters, and its
    columns' names and result processors (made at the first answer, from the types it reports)."""

    sql: str
    params: dict[str, Any]
    names: list[str]
    row: Any  # a collections.namedtuple class
    processors: list[Callable[[Any], Any] | None] | None = None

    def rows(self, cursor: "psycopg.Cursor[Any]", dialect: Dialect, statement: Any) -> list[Any]:
        found = cursor.fetchall()
        if self.processors is None:
            description = cursor.description or []
            self.processors = [
                column.type._cached_result_processor(dialect, d.type_code)
                for column, d in zip(statement.selected_columns, description, strict=True)
            ]
        processors = self.processors
        if not any(processors):
            return [self.row._make(r) for r in found]
        make = self.row._make
        return [
            make([v if p is None or v is None else p(v) for p, v in zip(processors, r, strict=True)])
            for r in found
        ]


_READ_PLANS: dict[tuple[int, str], _ReadPlan] = {}


def _read_plan(statement: Any, dialect: Dialect) -> _ReadPlan:
    key = (id(statement), dialect.name)
    plan = _READ_PLANS.get(key)
    if plan is None:
        compiled = statement.compile(dialect=dialect)
        names = [c.key for c in statement.selected_columns]
        plan = _READ_PLANS[key] = _ReadPlan(
            sql=compiled.string,
            params=dict(compiled.params),
            names=names,
            row=collections.namedtuple("Row", names, rename=True),
        )
    return plan


def pipelined_reads(session: Session, reads: "list[tuple[Any, dict[str, Any]]]") -> list[list[Any]] | None:
    """On PostgreSQL, the rows of each of ``reads`` (a module-level Core ``SELECT`` with named bind
    parameters, never an expanding one, and its parameters) in ONE round trip (a psycopg pipeline)
    on the session's connection and transaction: each row a named tuple of the values the session
    would give (the columns' own result processors: aware UTC times, credits as ``Decimal``), with
    no ORM objects and no per-statement compiling. None elsewhere (the caller runs them through
    the session)."""
    driver = pg_connection(session)
    if driver is None:
        return None
    dialect = session.get_bind().dialect
    plans = [_read_plan(statement, dialect) for statement, _ in reads]
    cursors = [driver.cursor() for _ in reads]
    try:
        with translated_errors(plans[0].sql), driver.pipeline():
            for cursor, plan, (_, params) in zip(cursors, plans, reads, strict=True):
                cursor.execute(plan.sql, {**plan.params, **params})
        return [
            plan.rows(cursor, dialect, statement)
            for cursor, plan, (statement, _) in zip(cursors, plans, reads, strict=True)
        ]
    finally:
        for cursor in cursors:
            cursor.close()
