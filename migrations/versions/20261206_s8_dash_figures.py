"""the statistics' summary: dashboard_figures, dashboard_deltas and the triggers that feed them

On PostgreSQL, statement-level triggers (with transition tables) on learners, outcomes,
recognitions, conversions, transfer_requests and outcome_events append each statement's changes,
grouped, to ``dashboard_deltas``; a dashboard read folds them into ``dashboard_figures``
(``creditbank.dashboards``). The upgrade counts what the base tables already hold into
``dashboard_figures``, so a database with history starts with correct figures. SQLite gets the
tables only (its dashboards read the base tables).

Revision ID: s8_dash
Revises: s8_courses
Create Date: 2026-12-06 19:30:00+00:00
"""

# ruff: noqa: S608 - the SQL is built from fixed names in this module; values go as parameters

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s8_dash"
down_revision: str | None = "s8_courses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "month, district, institution_id, measure, outcome_type, status, stage, category, level"
MONTH = "date_trunc('month', {} AT TIME ZONE 'Asia/Shanghai')::date"

# each source: (table, events, SELECT of delta rows from a transition table named "rows" with
# sign ":s"), written once and used by the triggers and by the upgrade's first count
ACCOUNTS = f"""
SELECT {MONTH.format("l.created_at")}, coalesce(i.district, ''), coalesce(i.id, ''), 'accounts',
       '', '', '', '', 0, count(*), 0, 0
FROM rows l LEFT JOIN institutions i ON i.id = l.registered_by
GROUP BY 1, 2, 3"""
POSTED = f"""
SELECT {MONTH.format("o.created_at")}, i.district, o.institution_id, 'posted',
       o.outcome_type, '', '', '', 0, count(*), 0, 0
FROM rows o JOIN institutions i ON i.id = o.institution_id
GROUP BY 1, 2, 3, 5"""
RECOGNITION = f"""
SELECT {MONTH.format("o.created_at")}, i.district, o.institution_id, 'recognition',
       o.outcome_type, r.status, coalesce(r.stage, ''), coalesce(r.category, ''), coalesce(r.level, 0),
       :s * count(*), :s * sum(r.credits), 0
FROM rows r JOIN outcomes o ON o.id = r.outcome_id JOIN institutions i ON i.id = o.institution_id
GROUP BY 1, 2, 3, 5, 6, 7, 8, 9"""
CONVERSION = f"""
SELECT {MONTH.format("c.created_at")}, i.district, c.institution_id, 'conversion',
       '', '', '', '', 0, count(*), sum(c.credits), 0
FROM rows c JOIN institutions i ON i.id = c.institution_id
GROUP BY 1, 2, 3"""
TRANSFER = f"""
SELECT {MONTH.format("t.created_at")}, i.district, t.destination_institution_id, 'transfer',
       '', t.status, '', '', 0, :s * count(*), 0, 0
FROM rows t JOIN institutions i ON i.id = t.destination_institution_id
GROUP BY 1, 2, 3, 6"""
TURNAROUND = f"""
SELECT {MONTH.format("e.at")}, i.district, o.institution_id, 'turnaround',
       o.outcome_type, e.kind, '', '', 0, count(*), 0, sum(extract(epoch FROM e.at - o.created_at))
FROM rows e JOIN outcomes o ON o.id = e.outcome_id JOIN institutions i ON i.id = o.institution_id
WHERE e.kind IN ('recognised', 'rejected') AND e.actor_role IN ('reviewer', 'admin')
GROUP BY 1, 2, 3, 5, 6"""

SOURCES: tuple[tuple[str, str], ...] = (
    ("learners", ACCOUNTS),
    ("outcomes", POSTED),
    ("recognitions", RECOGNITION),
    ("conversions", CONVERSION),
    ("transfer_requests", TRANSFER),
    ("outcome_events", TURNAROUND),
)
UPDATED = {"recognitions", "transfer_requests"}  # rows whose counted columns change
INSERT_DELTAS = f"INSERT INTO dashboard_deltas ({COLUMNS}, n, credits, seconds) "


def _function(table: str, event: str, select: str) -> str:
    if event == "insert":
        body = INSERT_DELTAS + select.replace(":s", "1").replace("FROM rows", "FROM new_rows")
    else:  # the old rows leave their keys, the new ones join theirs; what nets to nothing is dropped
        plus = select.replace(":s", "1").replace("FROM rows", "FROM new_rows")
        minus = select.replace(":s", "-1").replace("FROM rows", "FROM old_rows")
        body = (
            INSERT_DELTAS
            + f"SELECT {COLUMNS}, sum(n), sum(credits), sum(seconds) FROM ("
            + f"SELECT * FROM ({plus}) p({COLUMNS}, n, credits, seconds) UNION ALL "
            + f"SELECT * FROM ({minus}) m({COLUMNS}, n, credits, seconds)) d "
            + f"GROUP BY {COLUMNS} HAVING sum(n) <> 0 OR sum(credits) <> 0"
        )
    return (
        f"CREATE FUNCTION dashboard_{table}_{event}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {body}; RETURN NULL; END $$"
    )


def _trigger(table: str, event: str) -> str:
    tables = "NEW TABLE AS new_rows" + (" OLD TABLE AS old_rows" if event == "update" else "")
    return (
        f"CREATE TRIGGER dashboard_{table}_{event} AFTER {event.upper()} ON {table} "
        f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION dashboard_{table}_{event}()"
    )


def _events(table: str) -> tuple[str, ...]:
    return ("insert", "update") if table in UPDATED else ("insert",)


def _figure_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("credits", sa.Numeric(20, 2), nullable=False),
        sa.Column("seconds", sa.Numeric(24, 6), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "dashboard_figures",
        sa.Column("institution_id", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=60), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("outcome_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        *_figure_columns(),
        sa.PrimaryKeyConstraint(
            "institution_id",
            "district",
            "month",
            "measure",
            "outcome_type",
            "status",
            "stage",
            "category",
            "level",
            name=op.f("pk_dashboard_figures"),
        ),
    )
    op.create_table(
        "dashboard_deltas",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("district", sa.String(length=60), nullable=False),
        sa.Column("institution_id", sa.String(length=40), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("outcome_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        *_figure_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_deltas")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, select in SOURCES:
        for event in _events(table):
            op.execute(_function(table, event, select))
            op.execute(_trigger(table, event))
        # what the table holds already, counted once (the fold adds it up)
        op.execute(INSERT_DELTAS + select.replace(":s", "1").replace("FROM rows", f"FROM {table}"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _ in SOURCES:
            for event in _events(table):
                op.execute(f"DROP TRIGGER IF EXISTS dashboard_{table}_{event} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS dashboard_{table}_{event}()")
    op.drop_table("dashboard_deltas")
    op.drop_table("dashboard_figures")
