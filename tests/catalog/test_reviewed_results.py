"""A shared course's result that the rules send to review (课程跨校共享, issue 17 point 4): when the
review later approves it, the home school's equivalence converts it in the approving transaction,
under the consent given at enrolment; not when the consent was withdrawn, and nothing when the review
rejects it. Through real HTTP against the app, with a copy of the pilot rules in which a degree
course's result is always reviewed."""

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.catalog.courses_scenario import Schools, build_schools
from tests.conftest import Tokens
from tests.outcomes.factories import PILOT

DEGREE_CATEGORY = "    category: degree_course\n"
ALWAYS_REVIEWED = (
    "    review:\n"
    "      mode: always\n"
    "      reason: {zh: 跨校课程成绩须经两级审核, en: a shared course's result is reviewed in two stages}\n"
)


def reviewed_degree_courses(target: Path) -> Path:
    """A copy of the pilot set whose degree-course rule sends every result to review."""
    shutil.copytree(PILOT, target)
    recognition = target / "recognition.yaml"
    rules = recognition.read_text(encoding="utf-8")
    at = rules.index(DEGREE_CATEGORY, rules.index("id: BJ-REC-DEG")) + len(DEGREE_CATEGORY)
    recognition.write_text(rules[:at] + ALWAYS_REVIEWED + rules[at:], encoding="utf-8")
    return target


@pytest.fixture
def reviewed(ctx: AppContext, tmp_path: Path) -> AppContext:
    rules = reviewed_degree_courses(tmp_path / "rules" / "pilot")
    return dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"rules_dir": rules.parent}))


@pytest.fixture
def schools(reviewed: AppContext) -> Iterator[Schools]:
    with TestClient(create_app(ctx=reviewed), raise_server_exceptions=False) as client:
        yield build_schools(client, Tokens(reviewed))


def _result_in_review(s: Schools, *, revoke: bool = False) -> dict[str, Any]:
    """Enrol, approve (naming the equivalence), accept, maybe revoke the consent, post the result."""
    r = s.post(f"/api/v1/shared-courses/{s.course}/enrolments", {"programme_id": s.programme}, s.learner_h)
    assert r.status_code == 201, r.text
    enrolment = r.json()
    r = s.post(f"/api/v1/enrolments/{enrolment['id']}/approve", {"equivalence_id": s.equivalence}, s.home_h)
    assert r.status_code == 200, r.text
    r = s.post(f"/api/v1/enrolments/{enrolment['id']}/accept", {}, s.host_h)
    assert r.status_code == 200, r.text
    if revoke:
        r = s.post(f"/api/v1/consents/{enrolment['consent_id']}/revoke", {}, s.learner_h)
        assert r.status_code == 200, r.text
    r = s.post(
        f"/api/v1/enrolments/{enrolment['id']}/result",
        {"achieved_on": dt.date.today().isoformat(), "score": 88, "grade": "良好"},
        s.host_h,
    )
    assert r.status_code == 200, r.text
    done: dict[str, Any] = r.json()
    assert done["result"] == "in_review" and done["conversion_id"] is None and done["lot_id"] is None
    return done


def _decide(s: Schools, outcome_id: str, reviewer: dict[str, str], stage: str, decision: str) -> Any:
    return s.post(
        f"/api/v1/reviews/{outcome_id}/decision",
        {"decision": decision, "reason": "成绩单与课程记录一致", "stage": stage},
        reviewer,
    )


def _converted(s: Schools) -> Decimal:
    r = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h)
    assert r.status_code == 200, r.text
    return sum((Decimal(c["converted"]) for c in r.json()["categories"]), Decimal(0))


def test_two_approvals_convert_the_result_into_the_programme_seen_by_all_three(
    schools: Schools, auth: Tokens
) -> None:
    s = schools
    done = _result_in_review(s)
    assert _converted(s) == 0
    first, second = auth(Role.reviewer), auth(Role.reviewer)
    r = _decide(s, done["outcome_id"], first, "district", "approve")
    assert r.status_code == 200, r.text
    # the first stage converts nothing yet
    enrolment = s.client.get(f"/api/v1/enrolments/{done['id']}", headers=s.learner_h).json()
    assert enrolment["result"] == "in_review" and enrolment["conversion_id"] is None
    r = _decide(s, done["outcome_id"], second, "city", "approve")
    assert r.status_code == 200, r.text
    lot = r.json()["outcome"]["recognition"]["lot_id"]
    assert lot
    # the learner's programme shows the equivalence's 4 credits (not the course's 3)
    assert _converted(s) == 4
    # learner, home and host see the same chain: result, lot and conversion
    seen = []
    for headers in (s.learner_h, s.home_h, s.host_h):
        r = s.client.get(f"/api/v1/enrolments/{done['id']}", headers=headers)
        assert r.status_code == 200, r.text
        seen.append((r.json()["result"], r.json()["lot_id"], r.json()["conversion_id"]))
    assert seen[0] == seen[1] == seen[2] and seen[0][:2] == ("converted", lot) and seen[0][2]
    archive = s.client.get(f"/api/v1/learners/{s.learner}/archive", headers=s.learner_h).json()
    [conversion] = [c for c in archive["conversions"] if lot in c["lot_ids"]]
    assert conversion["programme_id"] == s.programme and conversion["institution_id"] == s.home
    [consent] = [
        c
        for c in s.client.get("/api/v1/consents", headers=s.learner_h).json()
        if c["id"] == done["consent_id"]
    ]
    assert consent["state"] == "used"
    # a third school still sees nothing of it
    r = s.client.get(f"/api/v1/enrolments/{done['id']}", headers=s.other_h)
    assert r.status_code == 404 and r.json()["type"].endswith("enrolment-not-found")


def test_a_consent_withdrawn_before_the_approval_converts_nothing(schools: Schools, auth: Tokens) -> None:
    s = schools
    done = _result_in_review(s, revoke=True)
    for reviewer, stage in ((auth(Role.reviewer), "district"), (auth(Role.reviewer), "city")):
        r = _decide(s, done["outcome_id"], reviewer, stage, "approve")
        assert r.status_code == 200, r.text
    enrolment = s.client.get(f"/api/v1/enrolments/{done['id']}", headers=s.home_h).json()
    assert enrolment["result"] == "consent_revoked" and enrolment["conversion_id"] is None
    assert enrolment["lot_id"]  # the result is banked in the learner's archive all the same
    assert _converted(s) == 0


def test_a_rejected_result_is_not_recognised_and_converts_nothing(schools: Schools, auth: Tokens) -> None:
    s = schools
    done = _result_in_review(s)
    r = _decide(s, done["outcome_id"], auth(Role.reviewer), "district", "reject")
    assert r.status_code == 200, r.text
    enrolment = s.client.get(f"/api/v1/enrolments/{done['id']}", headers=s.host_h).json()
    assert enrolment["result"] == "not_recognised" and enrolment["conversion_id"] is None
    assert _converted(s) == 0
