"""The registrar edits a programme's curriculum in the console (/console/programmes/{id}/curriculum):
courses in the credit categories and the credits each category needs; problems shown by field, in
Chinese first and in English, with nothing written; another school's registrar, a learner and a
cross-site post are refused."""

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.catalog.courses_scenario import Schools, build_schools
from tests.conftest import Tokens
from tests.support.signin import mint, sign_in

FORM = {
    "code_0": "C-DS",
    "title_zh_0": "数据结构",
    "title_en_0": "Data Structures",
    "category_0": "major",
    "credits_0": "4",
    "code_1": "C-ENG",
    "title_zh_1": "大学英语",
    "title_en_1": "College English",
    "category_1": "general",
    "credits_1": "3",
    "code_2": "",
    "title_zh_2": "",
    "title_en_2": "",
    "category_2": "elective",
    "credits_2": "",
    "req_required": "20",
    "req_major": "8",
    "req_general": "6",
    "req_elective": "10",
}


@pytest.fixture
def schools(client: TestClient, auth: Tokens) -> Schools:
    return build_schools(client, auth)


def _browser(ctx: AppContext, role: Role, subject: str, page: str) -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    return browser, sign_in(browser, mint(ctx, role, subject), page)


def _curriculum(s: Schools) -> dict[str, Any]:
    r = s.client.get(f"/api/v1/programmes/{s.programme}/curriculum")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def test_the_registrar_sets_the_curriculum_through_the_form(schools: Schools, ctx: AppContext) -> None:
    s = schools
    path = f"/console/programmes/{s.programme}/curriculum"
    browser, csrf = _browser(ctx, Role.institution, s.home, "/console")
    page = browser.get(path)
    assert page.status_code == 200 and "课程计划" in page.text and 'name="req_major"' in page.text
    done = browser.post(path, data={"csrf": csrf, **FORM}, follow_redirects=False)
    assert done.status_code == 303, done.text
    kept = _curriculum(s)
    assert [(c["code"], c["category"], Decimal(c["credits"])) for c in kept["courses"]] == [
        ("C-ENG", "general", Decimal(3)),
        ("C-DS", "major", Decimal(4)),
    ]
    assert {k: Decimal(v) for k, v in kept["requirements"].items()} == {
        "required": 20,
        "major": 8,
        "general": 6,
        "elective": 10,
    }
    again = browser.get(path).text
    assert 'value="C-DS"' in again and 'value="大学英语"' in again
    # a requirement left empty is no requirement; a course removed is gone
    fewer = {**FORM, "code_1": "", "title_zh_1": "", "title_en_1": "", "credits_1": "", "req_general": ""}
    assert browser.post(path, data={"csrf": csrf, **fewer}, follow_redirects=False).status_code == 303
    kept = _curriculum(s)
    assert [c["code"] for c in kept["courses"]] == ["C-DS"] and "general" not in kept["requirements"]


def test_bad_forms_show_errors_by_field_in_both_languages_and_write_nothing(
    schools: Schools, ctx: AppContext
) -> None:
    s = schools
    path = f"/console/programmes/{s.programme}/curriculum"
    browser, csrf = _browser(ctx, Role.institution, s.home, "/console")
    assert browser.post(path, data={"csrf": csrf, **FORM}, follow_redirects=False).status_code == 303
    before = _curriculum(s)
    bad = {**FORM, "credits_0": "-1", "category_1": "astrology", "title_en_1": "", "req_major": "x"}
    r = browser.post(path, data={"csrf": csrf, **bad})
    assert r.status_code == 422, r.text
    for field in ("credits_0", "category_1", "title_en_1", "req_major"):
        assert f'id="{field}-error"' in r.text, field
    assert "数值过小" in r.text and "必填" in r.text  # zh-CN first
    assert 'value="C-ENG"' in r.text and 'value="astrology" selected' in r.text  # as typed
    english = browser.post(f"{path}?lang=en", data={"csrf": csrf, **bad})
    assert english.status_code == 422 and "Required" in english.text, english.text
    browser.get(f"{path}?lang=zh")  # back to Chinese
    # the rules of the whole curriculum: requirements beyond the graduation credits, a code twice
    too_much = {**FORM, "req_required": "50", "req_major": "50"}
    r = browser.post(path, data={"csrf": csrf, **too_much})
    assert r.status_code == 422 and "60" in r.text, r.text
    twice = {**FORM, "code_1": "C-DS"}
    r = browser.post(path, data={"csrf": csrf, **twice})
    assert r.status_code == 422 and "重复" in r.text, r.text
    # a course half filled in is an error, not skipped
    half = {**FORM, "code_2": "C-NET"}
    r = browser.post(path, data={"csrf": csrf, **half})
    assert r.status_code == 422 and 'id="title_zh_2-error"' in r.text
    assert _curriculum(s) == before


def test_another_school_a_learner_and_a_cross_site_post_are_refused(
    schools: Schools, ctx: AppContext
) -> None:
    s = schools
    path = f"/console/programmes/{s.programme}/curriculum"
    other, csrf = _browser(ctx, Role.institution, s.other, "/console")
    page = other.get(path)
    assert page.status_code == 403 and 'value="C-DS"' not in page.text
    r = other.post(path, data={"csrf": csrf, **FORM}, follow_redirects=False)
    assert r.status_code == 403, r.text
    learner, csrf = _browser(ctx, Role.learner, s.learner, "/progress")
    r = learner.post(path, data={"csrf": csrf, **FORM}, follow_redirects=False)
    assert r.status_code == 403, r.text
    home, _ = _browser(ctx, Role.institution, s.home, "/console")
    r = home.post(path, data={"csrf": "forged", **FORM}, follow_redirects=False)
    assert r.status_code == 403, r.text
    assert _curriculum(s)["courses"] == [] and _curriculum(s)["requirements"] == {}
    # the programme list links each programme's curriculum and progress
    listing = home.get("/console/programmes").text
    assert path in listing and f"/console/programmes/{s.programme}/progress" in listing
