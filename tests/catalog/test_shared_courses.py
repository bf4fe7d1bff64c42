"""Shared courses across schools (课程跨校共享), through real HTTP against the app: a learner of a home
school enrols in a host school's course; the home approves naming its equivalence; the host accepts
and posts the result, which converts into the learner's programme. And the attacks on each step."""

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from tests.catalog.courses_scenario import Schools, build_schools, course_body
from tests.conftest import Tokens
from tests.support.factories import create_learner

PROBLEM = "application/problem+json"


@pytest.fixture
def schools(client: TestClient, auth: Tokens) -> Schools:
    return build_schools(client, auth)


def _enrol(s: Schools, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return s.post(
        f"/api/v1/shared-courses/{s.course}/enrolments",
        {"programme_id": s.programme, **body},
        headers or s.learner_h,
    )


def _problem(r: Any, status: int, slug: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith(slug), r.json()


class TestTheChain:
    def test_enrolment_ends_in_converted_credits_seen_by_all_three(self, schools: Schools) -> None:
        s = schools
        r = _enrol(s)
        assert r.status_code == 201, r.text
        enrolment = r.json()["id"]
        assert r.json()["status"] == "requested"
        assert r.json()["home_institution_id"] == s.home and r.json()["host_institution_id"] == s.host
        courses = s.client.get("/api/v1/shared-courses").json()
        assert [c["seats_taken"] for c in courses if c["id"] == s.course] == [1]
        r = s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": s.equivalence}, s.home_h)
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        r = s.post(f"/api/v1/enrolments/{enrolment}/accept", {}, s.host_h)
        assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
        r = s.post(
            f"/api/v1/enrolments/{enrolment}/result",
            {"achieved_on": dt.date.today().isoformat(), "score": 86, "grade": "良好"},
            s.host_h,
        )
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["status"] == "completed" and done["result"] == "converted", done
        assert done["outcome_id"] and done["lot_id"] and done["conversion_id"]
        # the learner's archive shows the lot converted into the home programme, by the named equivalence
        archive = s.client.get(f"/api/v1/learners/{s.learner}/archive", headers=s.learner_h).json()
        [conversion] = [c for c in archive["conversions"] if done["lot_id"] in c["lot_ids"]]
        assert conversion["programme_id"] == s.programme and conversion["institution_id"] == s.home
        assert float(conversion["counted_credits"]) == 4  # the equivalence's credits, not the course's 3
        assert done["lot_id"] in conversion["lot_ids"]
        # the consent given at enrolment is used up by that conversion
        [consent] = [
            c
            for c in s.client.get("/api/v1/consents", headers=s.learner_h).json()
            if c["id"] == done["consent_id"]
        ]
        assert consent["state"] == "used"
        # home, host and learner all see the chain; a third school does not
        for headers in (s.learner_h, s.home_h, s.host_h):
            seen = s.client.get(f"/api/v1/enrolments/{enrolment}", headers=headers)
            assert seen.status_code == 200 and seen.json()["conversion_id"] == done["conversion_id"]
            assert [e["id"] for e in s.client.get("/api/v1/enrolments", headers=headers).json()] == [
                enrolment
            ]
        _problem(
            s.client.get(f"/api/v1/enrolments/{enrolment}", headers=s.other_h), 404, "enrolment-not-found"
        )
        _problem(
            s.client.get(f"/api/v1/enrolments/{enrolment}", headers=s.stranger_h), 404, "enrolment-not-found"
        )
        assert s.client.get("/api/v1/enrolments", headers=s.other_h).json() == []

    def test_a_failed_result_is_banked_as_not_recognised_and_converts_nothing(self, schools: Schools) -> None:
        s = schools
        enrolment = _enrol(s).json()["id"]
        s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": s.equivalence}, s.home_h)
        s.post(f"/api/v1/enrolments/{enrolment}/accept", {}, s.host_h)
        r = s.post(
            f"/api/v1/enrolments/{enrolment}/result",
            {"achieved_on": dt.date.today().isoformat(), "score": 41, "grade": "不合格"},
            s.host_h,
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"] == "not_recognised" and r.json()["conversion_id"] is None

    def test_a_consent_revoked_before_the_result_stops_the_conversion(self, schools: Schools) -> None:
        s = schools
        enrolment = _enrol(s).json()
        s.post(f"/api/v1/enrolments/{enrolment['id']}/approve", {"equivalence_id": s.equivalence}, s.home_h)
        s.post(f"/api/v1/enrolments/{enrolment['id']}/accept", {}, s.host_h)
        r = s.post(f"/api/v1/consents/{enrolment['consent_id']}/revoke", {}, s.learner_h)
        assert r.status_code == 200, r.text
        r = s.post(
            f"/api/v1/enrolments/{enrolment['id']}/result",
            {"achieved_on": dt.date.today().isoformat(), "score": 90},
            s.host_h,
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"] == "consent_revoked" and r.json()["conversion_id"] is None
        assert r.json()["lot_id"]  # the result is still banked in the learner's archive


class TestAttacks:
    def test_a_learner_cannot_enrol_someone_else(self, schools: Schools) -> None:
        s = schools
        _problem(_enrol(s, s.learner_h, learner_id=s.stranger), 403, "forbidden")
        assert s.client.get("/api/v1/enrolments", headers=s.stranger_h).json() == []

    def test_a_learner_not_admitted_into_the_programme_cannot_enrol_for_it(
        self, schools: Schools, client: TestClient, auth: Tokens
    ) -> None:
        s = schools
        outsider = create_learner(client, s.other_h)
        _problem(_enrol(s, auth(Role.learner, outsider)), 403, "not-in-programme")

    def test_a_school_cannot_admit_a_learner_whose_record_it_does_not_hold(
        self, schools: Schools, client: TestClient
    ) -> None:
        s = schools
        r = s.post(
            "/api/v1/programmes",
            {"code": "P9", "title_zh": "会计", "title_en": "Accounting", "graduation_credits": 40},
            s.other_h,
        )
        other_programme = r.json()["id"]
        _problem(
            s.post(f"/api/v1/programmes/{other_programme}/learners", {"learner_id": s.learner}, s.other_h),
            403,
            "learner-not-held",
        )
        # nor into another school's programme
        _problem(
            s.post(f"/api/v1/programmes/{s.programme}/learners", {"learner_id": s.learner}, s.other_h),
            404,
            "programme-not-found",
        )

    def test_another_school_cannot_approve_for_a_learner_it_does_not_hold(self, schools: Schools) -> None:
        s = schools
        enrolment = _enrol(s).json()["id"]
        r = s.post(
            "/api/v1/equivalences",
            {
                "requires": {"lot": {"course_code": "CS201"}},
                "destination_kind": "course",
                "destination_code": "X",
                "destination_title_zh": "X",
                "destination_title_en": "X",
                "credits": 9,
            },
            s.other_h,
        )
        _problem(
            s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": r.json()["id"]}, s.other_h),
            404,
            "enrolment-not-found",
        )
        # the host is in the chain but is not the home school
        _problem(
            s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": s.equivalence}, s.host_h),
            403,
            "not-the-home-school",
        )
        # the home school cannot name another school's equivalence
        _problem(
            s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": r.json()["id"]}, s.home_h),
            422,
            "equivalence-not-yours",
        )
        assert (
            s.client.get(f"/api/v1/enrolments/{enrolment}", headers=s.learner_h).json()["status"]
            == "requested"
        )

    def test_the_host_cannot_accept_what_the_home_school_did_not_approve(self, schools: Schools) -> None:
        s = schools
        enrolment = _enrol(s).json()["id"]
        _problem(s.post(f"/api/v1/enrolments/{enrolment}/accept", {}, s.host_h), 409, "enrolment-state")
        _problem(
            s.post(
                f"/api/v1/enrolments/{enrolment}/result",
                {"achieved_on": dt.date.today().isoformat(), "score": 99},
                s.host_h,
            ),
            409,
            "enrolment-state",
        )
        # nor may the home school accept in the host's place
        s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": s.equivalence}, s.home_h)
        _problem(s.post(f"/api/v1/enrolments/{enrolment}/accept", {}, s.home_h), 403, "not-the-host")
        assert (
            s.client.get(f"/api/v1/enrolments/{enrolment}", headers=s.learner_h).json()["status"]
            == "approved"
        )

    def test_only_the_host_posts_the_result(self, schools: Schools) -> None:
        s = schools
        enrolment = _enrol(s).json()["id"]
        s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": s.equivalence}, s.home_h)
        s.post(f"/api/v1/enrolments/{enrolment}/accept", {}, s.host_h)
        body = {"achieved_on": dt.date.today().isoformat(), "score": 99}
        _problem(s.post(f"/api/v1/enrolments/{enrolment}/result", body, s.home_h), 403, "not-the-host")
        _problem(
            s.post(f"/api/v1/enrolments/{enrolment}/result", body, s.other_h), 404, "enrolment-not-found"
        )


class TestSeatsAndDeadline:
    def test_enrolment_after_the_deadline_is_a_clear_problem_and_writes_nothing(
        self, schools: Schools
    ) -> None:
        s = schools
        yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
        r = s.post(
            "/api/v1/shared-courses", course_body(code="CS999", enrolment_deadline=yesterday), s.host_h
        )
        s.course = r.json()["id"]
        r = _enrol(s)
        _problem(r, 409, "enrolment-closed")
        assert yesterday in r.json()["detail"]
        assert s.client.get("/api/v1/enrolments", headers=s.learner_h).json() == []
        assert s.client.get("/api/v1/consents", headers=s.learner_h).json() == []
        assert [
            c["seats_taken"] for c in s.client.get("/api/v1/shared-courses").json() if c["id"] == s.course
        ] == [0]

    def test_the_last_seat_goes_once_and_a_decline_frees_it(
        self, schools: Schools, client: TestClient, auth: Tokens
    ) -> None:
        s = schools  # two seats
        third = create_learner(client, s.home_h)
        s.post(f"/api/v1/programmes/{s.programme}/learners", {"learner_id": third}, s.home_h)
        first = _enrol(s)
        assert first.status_code == 201
        assert _enrol(s, s.stranger_h).status_code == 201
        _problem(_enrol(s, auth(Role.learner, third)), 409, "course-full")
        _problem(_enrol(s), 409, "already-enrolled")
        r = s.post(f"/api/v1/enrolments/{first.json()['id']}/decline", {"reason": "课程冲突"}, s.home_h)
        assert r.status_code == 200 and r.json()["status"] == "declined", r.text
        assert _enrol(s, auth(Role.learner, third)).status_code == 201

    def test_bad_input_is_a_problem(self, schools: Schools) -> None:
        s = schools
        _problem(
            s.post("/api/v1/shared-courses", course_body(code="N1", seats=-1), s.host_h),
            422,
            "validation-failed",
        )
        _problem(
            s.post("/api/v1/shared-courses", course_body(code="N2", mode="teleport"), s.host_h),
            422,
            "validation-failed",
        )
        _problem(
            s.post("/api/v1/shared-courses/crs_nope/enrolments", {"programme_id": s.programme}, s.learner_h),
            404,
            "course-not-found",
        )
