"""The turnaround's trigger on ``outcome_events`` runs for a reviewer's (or an admin's) decision only: a
posting's history row, written by the institution, runs no trigger function (a statement trigger once
ran one for every posting, to add nothing). Counted with PostgreSQL's own per-transaction function
statistics, through real HTTP; the figure a decision adds is the one counted from the base tables."""

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlmodel import Session

from creditbank.dashboards import service
from tests.conftest import Tokens
from tests.outcomes.factories import training
from tests.outcomes.test_review_districts import TwoDistricts, reviewer
from tests.support.postgres import as_superuser

FUNCTION = "dashboard_outcome_events_insert"


def _calls(db: Connection) -> int:
    with as_superuser(db):
        return int(
            db.execute(
                text("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE funcname = :f"),
                {"f": FUNCTION},
            ).scalar_one()
        )


def _turnaround(rows: list[service.Row]) -> list[tuple[str, str, int]]:
    return sorted((r.key, r.status, r.n) for r in rows if r.measure == "turnaround" and r.grain == "district")


def test_only_a_decision_runs_the_turnaround_trigger(
    client: TestClient, auth: Tokens, db: Connection, session: Session
) -> None:
    with as_superuser(db):
        db.execute(text("SET LOCAL track_functions = 'all'"))
    world = TwoDistricts(client, auth)  # an institution in each district, each with an outcome in review
    world.haidian.posted(training("T-1"))  # recognised at once by the rules
    assert _calls(db) == 0  # three postings and their history rows: no call
    chaoyang = reviewer(client, auth, "朝阳审核", "朝阳区")
    rejected = world.chaoyang.decide(world.in_chaoyang, chaoyang, decision="reject", stage="district")
    assert rejected.status_code == 200, rejected.text
    assert _calls(db) == 1  # the decision's history row
    city = service.Scope(city=True)
    service.refresh(session)
    assert _turnaround(service.rows(session, city)) == _turnaround(service.direct_rows(session, city))
    assert any(
        key == "朝阳区" and status == "rejected"
        for key, status, _ in _turnaround(service.rows(session, city))
    )
