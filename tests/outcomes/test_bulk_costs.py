"""Bulk posting's own costs: the reference lookup stays one index descent per reference, however stale
the planner's statistics (the institution's outcomes are never all read for a chunk: that made each
upload slower than the one before), and rows with the same facts are evaluated once."""

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.db import pg_connection
from creditbank.institutions import service as institutions
from creditbank.outcomes import lookups, records, service
from creditbank.outcomes.rulesets import rule_book
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import OutcomeFacts, RuleSet, evaluate
from creditbank.rule_engine import Recognition as RuleRecognition
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
            "EXPLAIN (ANALYZE, FORMAT JSON) " + lookups._PG_POSTED_REFERENCES, (refs, institution.id)
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
    found = lookups.posted_references(session, institution.id, refs)
    assert set(found) == {f"R-{i}" for i in range(0, 3000, 3)}


def test_rows_with_the_same_facts_are_evaluated_once(
    client: TestClient, auth: Tokens, ctx: AppContext, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(client, auth)
    institution = institutions.get(session, desk.institution_id)
    evaluated: list[str] = []
    real_evaluate = evaluate

    def counted(rule_set: RuleSet, facts: OutcomeFacts, as_of: dt.date) -> RuleRecognition:
        evaluated.append(facts.title)
        return real_evaluate(rule_set, facts, as_of)

    monkeypatch.setattr(service, "evaluate", counted)
    monkeypatch.setattr(service, "decisions", service.Decisions())  # none kept from earlier postings
    bodies = [
        training(reference="A-1", hours=48),
        training(reference="A-2", hours=48),  # the same facts as A-1
        training(reference="A-3", hours=96),  # more hours
        training(reference="A-4", hours=48, title="电工作业培训"),  # another course
        training(reference="A-5", hours=48, attributes={"credits": 2}),  # another attribute
        training(reference="A-6", hours=48),  # A-1 again
    ]
    rows = [
        (i, OutcomeCreate.model_validate({**body, "learner_id": desk.learner_id}))
        for i, body in enumerate(bodies)
    ]
    results = service.post_rows(session, ctx, institution, rows)
    assert len(evaluated) == 4
    by_ref = {r.reference: r for r in results}
    for result in results:
        assert result.outcome is not None and result.recognition is not None
        assert result.recognition.outcome_id == result.outcome.id  # each its own recognition
    same = [by_ref[ref].recognition for ref in ("A-1", "A-2", "A-6")]
    assert len({(r.credits, r.explanation_en, r.rule_id) for r in same if r is not None}) == 1
    one, more = by_ref["A-1"].recognition, by_ref["A-3"].recognition
    assert one is not None and more is not None and more.credits > one.credits
    # each evaluated as if alone
    for ref, result in by_ref.items():
        assert result.outcome is not None and result.recognition is not None
        alone = real_evaluate(
            rule_book(ctx.settings.rules_dir).in_force(dt.date.today()),
            records.outcome_facts(result.outcome, institution.kind),
            dt.date.today(),
        )
        assert (alone.credits, alone.explanation.en) == (
            result.recognition.credits,
            result.recognition.explanation_en,
        ), ref
