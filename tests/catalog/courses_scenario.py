"""Shared-course scenario: a home school (with a programme, two admitted learners and an
equivalence for the host's course), a host school publishing a course of two seats, and a third school."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner


@dataclass
class Schools:
    client: TestClient
    home: str
    home_h: dict[str, str]
    host: str
    host_h: dict[str, str]
    other: str
    other_h: dict[str, str]
    learner: str
    learner_h: dict[str, str]
    stranger: str
    stranger_h: dict[str, str]
    programme: str
    course: str
    equivalence: str
    n: int = 0

    def post(self, path: str, body: Any, headers: dict[str, str]) -> Any:
        self.n += 1
        return self.client.post(path, json=body, headers={**headers, "Idempotency-Key": f"k-{self.n}"})


def course_body(**extra: Any) -> dict[str, Any]:
    return {
        "code": "CS201",
        "title_zh": "数据结构",
        "title_en": "Data Structures",
        "credits": 3,
        "level": 5,
        "field": "computing",
        "term": "2027春",
        "seats": 2,
        "mode": "blended",
        "enrolment_deadline": (dt.date.today() + dt.timedelta(days=10)).isoformat(),
        **extra,
    }


def build_schools(client: TestClient, auth: Tokens) -> Schools:
    admin = auth(Role.admin)
    home = create_institution(client, admin, kind="vocational_school")
    host = create_institution(client, admin, kind="university")
    other = create_institution(client, admin, kind="vocational_school")
    home_h, host_h, other_h = (auth(Role.institution, i) for i in (home, host, other))
    learner = create_learner(client, home_h)
    stranger = create_learner(client, home_h)
    s = Schools(
        client,
        home,
        home_h,
        host,
        host_h,
        other,
        other_h,
        learner,
        auth(Role.learner, learner),
        stranger,
        auth(Role.learner, stranger),
        "",
        "",
        "",
    )
    r = s.post(
        "/api/v1/programmes",
        {
            "code": "510201",
            "title_zh": "计算机应用技术",
            "title_en": "Computer Applications",
            "graduation_credits": 60,
        },
        home_h,
    )
    assert r.status_code == 201, r.text
    s.programme = r.json()["id"]
    for who in (learner, stranger):
        r = s.post(f"/api/v1/programmes/{s.programme}/learners", {"learner_id": who}, home_h)
        assert r.status_code == 201, r.text
    r = s.post("/api/v1/shared-courses", course_body(), host_h)
    assert r.status_code == 201, r.text
    assert r.json()["seats_taken"] == 0 and r.json()["mode"] == "blended"
    s.course = r.json()["id"]
    r = s.post(
        "/api/v1/equivalences",
        {
            "requires": {"lot": {"course_code": "CS201", "outcome_type": "degree_course"}},
            "destination_kind": "course",
            "destination_code": "C-DS",
            "destination_title_zh": "数据结构",
            "destination_title_en": "Data Structures",
            "credits": 4,
        },
        home_h,
    )
    assert r.status_code == 201, r.text
    s.equivalence = r.json()["id"]
    return s
