"""The statistics (数据看板): who sees which figures, the fold of the summary, and the figures.

How this works: :func:`scope_for` turns the caller and the filters they asked for into a
:class:`Scope` (refusing a district or institution outside what the caller may see);
:func:`rows` reads the figures of a scope, grouped by month, district, kind and the outcome's
dimensions: from ``dashboard_figures`` on PostgreSQL (after :func:`refresh` folded the pending
deltas, see :mod:`creditbank.dashboards.models`) and from the base tables on SQLite.
:func:`direct_rows` computes the same figures from the base tables on any database: it is the
reference the summary is tested against. :func:`build` turns rows into the dashboard's tables.
"""

# ruff: noqa: S608 - the SQL is built from fixed names in this module; values go as parameters

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session

from creditbank.auth.models import ReviewerAccount, Role
from creditbank.auth.service import Principal
from creditbank.errors import Forbidden
from creditbank.i18n import msg
from creditbank.institutions import districts
from creditbank.institutions.models import Institution

FOLD_LOCK = 0x64617368  # pg_advisory_xact_lock key of the fold ("dash")
CENT = Decimal("0.01")
GRAINS = ("month", "district", "category", "level", "type")
"""The groupings a dashboard shows: each figure is added up by (measure, status, stage) and one of
these (the outcome's type as ``type``)."""


class DashboardOutOfScope(Forbidden):
    slug = "dashboard-out-of-scope"
    title = "These figures are outside what you may see"


@dataclass(frozen=True)
class Scope:
    """Whose figures: every district (``district`` None), one district, or one institution."""

    district: str | None = None
    institution_id: str | None = None
    city: bool = False  # the caller sees every district (may filter by one)


@dataclass(frozen=True)
class Row:
    """A figure added up by one of :data:`GRAINS`: ``key`` is the month (``2026-12-01``), the
    district, the category, the level or the outcome type."""

    grain: str
    key: str
    measure: str
    status: str
    stage: str
    n: int
    credits: Decimal
    seconds: Decimal


def scope_for(
    session: Session, who: Principal, district: str | None = None, institution_id: str | None = None
) -> Scope:
    """The scope of figures ``who`` asked for: the city centre (admins and city reviewers) any district
    or institution; a district sub-centre's reviewer only their district (or one of its
    institutions); an institution only itself.

    Raises:
        UnknownDistrict: ``district`` names none of the city's districts.
        DashboardOutOfScope: a district or institution outside the caller's.
    """
    wanted = districts.district(district).name_zh if district else None
    institution = session.get(Institution, institution_id) if institution_id else None
    if institution_id and institution is None:
        raise DashboardOutOfScope(msg("detail.dashboards.institution_outside", institution=institution_id))
    if who.role is Role.institution:
        own = session.get(Institution, who.subject or "")
        if own is None or (institution is not None and institution.id != own.id):
            raise DashboardOutOfScope(
                msg("detail.dashboards.institution_outside", institution=institution_id or "")
            )
        if wanted is not None and wanted != own.district:
            raise DashboardOutOfScope(msg("detail.dashboards.district_outside", district=wanted))
        return Scope(district=own.district, institution_id=own.id)
    mine: str | None = None
    if who.role is Role.reviewer:
        account = session.get(ReviewerAccount, who.subject or "")
        mine = account.district if account is not None else None
    if mine is not None:
        if wanted is not None and wanted != mine:
            raise DashboardOutOfScope(msg("detail.dashboards.district_outside", district=wanted))
        if institution is not None and institution.district != mine:
            raise DashboardOutOfScope(
                msg("detail.dashboards.institution_outside", institution=institution.id)
            )
        return Scope(district=mine, institution_id=institution.id if institution else None)
    if institution is not None:
        if wanted is not None and institution.district != wanted:
            raise DashboardOutOfScope(
                msg("detail.dashboards.institution_outside", institution=institution.id)
            )
        return Scope(district=institution.district, institution_id=institution.id, city=True)
    return Scope(district=wanted, city=True)


TIMELINE = "#m"
"""``institution_id`` of the rows by district and month (no outcome type, category or level)."""
KINDS = "#k"
"""``institution_id`` of the rows by district, outcome type, category and level (no month)."""
NO_MONTH = "2000-01-01"


def refresh(session: Session) -> None:
    """Fold the pending deltas into ``dashboard_figures`` (PostgreSQL; nothing to do elsewhere).

    One statement deletes the deltas this transaction sees and adds them to the figures at three
    grains: per institution (every column), per district and month (:data:`TIMELINE`) and per
    district and kind (:data:`KINDS`); the district and city dashboards read only the last two, a
    few thousand rows whatever the number of outcomes. Deltas of transactions not committed yet
    stay for the next fold. Folds take turns (an advisory lock), so two never add to the same keys
    in different orders.
    """
    bind = session.connection()
    if bind.dialect.name != "postgresql":
        return
    bind.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FOLD_LOCK})
    bind.execute(
        text(
            f"""
            WITH moved AS (DELETE FROM dashboard_deltas RETURNING *),
            grains AS ({_grains("moved")})
            INSERT INTO dashboard_figures AS f (institution_id, {KEYS}, n, credits, seconds)
            SELECT institution_id, {KEYS}, sum(n), sum(credits), sum(seconds) FROM grains
            GROUP BY institution_id, {KEYS}
            ON CONFLICT (institution_id, {KEYS}) DO UPDATE
            SET n = f.n + excluded.n, credits = f.credits + excluded.credits,
                seconds = f.seconds + excluded.seconds
            """
        )
    )


KEYS = "district, month, measure, outcome_type, status, stage, category, level"
"""The summary's key after ``institution_id``."""


def _grains(deltas: str) -> str:
    """The rows of ``deltas`` (a table or CTE shaped like ``dashboard_deltas``) at the summary's three
    grains: per institution, per district and month (:data:`TIMELINE`), per district and kind
    (:data:`KINDS`)."""
    return f"""
        SELECT institution_id, {KEYS}, n, credits, seconds FROM {deltas} WHERE institution_id <> ''
        UNION ALL
        SELECT '{TIMELINE}', district, month, measure, '', status, stage, '', 0, n, credits, seconds
        FROM {deltas}
        UNION ALL
        SELECT '{KINDS}', district, DATE '{NO_MONTH}', measure, outcome_type, status, stage, category,
               level, n, credits, seconds
        FROM {deltas}"""


def _figures(session: Session) -> str:
    """Where a read finds the folded figures: ``dashboard_figures`` after a fold; on a read-only
    connection (a standby, or ``default_transaction_read_only``), where a fold cannot write, the
    summary and the pending deltas at the same grains, added up by the read instead."""
    if session.connection().execute(text("SHOW transaction_read_only")).scalar_one() != "on":
        refresh(session)
        return "dashboard_figures"
    return (
        f"(SELECT institution_id, {KEYS}, n, credits, seconds FROM dashboard_figures "
        f"UNION ALL {_grains('dashboard_deltas')}) AS figures"
    )


def rows(session: Session, scope: Scope) -> list[Row]:
    """The figures of ``scope`` by each of :data:`GRAINS` (groups whose count and sums are all zero
    left out): from the summary on PostgreSQL, after a fold (on a read-only connection, the summary
    plus the pending deltas, see :func:`_figures`); from the base tables elsewhere."""
    if session.connection().dialect.name != "postgresql":
        return direct_rows(session, scope)
    source = _figures(session)
    columns = "month, district, measure, outcome_type, status, stage, category, level, n, credits, seconds"
    where, params = "", {}
    if scope.district is not None:
        where, params = " AND district = :district", {"district": scope.district}
    if scope.institution_id is not None:
        params["inst"] = scope.institution_id
        mine = f"SELECT {columns} FROM {source} WHERE institution_id = :inst{where}"
        return _grouped(session, mine, mine, params)
    return _grouped(
        session,
        f"SELECT {columns} FROM {source} WHERE institution_id = '{TIMELINE}'{where}",
        f"SELECT {columns} FROM {source} WHERE institution_id = '{KINDS}'{where}",
        params,
    )


def _grouped(session: Session, timeline: str, kinds: str, params: dict[str, str]) -> list[Row]:
    """Add up the figures by each grain: month and district from what ``timeline`` selects, category,
    level and type from what ``kinds`` selects (the same query for an institution, or for the base
    tables; then it is read once, as a CTE)."""
    keys = {"month": "month", "district": "district", "category": "category", "level": "level"}
    keys["type"] = "outcome_type"
    parts = [
        f"SELECT '{grain}', CAST({column} AS VARCHAR), measure, status, stage, sum(n), sum(credits), "
        f"sum(seconds) FROM {'timeline' if grain in ('month', 'district') else 'kinds'} "
        f"GROUP BY {column}, measure, status, stage "
        "HAVING sum(n) <> 0 OR sum(credits) <> 0 OR sum(seconds) <> 0"
        for grain, column in keys.items()
    ]
    ctes = (
        f"WITH timeline AS ({timeline}), kinds AS (SELECT * FROM timeline) "
        if timeline == kinds
        else f"WITH timeline AS ({timeline}), kinds AS ({kinds}) "
    )
    result = session.connection().execute(text(ctes + " UNION ALL ".join(parts)), params)
    return [_row(r) for r in result]


def _month(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"date_trunc('month', {column} AT TIME ZONE 'Asia/Shanghai')::date"
    return f"date({column}, '+8 hours', 'start of month')"


def _direct_base(session: Session, scope: Scope) -> tuple[str, dict[str, str]]:
    """The query of every figure of ``scope`` from the base tables, one row per counted thing."""
    conn = session.connection()
    dialect = conn.dialect.name

    def m(column: str) -> str:
        return _month(dialect, column)

    epoch = (
        "extract(epoch FROM e.at - o.created_at)"
        if dialect == "postgresql"
        else "(julianday(e.at) - julianday(o.created_at)) * 86400"
    )
    sources = [
        f"""SELECT {m("l.created_at")} AS month, coalesce(i.district, '') AS district,
            coalesce(i.id, '') AS inst, 'accounts' AS measure, '' AS outcome_type, '' AS status,
            '' AS stage, '' AS category, 0 AS level, 1 AS n, 0 AS credits, 0 AS seconds
            FROM learners l LEFT JOIN institutions i ON i.id = l.registered_by""",
        f"""SELECT {m("o.created_at")}, i.district, o.institution_id, 'posted', o.outcome_type, '', '',
            '', 0, 1, 0, 0
            FROM outcomes o JOIN institutions i ON i.id = o.institution_id""",
        f"""SELECT {m("o.created_at")}, i.district, o.institution_id, 'recognition', o.outcome_type,
            r.status, coalesce(r.stage, ''), coalesce(r.category, ''), coalesce(r.level, 0), 1,
            r.credits, 0
            FROM recognitions r JOIN outcomes o ON o.id = r.outcome_id
            JOIN institutions i ON i.id = o.institution_id""",
        f"""SELECT {m("c.created_at")}, i.district, c.institution_id, 'conversion', '', '', '', '', 0,
            1, c.credits, 0
            FROM conversions c JOIN institutions i ON i.id = c.institution_id""",
        f"""SELECT {m("t.created_at")}, i.district, t.destination_institution_id, 'transfer', '',
            t.status, '', '', 0, 1, 0, 0
            FROM transfer_requests t JOIN institutions i ON i.id = t.destination_institution_id""",
        f"""SELECT {m("e.at")}, i.district, o.institution_id, 'turnaround', o.outcome_type, e.kind, '',
            '', 0, 1, 0, {epoch}
            FROM outcome_events e JOIN outcomes o ON o.id = e.outcome_id
            JOIN institutions i ON i.id = o.institution_id
            WHERE e.kind IN ('recognised', 'rejected') AND e.actor_role IN ('reviewer', 'admin')""",
    ]
    where, params = [], {}
    if scope.institution_id is not None:
        where.append("inst = :inst")
        params["inst"] = scope.institution_id
    if scope.district is not None:
        where.append("district = :district")
        params["district"] = scope.district
    filtered = f"WHERE {' AND '.join(where)}" if where else ""
    base = (
        "SELECT month, district, inst, measure, outcome_type, status, stage, category, level, n, credits, "
        "seconds FROM (" + " UNION ALL ".join(sources) + f") AS figures {filtered}"
    )
    return base, params


def direct_rows(session: Session, scope: Scope) -> list[Row]:
    """The same figures as :func:`rows`, counted from the base tables (slow on large databases: the
    reference the summary is tested against, and the figures on SQLite)."""
    base, params = _direct_base(session, scope)
    return _grouped(session, base, base, params)


def _row(r: Sequence[object]) -> Row:
    return Row(
        grain=str(r[0]),
        key=str(r[1]),
        measure=str(r[2]),
        status=str(r[3]),
        stage=str(r[4]),
        n=int(str(r[5])),
        credits=_decimal(r[6]).quantize(CENT),
        seconds=_decimal(r[7]).quantize(Decimal("0.000001")),
    )


def _decimal(value: object) -> Decimal:
    # SQLite sums the credits it keeps as text in floating point: two decimals recover the exact sum
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


@dataclass
class Counts:
    """One line of a dashboard table."""

    accounts: int = 0
    posted: int = 0
    recognised: int = 0
    recognised_credits: Decimal = Decimal(0)
    conversions: int = 0
    conversion_credits: Decimal = Decimal(0)
    transfers: int = 0
    backlog_district: int = 0
    backlog_city: int = 0
    decided: int = 0
    decided_seconds: Decimal = Decimal(0)

    @property
    def backlog(self) -> int:
        return self.backlog_district + self.backlog_city

    @property
    def turnaround_days(self) -> Decimal | None:
        """Mean days from posting to the end of review, or None when no review ended."""
        if not self.decided:
            return None
        return (self.decided_seconds / self.decided / 86400).quantize(Decimal("0.1"))


@dataclass
class Dashboard:
    scope: Scope
    total: Counts = field(default_factory=Counts)
    by_month: dict[dt.date, Counts] = field(default_factory=dict)
    by_district: dict[str, Counts] = field(default_factory=dict)
    credits_by_category: dict[str, tuple[int, Decimal]] = field(default_factory=dict)
    credits_by_level: dict[int, tuple[int, Decimal]] = field(default_factory=dict)
    posted_by_type: dict[str, int] = field(default_factory=dict)


def _add(counts: Counts, row: Row) -> None:
    if row.measure == "accounts":
        counts.accounts += row.n
    elif row.measure == "posted":
        counts.posted += row.n
    elif row.measure == "recognition" and row.status == "recognised":
        counts.recognised += row.n
        counts.recognised_credits += row.credits
    elif row.measure == "recognition" and row.status == "review":
        if row.stage == "city":
            counts.backlog_city += row.n
        else:
            counts.backlog_district += row.n
    elif row.measure == "conversion":
        counts.conversions += row.n
        counts.conversion_credits += row.credits
    elif row.measure == "transfer":
        counts.transfers += row.n
    elif row.measure == "turnaround":
        counts.decided += row.n
        counts.decided_seconds += row.seconds


def build(scope: Scope, figures: Iterable[Row]) -> Dashboard:
    """The dashboard's tables from the rows of :func:`rows` (or :func:`direct_rows`)."""
    board = Dashboard(scope=scope)
    by_month: dict[dt.date, Counts] = defaultdict(Counts)
    by_district: dict[str, Counts] = defaultdict(Counts)
    category: dict[str, tuple[int, Decimal]] = {}
    level: dict[int, tuple[int, Decimal]] = {}
    posted: dict[str, int] = defaultdict(int)
    for row in figures:
        if row.grain == "month":
            _add(board.total, row)
            _add(by_month[dt.date.fromisoformat(row.key[:10])], row)
        elif row.grain == "district":
            _add(by_district[row.key], row)
        elif row.measure == "recognition" and row.status == "recognised" and row.grain == "category":
            n, credits = category.get(row.key, (0, Decimal(0)))
            category[row.key] = (n + row.n, credits + row.credits)
        elif row.measure == "recognition" and row.status == "recognised" and row.grain == "level":
            n, credits = level.get(int(row.key), (0, Decimal(0)))
            level[int(row.key)] = (n + row.n, credits + row.credits)
        elif row.measure == "posted" and row.grain == "type":
            posted[row.key] += row.n
    board.by_month = dict(sorted(by_month.items()))
    board.by_district = dict(sorted(by_district.items()))
    board.credits_by_category = dict(sorted(category.items()))
    board.credits_by_level = dict(sorted(level.items()))
    board.posted_by_type = dict(sorted(posted.items()))
    return board


def dashboard(session: Session, scope: Scope) -> Dashboard:
    """The dashboard of ``scope``."""
    return build(scope, rows(session, scope))


def business_totals(session: Session) -> Counts:
    """The whole bank's totals (for ``/metrics``)."""
    return build(Scope(city=True), rows(session, Scope(city=True))).total


def by_institution(session: Session, scope: Scope, direct: bool = False) -> dict[str, Counts]:
    """The figures of ``scope`` for each institution (accounts no institution registered left out):
    from the summary's per-institution rows on PostgreSQL, after a fold; from the base tables
    elsewhere or when ``direct``."""
    columns = "measure, status, stage, sum(n), sum(credits), sum(seconds)"
    if direct or session.connection().dialect.name != "postgresql":
        base, params = _direct_base(session, scope)
        query = (
            f"SELECT inst, {columns} FROM ({base}) AS f WHERE inst <> '' "
            "GROUP BY inst, measure, status, stage"
        )
    else:
        source = _figures(session)
        where, params = [f"institution_id NOT IN ('{TIMELINE}', '{KINDS}')"], {}
        if scope.district is not None:
            where.append("district = :district")
            params["district"] = scope.district
        if scope.institution_id is not None:
            where.append("institution_id = :inst")
            params["inst"] = scope.institution_id
        query = (
            f"SELECT institution_id, {columns} FROM {source} WHERE {' AND '.join(where)} "
            "GROUP BY institution_id, measure, status, stage"
        )
    counts: dict[str, Counts] = defaultdict(Counts)
    for r in session.connection().execute(text(query), params):
        row = _row(("institution", *r))
        _add(counts[row.key], row)
    return dict(sorted(counts.items()))
