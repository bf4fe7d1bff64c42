"""The graduation audit (学业进度) through real HTTP: per category earned, converted, planned and
missing, and suggestions planned by the rule engine's equivalences; who may read it."""

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from tests.catalog.courses_scenario import Schools, build_schools, course_body
from tests.conftest import Tokens
from tests.support.factories import grant

PROBLEM = "application/problem+json"
CURRICULUM: dict[str, Any] = {
    "courses": [
        {
            "code": "C-REQ1",
            "title_zh": "思想道德与法治",
            "title_en": "Ethics and Law",
            "category": "required",
            "credits": 3,
        },
        {
            "code": "C-DS",
            "title_zh": "数据结构",
            "title_en": "Data Structures",
            "category": "major",
            "credits": 4,
        },
        {
            "code": "C-NET",
            "title_zh": "计算机网络",
            "title_en": "Networks",
            "category": "major",
            "credits": 4,
        },
        {
            "code": "C-MATH",
            "title_zh": "高等数学",
            "title_en": "Calculus",
            "category": "general",
            "credits": 2,
        },
    ],
    "requirements": {"required": 3, "major": 8, "general": 2, "elective": 4},
}


def _equivalence(s: Schools, source_code: str, code: str, title: str, credits: int) -> str:
    r = s.post(
        "/api/v1/equivalences",
        {
            "requires": {"lot": {"course_code": source_code, "outcome_type": "degree_course"}},
            "destination_kind": "course",
            "destination_code": code,
            "destination_title_zh": title,
            "destination_title_en": title,
            "credits": credits,
        },
        s.home_h,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _degree_course(s: Schools, headers: dict[str, str], code: str, credits: int) -> Any:
    r = s.post(
        "/api/v1/outcomes",
        {
            "learner_id": s.learner,
            "reference": f"course-{code}",
            "outcome_type": "degree_course",
            "title": code,
            "course_code": code,
            "achieved_on": (dt.date.today() - dt.timedelta(days=30)).isoformat(),
            "score": 80,
            "attributes": {"credits": credits},
        },
        headers,
    )
    assert r.status_code == 201 and r.json()["recognition"]["status"] == "recognised", r.text
    return r.json()


@pytest.fixture
def schools(client: TestClient, auth: Tokens) -> Schools:
    s = build_schools(client, auth)
    r = s.client.put(f"/api/v1/programmes/{s.programme}/curriculum", json=CURRICULUM, headers=s.home_h)
    assert r.status_code == 200, r.text
    return s


def _figures(body: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        c["category"]: {k: float(c[k]) for k in ("needed", "earned", "converted", "planned", "missing")}
        for c in body["categories"]
    }


def test_the_audit_counts_earned_planned_converted_and_missing_per_category(schools: Schools) -> None:
    s = schools
    _degree_course(s, s.home_h, "C-REQ1", 3)  # the home school's own required course
    progress = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h)
    assert progress.status_code == 200, progress.text
    figures = _figures(progress.json())
    assert figures["required"] == {"needed": 3, "earned": 3, "converted": 0, "planned": 0, "missing": 0}
    assert figures["major"]["missing"] == 8
    # enrolling in the host's CS201 plans 4 major credits (the home school's equivalence to C-DS)
    enrolment = s.post(
        f"/api/v1/shared-courses/{s.course}/enrolments", {"programme_id": s.programme}, s.learner_h
    )
    assert enrolment.status_code == 201, enrolment.text
    body = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h).json()
    assert _figures(body)["major"] == {"needed": 8, "earned": 0, "converted": 0, "planned": 4, "missing": 4}
    assert {c["code"]: c["state"] for c in body["courses"]} == {
        "C-REQ1": "earned",
        "C-DS": "planned",
        "C-NET": "open",
        "C-MATH": "open",
    }
    # the result converts: planned becomes converted
    e = enrolment.json()["id"]
    s.post(f"/api/v1/enrolments/{e}/approve", {"equivalence_id": s.equivalence}, s.home_h)
    s.post(f"/api/v1/enrolments/{e}/accept", {}, s.host_h)
    done = s.post(
        f"/api/v1/enrolments/{e}/result", {"achieved_on": dt.date.today().isoformat(), "score": 77}, s.host_h
    )
    assert done.json()["result"] == "converted", done.text
    body = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h).json()
    assert _figures(body)["major"] == {"needed": 8, "earned": 0, "converted": 4, "planned": 0, "missing": 4}
    assert {c["code"]: c["state"] for c in body["courses"]}["C-DS"] == "converted"


def test_suggestions_come_from_the_equivalences_for_the_gaps_only(schools: Schools) -> None:
    s = schools
    # an unconverted lot from another school that the home school's equivalence maps to C-MATH (general)
    _equivalence(s, "MATH101", "C-MATH", "高等数学", 2)
    lot = _degree_course(s, s.other_h, "MATH101", 3)["recognition"]["lot_id"]
    # a second open course at the host, mapped to C-NET (major)
    net = s.post("/api/v1/shared-courses", course_body(code="NET301", title_zh="网络工程"), s.host_h).json()[
        "id"
    ]
    _equivalence(s, "NET301", "C-NET", "计算机网络", 4)
    body = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h).json()
    found = {(x["kind"], x["ref"]): x for x in body["suggestions"]}
    assert (
        found[("lot", lot)]["category"] == "general" and found[("lot", lot)]["destination_code"] == "C-MATH"
    )
    assert found[("shared_course", net)]["category"] == "major"
    assert found[("shared_course", s.course)]["destination_code"] == "C-DS"
    assert all(x["category"] in {"required", "major", "general", "elective"} for x in body["suggestions"])
    # nothing is suggested for a category with no gap (required is met by nothing here, but no
    # equivalence maps to it), and an enrolled course is no longer suggested
    assert not [x for x in body["suggestions"] if x["category"] == "required"]
    s.post(f"/api/v1/shared-courses/{net}/enrolments", {"programme_id": s.programme}, s.learner_h)
    body = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h).json()
    assert ("shared_course", net) not in {(x["kind"], x["ref"]) for x in body["suggestions"]}


def test_the_registrar_sees_each_learner_and_lot_suggestions_only_under_a_grant(
    schools: Schools, client: TestClient, auth: Tokens
) -> None:
    s = schools
    _equivalence(s, "MATH101", "C-MATH", "高等数学", 2)
    lot = _degree_course(s, s.other_h, "MATH101", 3)["recognition"]["lot_id"]
    everyone = s.client.get(f"/api/v1/programmes/{s.programme}/progress", headers=s.home_h)
    assert everyone.status_code == 200, everyone.text
    assert sorted(p["learner_id"] for p in everyone.json()) == sorted([s.learner, s.stranger])
    one = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.home_h).json()
    assert one["lots_hidden"] is True and not [x for x in one["suggestions"] if x["kind"] == "lot"]
    grant(client, auth, s.learner, s.home)
    one = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.home_h).json()
    assert one["lots_hidden"] is False and ("lot", lot) in {(x["kind"], x["ref"]) for x in one["suggestions"]}


def test_who_may_not_read_a_learners_progress(schools: Schools) -> None:
    s = schools
    path = f"/api/v1/programmes/{s.programme}/progress/{s.learner}"
    for headers in (s.stranger_h, s.other_h, s.host_h):
        r = s.client.get(path, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM), r.text
    r = s.client.get(f"/api/v1/programmes/{s.programme}/progress", headers=s.other_h)
    assert r.status_code == 404, r.text
    # the curriculum is the school's own to set; bad curricula are problems, nothing half-written
    r = s.client.put(f"/api/v1/programmes/{s.programme}/curriculum", json=CURRICULUM, headers=s.other_h)
    assert r.status_code == 404, r.text
    bad = {**CURRICULUM, "requirements": {"required": 50, "major": 50}}
    r = s.client.put(f"/api/v1/programmes/{s.programme}/curriculum", json=bad, headers=s.home_h)
    assert r.status_code == 422 and r.json()["type"].endswith("curriculum-invalid"), r.text
    twice = {**CURRICULUM, "courses": CURRICULUM["courses"] + CURRICULUM["courses"][:1]}
    r = s.client.put(f"/api/v1/programmes/{s.programme}/curriculum", json=twice, headers=s.home_h)
    assert r.status_code == 422, r.text
    r = s.client.put(
        f"/api/v1/programmes/{s.programme}/curriculum",
        json={**CURRICULUM, "courses": [{**CURRICULUM["courses"][0], "category": "fun"}]},
        headers=s.home_h,
    )
    assert r.status_code == 422, r.text
    for requirements in ({"major": -1}, {"major": "1e30"}):
        r = s.client.put(
            f"/api/v1/programmes/{s.programme}/curriculum",
            json={**CURRICULUM, "requirements": requirements},
            headers=s.home_h,
        )
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    kept = s.client.get(f"/api/v1/programmes/{s.programme}/curriculum").json()
    assert len(kept["courses"]) == 4 and Decimal(kept["requirements"]["major"]) == 8


def test_recognised_certificates_are_suggested_for_an_elective_gap(schools: Schools, auth: Tokens) -> None:
    s = schools
    entry = {
        "code": "1X-WEB-FRONT-T",
        "outcome_type": "one_plus_x_certificate",
        "name_zh": "Web前端开发职业技能等级证书",
        "name_en": "Web front-end development",
        "levels": ["初级", "中级", "高级"],
        "rule_id": "BJ-REC-1X",
    }
    r = s.client.post("/api/v1/recognised-outcomes", json=entry, headers=auth(Role.admin))
    assert r.status_code == 201, r.text
    body = s.client.get(f"/api/v1/programmes/{s.programme}/progress/{s.learner}", headers=s.learner_h).json()
    certificates = [x for x in body["suggestions"] if x["kind"] == "certificate"]
    assert certificates, body["suggestions"]
    # planned by the published elective rule of the rule set, not by anything in this module
    assert {x["rule_id"] for x in certificates} == {"BJ-CONV-ELECTIVE"}
    assert {x["category"] for x in certificates} == {"elective"}
    [web] = [x for x in certificates if x["ref"] == "1X-WEB-FRONT-T"]
    assert web["title"] == "Web前端开发职业技能等级证书（初级）"  # the lowest level that fills the gap
    assert float(web["credits"]) == 4
