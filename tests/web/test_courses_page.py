"""The shared-course page (/courses): zh-CN first, the catalogue for anyone, enrolment by the
signed-in learner through the page's own form (CSRF-checked), and the chain up to converted credits."""

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from tests.catalog.courses_scenario import Schools, build_schools, course_body
from tests.conftest import Tokens
from tests.support.signin import csrf_of, mint, sign_in


@pytest.fixture
def schools(client: TestClient, auth: Tokens) -> Schools:
    return build_schools(client, auth)


def test_anyone_sees_the_catalogue_in_chinese_first(schools: Schools) -> None:
    page = schools.client.get("/courses")
    assert page.status_code == 200
    assert "课程跨校共享" in page.text and "数据结构" in page.text and "2027春" in page.text
    assert "线上线下混合" in page.text and "2 / 2" in page.text
    assert 'action="/courses/enrol"' not in page.text  # no enrol form for someone not signed in
    english = schools.client.get("/courses?lang=en")
    assert "Shared courses across schools" in english.text and "Data Structures" in english.text


def test_a_learner_enrols_on_the_page_and_follows_the_chain_to_converted_credits(
    schools: Schools, ctx: AppContext
) -> None:
    s = schools
    sign_in(s.client, mint(ctx, Role.learner, s.learner), "/archive")
    page = s.client.get("/courses")
    assert 'action="/courses/enrol"' in page.text and "计算机应用技术" in page.text
    r = s.client.post(
        "/courses/enrol",
        data={"csrf": csrf_of(page.text), "course_id": s.course, "programme_id": s.programme},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    [enrolment] = s.client.get("/api/v1/enrolments", headers=s.learner_h).json()
    assert r.headers["location"] == f"/courses?done=enrolled#enrolment-{enrolment['id']}"
    page = s.client.get(r.headers["location"])
    assert "待本校审批" in page.text and "1 / 2" in page.text
    s.post(f"/api/v1/enrolments/{enrolment['id']}/approve", {"equivalence_id": s.equivalence}, s.home_h)
    s.post(f"/api/v1/enrolments/{enrolment['id']}/accept", {}, s.host_h)
    done = s.post(
        f"/api/v1/enrolments/{enrolment['id']}/result",
        {"achieved_on": dt.date.today().isoformat(), "score": 92},
        s.host_h,
    )
    assert done.json()["result"] == "converted", done.text
    page = s.client.get("/courses")
    assert 'data-result="converted"' in page.text
    assert "已转换 4 学分计入专业" in page.text, page.text


def test_a_cross_site_form_cannot_enrol_the_learner(schools: Schools, ctx: AppContext) -> None:
    s = schools
    sign_in(s.client, mint(ctx, Role.learner, s.learner), "/archive")
    r = s.client.post(
        "/courses/enrol",
        data={"csrf": "0" * 64, "course_id": s.course, "programme_id": s.programme},
        follow_redirects=False,
    )
    assert r.status_code in (400, 403), r.text
    assert s.client.get("/api/v1/enrolments", headers=s.learner_h).json() == []


def test_enrolment_after_the_deadline_is_a_clear_page_in_chinese(schools: Schools, ctx: AppContext) -> None:
    s = schools
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    late = s.post("/api/v1/shared-courses", course_body(code="LATE1", enrolment_deadline=yesterday), s.host_h)
    sign_in(s.client, mint(ctx, Role.learner, s.learner), "/archive")
    page = s.client.get("/courses")
    assert "报名已截止" in page.text
    r = s.client.post(
        "/courses/enrol",
        data={"csrf": csrf_of(page.text), "course_id": late.json()["id"], "programme_id": s.programme},
        follow_redirects=False,
    )
    assert r.status_code == 409, r.text
    assert f"报名截止日期 {yesterday} 已过" in r.text
    assert s.client.get("/api/v1/enrolments", headers=s.learner_h).json() == []
