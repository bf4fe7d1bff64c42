"""The statistics (数据看板) as an export: the figures of the page, one line per row of its tables,
and the same figures for each institution of the scope (with its name).

The figures are read when the export is asked for (they are a few thousand rows whatever the
number of outcomes) and written as any export: through :func:`creditbank.spreadsheets.safe_cell`,
so an institution named ``=HYPERLINK(...)`` is text in CSV and XLSX alike.
"""

from collections.abc import Iterator, Sequence
from decimal import Decimal

from sqlmodel import Session, col, select

from creditbank.dashboards import service as dashboards
from creditbank.dashboards.service import Counts, Scope
from creditbank.exports.service import Export
from creditbank.institutions import districts
from creditbank.institutions.models import Institution

HEADER = (
    "section",
    "key",
    "name",
    "accounts",
    "posted",
    "recognised",
    "recognised_credits",
    "conversions",
    "conversion_credits",
    "transfers",
    "backlog_district",
    "backlog_city",
    "decided",
    "turnaround_days",
)
"""``section``: total, month (key ``2026-12``), district (its Chinese name), institution (its id,
``name`` its Chinese name), category, level (``0``: none) or type (the outcome type); the last three
fill only the recognised (credits) or posted columns."""


def _counts(c: Counts) -> tuple[object, ...]:
    return (
        c.accounts,
        c.posted,
        c.recognised,
        c.recognised_credits,
        c.conversions,
        c.conversion_credits,
        c.transfers,
        c.backlog_district,
        c.backlog_city,
        c.decided,
        c.turnaround_days,
    )


def _partial(
    posted: int | None = None, recognised: int | None = None, credits: Decimal | None = None
) -> tuple[object, ...]:
    return (None, posted, recognised, credits, None, None, None, None, None, None, None)


def lines(session: Session, scope: Scope) -> list[Sequence[object]]:
    """The rows of the statistics export of ``scope`` (see :data:`HEADER`)."""
    board = dashboards.dashboard(session, scope)
    places = dashboards.by_institution(session, scope)
    names = dict(
        session.exec(
            select(col(Institution.id), col(Institution.name_zh)).where(col(Institution.id).in_(list(places)))
        ).all()
    )
    out: list[Sequence[object]] = [("total", "", "", *_counts(board.total))]
    out += [("month", m.strftime("%Y-%m"), "", *_counts(c)) for m, c in board.by_month.items()]
    out += [("district", d, "", *_counts(c)) for d, c in board.by_district.items()]
    out += [("institution", i, names.get(i, ""), *_counts(c)) for i, c in places.items()]
    out += [
        ("category", k, "", *_partial(recognised=n, credits=s))
        for k, (n, s) in board.credits_by_category.items()
    ]
    out += [
        ("level", str(k), "", *_partial(recognised=n, credits=s))
        for k, (n, s) in board.credits_by_level.items()
    ]
    out += [("type", k, "", *_partial(posted=n)) for k, n in board.posted_by_type.items()]
    return out


def statistics_of(session: Session, scope: Scope) -> Export:
    """The statistics export of ``scope``, its figures read now (in ``session``)."""
    rows = lines(session, scope)

    def read(_: Session) -> Iterator[Sequence[object]]:
        return iter(rows)

    name = "statistics"
    if scope.district is not None and scope.institution_id is None:
        name += f"-{districts.district(scope.district).code}"
    if scope.institution_id is not None:
        name += f"-{scope.institution_id}"
    return Export(name, HEADER, read, lambda _: len(rows))
