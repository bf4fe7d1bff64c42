"""An appeal changing credits (申诉/复核), walked in a real headless Chromium against a real server on
the demo world: 王芳's application was recognised at 3 credits (set up through the API: a district
and a city reviewer approve it); she appeals on the page with a statement and a file; a city centre
reviewer who took no part in the decision changes the credits to 4 on the review page; her archive
shows the corrected credits and her inbox the decision. Screenshots land in ``var/screenshots/``."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine, transaction
from creditbank.demo import load_demo
from tests.applications.support import image_bytes, pdf_bytes
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
class AppealsDemo:
    server: ServerProcess
    tokens: dict[str, Any]
    fresh_reviewer: str
    """A token of a city centre reviewer who decided nothing of the demo (吴复核)."""
    haidian_reviewer: str
    """A token of the Haidian sub-centre's reviewer (钱审核): 王芳 lives in 海淀区."""

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def learner_token(self) -> str:
        token: str = self.tokens["learners"]["wang-fang"]["token"]
        return token

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def appeals_demo(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppealsDemo]:
    var_dir = tmp_path_factory.mktemp("browser-appeals-var")
    url = prepare_database(pg_server, "creditbank_browser_appeals", var_dir)
    engine = create_engine(url, pool_size=2)
    ctx = build_context(
        Settings(var_dir=var_dir, database_url=url, background_publisher=False), engine=engine
    )
    for session in transaction(ctx.sessions):
        tokens = load_demo(session, ctx)
        account = create_reviewer(session, "吴复核")
        _, fresh = create_token(session, ctx.token_key, Role.reviewer, account.id, "appeal reviewer")
        _, haidian = create_token(session, ctx.token_key, Role.reviewer, "demo-haidian-reviewer", "haidian")
    engine.dispose()
    server = ServerProcess(url, var_dir).start()
    try:
        _wait_for_checkpoint(server.base_url)
        yield AppealsDemo(server, tokens, fresh, haidian)
    finally:
        server.stop()


@pytest.fixture
def new_page(browser: Browser, appeals_demo: AppealsDemo) -> Iterator[Any]:  # noqa: F811
    with watched_pages(browser, appeals_demo.base) as make:
        yield make


def _recognised_at_three(d: AppealsDemo) -> str:
    """王芳 applies (48 hours: 3 credits); the Haidian sub-centre, then the city centre approve."""
    learner = d.api(d.learner_token)
    r = learner.post(
        "/api/v1/applications",
        data={
            "outcome_type": "training_course",
            "title": "养老护理员培训（自报）",
            "achieved_on": (dt.date.today() - dt.timedelta(days=60)).isoformat(),
            "hours": "48",
            "district": "海淀区",
            "issuer_kind": "training_body",
            "issuer_name": "北京市海淀区社区学院",
            "statement": "结业证书与学时证明",
        },
        files=[
            ("files", ("结业证书.pdf", pdf_bytes(), "application/pdf")),
            ("files", ("学时证明.png", image_bytes(), "image/png")),
        ],
    )
    assert r.status_code == 201, r.text
    outcome_id: str = r.json()["outcome"]["id"]
    for token, key, reason in (
        (d.haidian_reviewer, "d", "区分中心核验材料，按 48 学时认定"),
        (d.tokens["city_reviewer"], "c", "市中心复核通过"),
    ):
        done = d.api(token).post(
            f"/api/v1/reviews/{outcome_id}/decision",
            json={"decision": "approve", "reason": reason},
            headers={"Idempotency-Key": f"appeal-walk-{key}"},
        )
        assert done.status_code == 200, done.text
    return outcome_id


class TestAppealWalk:
    def test_an_appeal_changes_the_credits_in_the_archive_and_the_inbox_says_so(
        self, appeals_demo: AppealsDemo, new_page: Any
    ) -> None:
        d = appeals_demo
        outcome_id = _recognised_at_three(d)

        # 1. the learner appeals from her applications page, with a statement and a file
        page = new_page()
        sign_in(page, d.learner_token)
        page.get_by_role("link", name="申请认定").click()
        card = page.locator("article", has_text="养老护理员培训（自报）")
        assert "申诉期至" in card.inner_text()
        with page.expect_navigation():
            card.get_by_role("link", name="申诉", exact=True).click()
        assert page.get_by_role("heading", name="提出申诉（复核）").is_visible()
        assert "3 学分" in page.locator("#contested").inner_text()
        page.get_by_label("申诉理由").fill("培训实际为 64 学时（另有 16 学时实操），见所附考勤记录。")
        page.get_by_label("证明材料").set_input_files(
            [{"name": "考勤记录.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()}]
        )
        shot(page, "appeal-form")
        with page.expect_navigation():
            page.get_by_role("button", name="提交申诉").click()
        assert page.get_by_role("status").inner_text().startswith("申诉已提交")
        mine = page.locator("article[data-status='open']")
        assert mine.count() == 1 and "考勤记录.pdf" in mine.inner_text()
        shot(page, "appeals-learner")

        # 2. a city centre reviewer who took no part opens the queue from the review desk
        desk = new_page()
        sign_in(desk, d.fresh_reviewer, "/console")
        desk.get_by_role("link", name="申诉复核").click()
        row = desk.locator("tr[data-may-decide='yes']", has_text="养老护理员培训（自报）")
        assert row.count() == 1
        shot(desk, "appeal-queue")
        with desk.expect_navigation():
            row.get_by_role("link", name="查看并复核").click()
        assert "3 学分" in desk.locator("#contested").inner_text()
        assert desk.locator("#application-files li").count() == 2
        assert desk.locator("#appeal-files li").count() == 1
        assert "区分中心核验材料" in desk.locator("#history").inner_text()
        # the appeal's file opens inline in the browser (the applications' viewer)
        href = desk.locator("#appeal-files a").first.get_attribute("href") or ""
        viewed = desk.context.request.get(href)
        assert viewed.status == 200 and viewed.headers["content-type"] == "application/pdf"
        assert viewed.headers["content-disposition"].startswith("inline")
        desk.get_by_label("改判学分").check()
        desk.get_by_label("改判后学分").fill("4")
        desk.get_by_label("复核理由").fill("考勤记录证明 64 学时，按 4 学分认定")
        shot(desk, "appeal-review")
        with desk.expect_navigation():
            desk.get_by_role("button", name="提交复核结论").click()
        assert "已复核" in desk.get_by_role("status").inner_text()

        # 3. the learner's archive shows the corrected credits, the inbox the decision
        page.goto("/archive")
        outcome = page.locator(f"#outcome-{outcome_id}")
        assert "4 学分" in outcome.locator(".credits").inner_text()
        assert "已申诉（已改判）" in outcome.inner_text()
        outcome.scroll_into_view_if_needed()
        shot(page, "appeal-archive", full_page=False)
        page.get_by_role("link", name="站内信").click()
        assert page.get_by_text("学分由 3 改为 4").first.is_visible()
        shot(page, "appeal-inbox")
        page.goto("/appeals")
        assert page.locator("article[data-status='changed'] .credits-after").inner_text() == "4"
        phone = new_page(PHONE)
        sign_in(phone, d.learner_token)
        phone.goto("/appeals")
        no_horizontal_scroll(phone)
