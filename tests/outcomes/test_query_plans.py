"""Bulk posting's reference lookup stays one index descent per reference, however stale the planner's
statistics: the institution's outcomes are never all read for a chunk (that made each upload slower
than the one before)."""

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.db import pg_connection
from creditbank.institutions import service as institutions
from creditbank.outcomes import service
from creditbank.outcomes.schemas import OutcomeCreate
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, training


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def test_posted_references_are_looked_up_by_index_with_stale_statistics(
    client: TestClient, auth: Tokens, ctx: AppContext, session: Session
) -> None:
    desk = Desk(client, auth)
    institution = institutions.get(session, desk.institution_id)
    # 3,000 outcomes of a new institution, in this transaction: the statistics know nothing of them
    rows = [
        (i, OutcomeCreate.model_validate(training(reference=f"R-{i}", learner_id=desk.learner_id)))
        for i in range(3000)
    ]
    posted = service.post_rows(session, ctx, institution, rows)
    assert {r.status for r in posted} == {"created"}
    driver = pg_connection(session)
    assert driver is not None
    refs = [f"R-{i}" for i in range(0, 3000, 3)] + [f"NEW-{i}" for i in range(1000)]
    with driver.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + service._PG_POSTED_REFERENCES, (refs, institution.id)
        )
        [[[explained]]] = cursor.fetchall()
    nodes = _nodes(explained["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "outcomes"]
    assert [n["Node Type"] for n in scans] == ["Index Scan"]
    assert scans[0]["Index Name"] == "uq_outcomes_institution_reference"
    # one descent per reference, each finding at most the one outcome
    assert scans[0]["Actual Loops"] == len(refs)
    assert scans[0]["Actual Rows"] <= 1
    assert not any("Hash" in n["Node Type"] or "Bitmap" in n["Node Type"] for n in nodes)
    # and the lookup finds exactly the posted ones
    found = service._posted_references(session, institution.id, refs)
    assert set(found) == {f"R-{i}" for i in range(0, 3000, 3)}
