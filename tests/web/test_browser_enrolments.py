"""The registrars' shared-course work in a real headless Chromium against a real server on the demo
world: the host (海淀职业学校) posts the result of 王芳's accepted enrolment in 计算机网络 from its
enrolment list, and the home school (the open university) sees it converted in its own list, keeps
its programme's curriculum with the form and reads the programme's progress.

The browser, the server and the demo world with its shared courses are those of
:mod:`tests.web.test_browser_courses` (its fixtures; a world of this module's own, since a result is
posted). Screenshots land in ``var/screenshots/``; the user guide's copies are in ``docs/images/``.
"""

import datetime as dt
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.test_browser import browser, playwright, shot, sign_in  # noqa: F401 - fixtures
from tests.web.test_browser_courses import CoursesDemo, courses_demo, new_page  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_host_posts_a_result_and_the_home_school_sees_it_converted(
    courses_demo: CoursesDemo,  # noqa: F811 - fixtures
    new_page: Any,  # noqa: F811 - fixtures
) -> None:
    host = new_page()
    sign_in(host, courses_demo.tokens["institutions"]["haidian-vocational"]["token"], start="/console")
    host.get_by_role("link", name="本校共享课程的选课").first.click()
    expect(host.get_by_role("heading", name="跨校选课")).to_be_visible()
    row = host.locator('#enrolment-table tr[data-status="accepted"]', has_text="计算机网络")
    expect(row).to_have_count(1)
    row.get_by_label("完成日期").fill(dt.date.today().isoformat())
    row.get_by_label("成绩（百分制）").fill("85")
    shot(host, "registrar-enrolments-host")
    with host.expect_navigation():
        row.get_by_role("button", name="登记成绩").click()
    expect(host.get_by_role("status")).to_contain_text("已登记选课")
    done = host.locator("#enrolment-table tr", has_text="计算机网络")
    expect(done.locator('[data-result="converted"]')).to_have_count(1)

    home = new_page()
    sign_in(home, courses_demo.tokens["institutions"]["open-university"]["token"], start="/console")
    home.get_by_role("link", name="本校学生的外校选课").first.click()
    home.get_by_label("状态").select_option("completed")
    with home.expect_navigation():
        home.get_by_role("button", name="筛选", exact=True).click()
    expect(home.locator('#enrolment-table [data-result="converted"]')).to_have_count(2)  # DB201 and NET201
    shot(home, "registrar-enrolments-home")

    home.goto("/console/programmes")
    home.locator("#programme-table").get_by_role("link", name="课程计划").first.click()
    expect(home.get_by_role("heading", name="课程计划与毕业要求")).to_be_visible()
    kept = home.locator("#credits_0").input_value()
    assert kept  # the demo curriculum's first course
    home.locator("#credits_0").fill("0")
    with home.expect_navigation():
        home.get_by_role("button", name="保存课程计划").click()
    expect(home.locator("#credits_0-error")).to_be_visible()
    shot(home, "registrar-curriculum-error")
    home.locator("#credits_0").fill(kept)
    with home.expect_navigation():
        home.get_by_role("button", name="保存课程计划").click()
    expect(home.get_by_role("status")).to_contain_text("课程计划已保存")
    shot(home, "registrar-curriculum")
    home.get_by_role("link", name="学业进度").first.click()
    expect(home.locator("#programme-progress")).to_be_visible()
