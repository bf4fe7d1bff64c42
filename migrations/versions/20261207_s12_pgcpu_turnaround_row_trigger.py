"""the statistics' turnaround trigger on outcome_events: a row trigger with a WHEN condition

``dashboard_outcome_events_insert`` was a statement-level trigger: it ran its function (a join of the
statement's new rows with outcomes and institutions) for every ``INSERT`` into ``outcome_events``,
although only a reviewer's or an admin's decision (``recognised``/``rejected``) adds a turnaround
figure; every single posting's history row ran it to add nothing. It is now a row trigger whose
``WHEN`` holds exactly that condition: PostgreSQL tests it on the row, in the executor, and calls no
function for a posting's row. A decision adds the same figure as before (one delta row per decision
instead of one per statement and key: the fold adds them up the same).

Revision ID: s12_pgcpu
Revises: s8_passkeys_3
Create Date: 2026-12-07 07:40:00+00:00
"""

# ruff: noqa: S608 - the SQL is built from fixed names in this module

from collections.abc import Sequence

from alembic import op

revision: str = "s12_pgcpu"
down_revision: str | None = "s8_passkeys_3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "month, district, institution_id, measure, outcome_type, status, stage, category, level"

ROW_FUNCTION = f"""
CREATE FUNCTION dashboard_outcome_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO dashboard_deltas ({COLUMNS}, n, credits, seconds)
SELECT date_trunc('month', NEW.at AT TIME ZONE 'Asia/Shanghai')::date, i.district, o.institution_id,
       'turnaround', o.outcome_type, NEW.kind, '', '', 0, 1, 0, extract(epoch FROM NEW.at - o.created_at)
FROM outcomes o JOIN institutions i ON i.id = o.institution_id
WHERE o.id = NEW.outcome_id;
RETURN NULL; END $$"""
ROW_TRIGGER = (
    "CREATE TRIGGER dashboard_outcome_events_insert AFTER INSERT ON outcome_events FOR EACH ROW "
    "WHEN (NEW.kind IN ('recognised', 'rejected') AND NEW.actor_role IN ('reviewer', 'admin')) "
    "EXECUTE FUNCTION dashboard_outcome_events_insert()"
)

# as 20261206_s8_dash_figures.py made it (for the downgrade)
STATEMENT_FUNCTION = f"""
CREATE FUNCTION dashboard_outcome_events_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
INSERT INTO dashboard_deltas ({COLUMNS}, n, credits, seconds)
SELECT date_trunc('month', e.at AT TIME ZONE 'Asia/Shanghai')::date, i.district, o.institution_id,
       'turnaround', o.outcome_type, e.kind, '', '', 0, count(*), 0, sum(extract(epoch FROM e.at - o.created_at))
FROM new_rows e JOIN outcomes o ON o.id = e.outcome_id JOIN institutions i ON i.id = o.institution_id
WHERE e.kind IN ('recognised', 'rejected') AND e.actor_role IN ('reviewer', 'admin')
GROUP BY 1, 2, 3, 5, 6;
RETURN NULL; END $$"""
STATEMENT_TRIGGER = (
    "CREATE TRIGGER dashboard_outcome_events_insert AFTER INSERT ON outcome_events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dashboard_outcome_events_insert()"
)
DROP = (
    "DROP TRIGGER dashboard_outcome_events_insert ON outcome_events",
    "DROP FUNCTION dashboard_outcome_events_insert()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (*DROP, ROW_FUNCTION, ROW_TRIGGER):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in (*DROP, STATEMENT_FUNCTION, STATEMENT_TRIGGER):
        op.execute(statement)
