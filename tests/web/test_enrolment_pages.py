"""The registrars' enrolment lists in the console (/console/enrolments): the home school approves
(naming the equivalence that converts the result) or declines, the host accepts or declines and posts
the result, all through the page's forms, ending in credits converted into the learner's programme.
And the attacks: a third school, the host acting for the home school, a learner's session, a forged
form; bad input is a 422 with nothing written."""

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog import courses
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.catalog.courses_scenario import Schools, build_schools
from tests.conftest import Tokens
from tests.support.signin import csrf_of, mint, sign_in


@pytest.fixture
def schools(client: TestClient, auth: Tokens) -> Schools:
    return build_schools(client, auth)


def _browser(ctx: AppContext, role: Role, subject: str, page: str = "/console") -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    return browser, sign_in(browser, mint(ctx, role, subject), page)


def _enrol(s: Schools, learner_h: dict[str, str] | None = None) -> str:
    r = s.post(
        f"/api/v1/shared-courses/{s.course}/enrolments",
        {"programme_id": s.programme},
        learner_h or s.learner_h,
    )
    assert r.status_code == 201, r.text
    enrolment: str = r.json()["id"]
    return enrolment


def _state(s: Schools, enrolment: str) -> dict[str, Any]:
    r = s.client.get(f"/api/v1/enrolments/{enrolment}", headers=s.learner_h)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _row(html: str, enrolment: str) -> str:
    assert f'data-enrolment="{enrolment}"' in html, "the enrolment is not listed"
    return html.split(f'data-enrolment="{enrolment}"', 1)[1].split("</tr>", 1)[0]


def test_the_chain_through_the_registrars_forms_ends_in_converted_credits(
    schools: Schools, ctx: AppContext
) -> None:
    s = schools
    enrolment = _enrol(s)
    home, home_csrf = _browser(ctx, Role.institution, s.home)
    console = home.get("/console").text
    assert "/console/enrolments?side=home" in console and "/console/enrolments?side=host" in console
    assert f"/console/programmes/{s.programme}/progress" in console
    row = _row(home.get("/console/enrolments?side=home").text, enrolment)
    assert 'class="form inline approve-form"' in row and s.equivalence in row
    r = home.post(
        f"/console/enrolments/{enrolment}/approve",
        data={"csrf": home_csrf, "equivalence_id": s.equivalence},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "notice=approved" in r.headers["location"], r.text
    assert _state(s, enrolment)["status"] == "approved"
    assert _state(s, enrolment)["equivalence_id"] == s.equivalence

    host, host_csrf = _browser(ctx, Role.institution, s.host)
    row = _row(host.get("/console/enrolments?side=host&status=approved").text, enrolment)
    assert "accept-form" in row and "approve-form" not in row
    r = host.post(f"/console/enrolments/{enrolment}/accept", data={"csrf": host_csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    row = _row(host.get("/console/enrolments?side=host").text, enrolment)
    assert "result-form" in row
    r = host.post(
        f"/console/enrolments/{enrolment}/result",
        data={"csrf": host_csrf, "achieved_on": dt.date.today().isoformat(), "score": "91", "grade": "优秀"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    done = _state(s, enrolment)
    assert done["status"] == "completed" and done["result"] == "converted" and done["conversion_id"]
    # the home school's list, filtered to completed, shows the chain and the credits counted
    row = _row(home.get("/console/enrolments?side=home&status=completed").text, enrolment)
    assert 'data-result="converted"' in row and "已转换 4 学分计入专业" in row
    assert (
        f'data-enrolment="{enrolment}"' not in home.get("/console/enrolments?side=home&status=requested").text
    )


def test_declines_free_the_seat_and_need_a_reason(schools: Schools, ctx: AppContext) -> None:
    s = schools
    enrolment = _enrol(s)
    home, csrf = _browser(ctx, Role.institution, s.home)
    r = home.post(f"/console/enrolments/{enrolment}/decline", data={"csrf": csrf, "reason": " "})
    assert r.status_code == 422 and _state(s, enrolment)["status"] == "requested"
    r = home.post(
        f"/console/enrolments/{enrolment}/decline",
        data={"csrf": csrf, "reason": "该课程与本专业培养方案不符", "side": "home"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    declined = _state(s, enrolment)
    assert declined["status"] == "declined" and declined["reason"] == "该课程与本专业培养方案不符"
    seats = [c["seats_taken"] for c in s.client.get("/api/v1/shared-courses").json() if c["id"] == s.course]
    assert seats == [0]


def test_other_schools_the_host_a_learner_and_a_forged_form_cannot_act(
    schools: Schools, ctx: AppContext
) -> None:
    s = schools
    enrolment = _enrol(s)
    approve = f"/console/enrolments/{enrolment}/approve"
    other, csrf = _browser(ctx, Role.institution, s.other)
    r = other.post(approve, data={"csrf": csrf, "equivalence_id": s.equivalence})
    assert r.status_code == 404, r.text  # not its enrolment: as if there were none
    assert f'data-enrolment="{enrolment}"' not in other.get("/console/enrolments?side=home").text
    assert f'data-enrolment="{enrolment}"' not in other.get("/console/enrolments?side=host").text
    r = other.post(f"/console/enrolments/{enrolment}/decline", data={"csrf": csrf, "reason": "抢先拒绝"})
    assert r.status_code == 404, r.text
    host, csrf = _browser(ctx, Role.institution, s.host)
    r = host.post(approve, data={"csrf": csrf, "equivalence_id": s.equivalence})
    assert r.status_code == 403, r.text  # the host does not decide for the home school
    learner, csrf = _browser(ctx, Role.learner, s.learner, "/progress")
    r = learner.post(approve, data={"csrf": csrf, "equivalence_id": s.equivalence})
    assert r.status_code == 403, r.text
    home, _ = _browser(ctx, Role.institution, s.home)
    r = home.post(approve, data={"csrf": "forged", "equivalence_id": s.equivalence})
    assert r.status_code == 403, r.text
    # the home school cannot act as the host either
    r = home.post(f"/console/enrolments/{enrolment}/accept", data={"csrf": _csrf(home)})
    assert r.status_code in (403, 409), r.text
    assert _state(s, enrolment)["status"] == "requested"


def _csrf(browser: TestClient) -> str:
    return csrf_of(browser.get("/console").text)


def test_a_bad_result_is_a_422_and_nothing_is_written(schools: Schools, ctx: AppContext) -> None:
    s = schools
    enrolment = _enrol(s)
    s.post(f"/api/v1/enrolments/{enrolment}/approve", {"equivalence_id": s.equivalence}, s.home_h)
    s.post(f"/api/v1/enrolments/{enrolment}/accept", {}, s.host_h)
    host, csrf = _browser(ctx, Role.institution, s.host)
    for bad in ({"achieved_on": "", "score": "80"}, {"achieved_on": "2026-13-40"}, {"score": "150"}):
        data = {"csrf": csrf, "achieved_on": dt.date.today().isoformat(), **bad}
        r = host.post(f"/console/enrolments/{enrolment}/result", data=data)
        assert r.status_code == 422, (bad, r.text)
    assert "成绩" in r.text or "完成日期" in r.text
    assert _state(s, enrolment)["status"] == "accepted" and _state(s, enrolment)["outcome_id"] is None


def test_the_lists_are_filtered_by_state_and_paged(schools: Schools, ctx: AppContext) -> None:
    s = schools
    first = _enrol(s)
    second = _enrol(s, s.stranger_h)
    s.post(f"/api/v1/enrolments/{first}/approve", {"equivalence_id": s.equivalence}, s.home_h)
    with ctx.sessions() as session:
        home = Principal(role=Role.institution, subject=s.home, token_id=None)
        rows, total = courses.institution_enrolments(session, home, side="home", limit=1)
        assert total == 2 and [r.id for r in rows] == [second]
        rows, _ = courses.institution_enrolments(session, home, side="home", offset=1, limit=1)
        assert [r.id for r in rows] == [first]
        rows, total = courses.institution_enrolments(session, home, side="home", status="approved")
        assert total == 1 and [r.id for r in rows] == [first]
        rows, total = courses.institution_enrolments(session, home, side="host")
        assert total == 0 and rows == []
    browser, _ = _browser(ctx, Role.institution, s.home)
    page = browser.get("/console/enrolments?side=home&status=requested").text
    assert f'data-enrolment="{second}"' in page and f'data-enrolment="{first}"' not in page
    assert browser.get("/console/enrolments?side=home&page=2").status_code == 200
    assert browser.get("/console/enrolments?side=elsewhere").status_code == 422
