"""The rules' decisions a process keeps for single postings with the same facts
(creditbank.outcomes.service.Decisions): the same decision as evaluating, and never one made under
another rule set, date or kind of issuer."""

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.db import construct
from creditbank.outcomes import records, service
from creditbank.outcomes.models import Outcome
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import evaluate, load_rule_set
from tests.conftest import Tokens
from tests.outcomes.factories import PILOT, raised_training_maximum
from tests.support.factories import create_institution, create_learner

TODAY = dt.date.today()


def _item(hours: int = 160) -> OutcomeCreate:
    return OutcomeCreate(
        learner_id="lrn_decisions",
        reference="D-1",
        outcome_type="training_course",
        title="数控车床操作培训",
        achieved_on=TODAY - dt.timedelta(days=20),
        hours=Decimal(hours),
    )


def _outcome(item: OutcomeCreate) -> Outcome:
    return construct(
        Outcome, **{**item.model_dump(exclude={"identity_number", "learner_name"}), "id": "out_d"}
    )


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every evaluation of the rules, by a fresh store of decisions."""
    calls: list[Any] = []

    def counting(*args: Any) -> Any:
        calls.append(args)
        return evaluate(*args)

    monkeypatch.setattr(service, "evaluate", counting)
    monkeypatch.setattr(service, "decisions", service.Decisions())
    return calls


def test_a_changed_rule_set_date_or_issuer_is_evaluated_again(counted: list[Any], tmp_path: Path) -> None:
    pilot = load_rule_set(PILOT)
    raised = load_rule_set(raised_training_maximum(tmp_path / "raised"))
    assert (raised.id, raised.version) == (pilot.id, pilot.version) and raised.hash != pilot.hash
    item = _item()
    facts = service._facts_key(item)

    first = service.decisions.decide(pilot, _outcome(item), "training_body", TODAY, facts)
    again = service.decisions.decide(pilot, _outcome(item), "training_body", TODAY, facts)
    assert again is first and len(counted) == 1
    assert first == evaluate(pilot, records.outcome_facts(_outcome(item), "training_body"), TODAY)

    # the same facts under the changed rules: their decision, not the kept one
    changed = service.decisions.decide(raised, _outcome(item), "training_body", TODAY, facts)
    assert len(counted) == 2
    assert (first.credits, changed.credits) == (Decimal(6), Decimal(8))
    service.decisions.decide(pilot, _outcome(item), "university", TODAY, facts)
    service.decisions.decide(pilot, _outcome(item), "training_body", TODAY + dt.timedelta(days=1), facts)
    other = _item(hours=48)
    service.decisions.decide(pilot, _outcome(other), "training_body", TODAY, service._facts_key(other))
    assert len(counted) == 5


def test_postings_of_a_cohort_get_the_decision_evaluated_for_the_first(
    client: TestClient, auth: Tokens, counted: list[Any]
) -> None:
    headers = auth(Role.institution, create_institution(client, auth(Role.admin)))
    answers = []
    for n in range(3):
        body = _item(hours=48).model_dump(mode="json", exclude_none=True)
        body.update(learner_id=create_learner(client, headers), reference=f"C-{n}")
        posted = client.post("/api/v1/outcomes", json=body, headers={**headers, "Idempotency-Key": f"c-{n}"})
        assert posted.status_code == 201, posted.text
        answers.append(posted.json()["recognition"])
    assert len(counted) == 1
    assert answers[0]["status"] == "recognised" and Decimal(answers[0]["credits"]) == Decimal(3)
    same = ("status", "credits", "rule_id", "rule_set_hash", "explanation_zh", "explanation_en")
    assert all({k: a[k] for k in same} == {k: answers[0][k] for k in same} for a in answers)
