"""Shared courses and the graduation audit in a real headless Chromium against a real server on the
demo world (with its shared courses and curriculum): a learner enrols in another school's course,
the two schools decide, the host posts the result and the learner sees converted credits; the
learner's and the registrar's graduation audit pages. Screenshots land in ``var/screenshots/``."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine, transaction
from creditbank.demo import load_courses, load_demo, load_exchange
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.web.test_browser import (  # noqa: F401 (the browser fixtures)
    DESKTOP,
    PHONE,
    _wait_for_checkpoint,
    browser,
    no_horizontal_scroll,
    playwright,
    shot,
    sign_in,
    watched_pages,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class CoursesDemo:
    server: ServerProcess
    tokens: dict[str, Any]
    programme_id: str

    @property
    def base(self) -> str:
        return self.server.base_url

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def courses_demo(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CoursesDemo]:
    var_dir = tmp_path_factory.mktemp("browser-courses-var")
    url = prepare_database(pg_server, "creditbank_browser_courses", var_dir)
    engine = create_engine(url, pool_size=2)
    ctx = build_context(
        Settings(var_dir=var_dir, database_url=url, background_publisher=False), engine=engine
    )
    for session in transaction(ctx.sessions):
        tokens = load_demo(session, ctx)
    for session in transaction(ctx.sessions):
        load_exchange(session, ctx)
    for session in transaction(ctx.sessions):
        load_courses(session, ctx)
    engine.dispose()
    server = ServerProcess(url, var_dir).start()
    try:
        _wait_for_checkpoint(server.base_url)
        university = tokens["institutions"]["open-university"]
        programmes = httpx.get(
            f"{server.base_url}/api/v1/programmes", params={"institution_id": university["id"]}
        )
        [programme] = [p for p in programmes.json() if p["code"] == "BJOU-510201"]
        yield CoursesDemo(server, tokens, programme["id"])
    finally:
        server.stop()


@pytest.fixture
def new_page(browser: Browser, courses_demo: CoursesDemo) -> Iterator[Any]:  # noqa: F811
    with watched_pages(browser, courses_demo.base) as make:
        yield make


class TestSharedCourseWalk:
    def test_an_enrolment_in_a_shared_course_ends_in_converted_credits(
        self, courses_demo: CoursesDemo, new_page: Any
    ) -> None:
        d = courses_demo
        learner = d.tokens["learners"]["wang-fang"]
        page = new_page()
        sign_in(page, learner["token"])
        page.get_by_role("link", name="共享课程").click()
        assert page.get_by_role("heading", name="课程跨校共享").is_visible()
        row = page.locator("tr[data-code='SE301']")
        assert "软件工程" in row.inner_text() and "25 / 25" in row.inner_text()
        shot(page, "courses-catalogue")
        with page.expect_navigation():
            row.get_by_role("button", name="申请选修").click()
        assert page.get_by_role("status").inner_text().startswith("已提交选课申请")
        mine = page.locator("#enrolments li.card[data-status='requested']")
        assert mine.count() == 1 and "软件工程" in mine.inner_text()
        assert "24 / 25" in page.locator("tr[data-code='SE301']").inner_text()
        # the home school approves naming its equivalence, the host accepts and posts the result
        university = d.tokens["institutions"]["open-university"]
        host = d.tokens["institutions"]["haidian-vocational"]
        home_api, host_api = d.api(university["token"]), d.api(host["token"])
        [enrolment] = [e for e in home_api.get("/api/v1/enrolments").json() if e["status"] == "requested"]
        [equivalence] = [
            e
            for e in httpx.get(
                f"{d.base}/api/v1/equivalences", params={"institution_id": university["id"]}
            ).json()
            if e["destination_code"] == "SE301"
        ]
        r = home_api.post(
            f"/api/v1/enrolments/{enrolment['id']}/approve",
            json={"equivalence_id": equivalence["id"]},
            headers={"Idempotency-Key": "walk-approve"},
        )
        assert r.status_code == 200, r.text
        page.reload()
        assert page.locator(f"#enrolment-{enrolment['id']}").get_attribute("data-status") == "approved"
        r = host_api.post(
            f"/api/v1/enrolments/{enrolment['id']}/accept", headers={"Idempotency-Key": "walk-accept"}
        )
        assert r.status_code == 200, r.text
        r = host_api.post(
            f"/api/v1/enrolments/{enrolment['id']}/result",
            json={"achieved_on": "2026-12-01", "score": 91, "grade": "优秀"},
            headers={"Idempotency-Key": "walk-result"},
        )
        assert r.status_code == 200 and r.json()["result"] == "converted", r.text
        page.reload()
        done = page.locator(f"#enrolment-{enrolment['id']}")
        assert done.get_attribute("data-result") == "converted"
        assert "已转换 3 学分计入专业" in done.inner_text()
        done.scroll_into_view_if_needed()
        shot(page, "courses-converted")
        # the conversion is in the archive, and the audit counts SE301 as converted
        page.get_by_role("link", name="学业进度").click()
        assert page.locator("li[data-state='converted']", has_text="SE301").count() == 1


class TestGraduationAuditWalk:
    def test_the_learner_and_the_registrar_see_the_audit(
        self, courses_demo: CoursesDemo, new_page: Any
    ) -> None:
        d = courses_demo
        page = new_page()
        sign_in(page, d.tokens["learners"]["wang-fang"]["token"])
        page.goto("/progress")
        assert page.get_by_role("heading", name="学业进度", exact=True).is_visible()
        major = page.locator("tr[data-category='major']")
        assert float(major.locator("td.converted").inner_text()) >= 4
        assert float(major.locator("td.planned").inner_text()) == 4  # NET201, under way
        # 大学英语 (ENG101) at the Haidian vocational school would fill the required gap
        english = page.locator("ul.suggestions li[data-kind='shared_course'][data-category='required']")
        assert english.count() == 1 and "ENG101" in english.inner_text()
        shot(page, "progress")
        phone = new_page(PHONE)
        sign_in(phone, d.tokens["learners"]["wang-fang"]["token"])
        phone.goto("/progress")
        shot(phone, "progress-phone", full_page=False)
        registrar = new_page()
        sign_in(registrar, d.tokens["institutions"]["open-university"]["token"], "/console")
        registrar.goto(f"/console/programmes/{d.programme_id}/progress")
        learner_id = d.tokens["learners"]["wang-fang"]["id"]
        row = registrar.locator(f"tr[data-learner='{learner_id}']")
        assert row.count() == 1 and "缺" in row.inner_text()
        shot(registrar, "progress-registrar")
        with registrar.expect_navigation():
            row.get_by_role("link").click()
        assert registrar.locator("tr[data-category='major']").count() == 1
        # the demo learner granted the open university no read of her archive: no suggestions from her lots
        assert registrar.get_by_text("学习者未授权贵机构查阅其档案").is_visible()
        assert registrar.locator("li[data-kind='lot']").count() == 0
        shot(registrar, "progress-registrar-learner")
