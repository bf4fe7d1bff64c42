"""The pages in a real headless Chromium against a real server process on the demo world.

Each test records every request the page makes and fails if one goes anywhere but the server;
it also fails on a content-security-policy violation. Screenshots land in ``var/screenshots/``
(the user guide's images are copied from there).

Chromium is Debian's ``/usr/bin/chromium`` (``make system-deps`` installs it); without it these tests
fail with a message saying so, they are not skipped.
"""

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from playwright.sync_api import Request as PageRequest

from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine, transaction
from creditbank.demo import load_demo
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.web.scene import programme

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@dataclass
class Demo:
    server: ServerProcess
    tokens: dict[str, Any]

    @property
    def base(self) -> str:
        return self.server.base_url

    def learner(self, key: str = "wang-fang") -> dict[str, str]:
        found: dict[str, str] = self.tokens["learners"][key]
        return found

    def institution(self, key: str) -> dict[str, str]:
        found: dict[str, str] = self.tokens["institutions"][key]
        return found


def _wait_for_checkpoint(base: str) -> None:
    """The server's publisher signs a checkpoint covering the demo's ledger within seconds."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logs = httpx.get(f"{base}/logs", timeout=5).json()
        if logs and all(log["size"] > 0 for log in logs):
            return
        time.sleep(0.2)
    raise AssertionError("no checkpoint was published")


@pytest.fixture(scope="module")
def demo(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    var_dir = tmp_path_factory.mktemp("browser-var")
    url = prepare_database(pg_server, "creditbank_browser", var_dir)
    engine = create_engine(url, pool_size=2)
    ctx = build_context(
        Settings(var_dir=var_dir, database_url=url, background_publisher=False), engine=engine
    )
    for session in transaction(ctx.sessions):
        tokens = load_demo(session, ctx)
    # a programme of the open university that takes training courses, for the transfer scenario
    programme(
        ctx,
        tokens["institutions"]["open-university"]["id"],
        requires={"lot": {"outcome_type": "training_course"}},
    )
    engine.dispose()
    server = ServerProcess(url, var_dir).start()
    try:
        _wait_for_checkpoint(server.base_url)
        yield Demo(server, tokens)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's chromium package "
            "(run `make system-deps` or `apt-get install chromium`)",
            pytrace=False,
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@dataclass
class Watch:
    """What a page asked for, and what the browser complained about."""

    base: str
    requests: list[str] = field(default_factory=list)
    csp_errors: list[str] = field(default_factory=list)
    ignored: tuple[str, ...] = ()  # the browser's own resources a page may load (e.g. its PDF viewer)

    def on_request(self, request: PageRequest) -> None:
        self.requests.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.csp_errors.append(message.text)

    def check(self) -> None:
        foreign = [u for u in self.requests if not u.startswith((self.base + "/", *self.ignored))]
        assert foreign == [], f"requests to other hosts: {foreign}"
        assert self.csp_errors == [], self.csp_errors


@dataclass
class BrowserSession:
    """A browser context (its own cookies) and the watch over its pages."""

    context: BrowserContext
    watch: Watch
    base: str

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("request", self.watch.on_request)
        page.on("console", self.watch.on_console)
        return page


@pytest.fixture
def open_session(browser: Browser, demo: Demo) -> Iterator[Any]:
    opened: list[BrowserSession] = []

    def make(*, javascript: bool = True, viewport: dict[str, int] | None = None) -> BrowserSession:
        context = browser.new_context(
            base_url=demo.base,
            java_script_enabled=javascript,
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
            accept_downloads=True,
            locale="zh-CN",
        )
        session = BrowserSession(context, Watch(demo.base), demo.base)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.context.close()
    for session in opened:
        session.watch.check()


@contextmanager
def watched_pages(browser: Browser, base: str, ignored: tuple[str, ...] = ()) -> Iterator[Any]:
    """``make(viewport=None, *, javascript=True)``: a page in a browser context of its own, watched for
    requests to other hosts and CSP errors; on the way out the contexts are closed and every watch is
    checked (``ignored``: URL prefixes of the browser's own resources a page may load)."""
    opened: list[BrowserSession] = []

    def make(viewport: dict[str, int] | None = None, *, javascript: bool = True) -> Page:
        context = browser.new_context(
            base_url=base,
            java_script_enabled=javascript,
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
            accept_downloads=True,
            locale="zh-CN",
        )
        session = BrowserSession(context, Watch(base, ignored=ignored), base)
        opened.append(session)
        return session.page()

    yield make
    for session in opened:
        session.context.close()
    for session in opened:
        session.watch.check()


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def sign_in(page: Page, token: str, start: str = "/") -> None:
    page.goto(start)
    page.get_by_label("访问令牌").fill(token)
    with page.expect_navigation():
        page.get_by_role("button", name="登录", exact=True).click()  # not 用密码登录


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px"


class TestLearner:
    def test_signs_in_and_sees_the_demo_credits(self, demo: Demo, open_session: Any) -> None:
        page = open_session().page()
        page.goto("/")
        shot(page, "signin")
        sign_in(page, demo.learner()["token"])
        assert page.url.endswith("/archive")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.get_by_role("heading", name="终身学习档案").is_visible()
        assert float(page.locator("#total-credits").inner_text()) > 0
        assert page.locator("article.outcome").count() >= 10
        assert page.locator("svg.chart").count() == 2
        assert page.get_by_text("王芳").first.is_visible()
        assert page.locator(".ledger code.hash").count() >= 5
        shot(page, "archive")
        page.get_by_role("link", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("heading", name="Lifelong learning archive").is_visible()
        shot(page, "archive-en", full_page=False)

    def test_archive_fits_a_phone(self, demo: Demo, open_session: Any) -> None:
        page = open_session(viewport=PHONE).page()
        sign_in(page, demo.learner()["token"])
        no_horizontal_scroll(page)
        shot(page, "archive-phone", full_page=False)

    def test_keyboard_reaches_the_skip_link_and_sees_focus(self, demo: Demo, open_session: Any) -> None:
        page = open_session().page()
        page.goto("/verify")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", "")
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#main"

    def test_downloads_a_certificate_and_the_auditor_checks_it(
        self, demo: Demo, open_session: Any, tmp_path: Path
    ) -> None:
        learner = open_session().page()
        sign_in(learner, demo.learner()["token"])
        with learner.expect_navigation():
            learner.get_by_role("button", name="生成学分证书").first.click()
        expect(learner.get_by_text("证书已签发")).to_be_visible()
        with learner.expect_download() as got:
            learner.locator("#certificate-table a", has_text="下载 JSON").first.click()
        certificate = tmp_path / "certificate.json"
        got.value.save_as(certificate)
        document = json.loads(certificate.read_text())
        assert "OpenBadgeCredential" in document["type"]
        with learner.expect_download() as got_pdf:
            learner.locator("#certificate-table a", has_text="下载 PDF").first.click()
        transcript = tmp_path / "certificate.pdf"
        got_pdf.value.save_as(transcript)
        assert transcript.read_bytes().startswith(b"%PDF")
        learner.locator("#certificates").scroll_into_view_if_needed()
        shot(learner, "archive-certificates", full_page=False)

        auditor = open_session().page()  # another browser profile: no session at all
        auditor.goto("/verify")
        auditor.get_by_label("或上传 JSON 文件").set_input_files(str(certificate))
        with auditor.expect_navigation():
            auditor.get_by_role("button", name="核验").click()
        assert auditor.locator("#verdict").get_attribute("data-valid") == "true"
        assert auditor.locator("#checks tr.check-ok").count() == 6
        shot(auditor, "verify-valid")

        tampered = dict(document)
        tampered["credentialSubject"] = {**document["credentialSubject"], "creditsEarned": 99}
        auditor.goto("/verify")
        auditor.get_by_label("证书 JSON").fill(json.dumps(tampered, ensure_ascii=False))
        with auditor.expect_navigation():
            auditor.get_by_role("button", name="核验").click()
        assert auditor.locator("#verdict").get_attribute("data-valid") == "false"
        assert auditor.locator('#checks tr[data-check="proof"]').get_attribute("class") == "check-fail"
        shot(auditor, "verify-tampered")
        # the auditor's browser remembered the checkpoints and checks them again
        assert auditor.locator('article.log[data-consistency="same"]').count() >= 1

    def test_requests_a_transfer_and_the_destination_accepts_it(self, demo: Demo, open_session: Any) -> None:
        learner = open_session().page()
        sign_in(learner, demo.learner()["token"])
        learner.locator("#transfer .check", has_text="非学历培训").first.locator("input").check()
        learner.get_by_label("转入院校与专业").select_option(label="北京开放大学 · 软件技术 (510201)")
        with learner.expect_navigation():
            learner.get_by_role("button", name="申请转移").click()
        expect(learner.get_by_text("转移申请已提交")).to_be_visible()
        assert "待接收" in learner.locator("#transfer-table").inner_text()

        school = open_session().page()
        sign_in(school, demo.institution("open-university")["token"], start="/console")
        row = school.locator('#incoming-table tr[data-status="issued"]').first
        assert "✔" in row.inner_text()
        school.locator("#incoming").scroll_into_view_if_needed()
        shot(school, "console-incoming", full_page=False)
        with school.expect_navigation():
            row.get_by_role("button", name="接收并转换").click()
        expect(school.get_by_text("学分已转换")).to_be_visible()
        assert school.locator('#incoming-table tr[data-status="accepted"]').count() >= 1

        learner.reload()
        assert "已接收" in learner.locator("#transfer-table").inner_text()
        assert learner.locator("#conversions table").first.is_visible()
        learner.locator("#transfers").scroll_into_view_if_needed()
        shot(learner, "archive-transfers", full_page=False)


class TestInstitution:
    def _csv(self, demo: Demo, path: Path) -> Path:
        learner_id = demo.learner("li-wei")["id"]
        lines = [
            "learner_id,reference,outcome_type,title,achieved_on,hours,field",
            f"{learner_id},BROWSER-1,training_course,网络安全实训,2025-03-01,48,network_security",
            f"{learner_id},BROWSER-2,training_course,数据库管理实训,2025-03-02,24,database",
            f"{learner_id},BROWSER-3,training_course,缺少日期,,16,",
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def test_console_csv_upload_reports_its_rows(self, demo: Demo, open_session: Any, tmp_path: Path) -> None:
        page = open_session().page()
        sign_in(page, demo.institution("skills-training")["token"], start="/console")
        assert page.get_by_role("heading", name="机构控制台").is_visible()
        shot(page, "console")
        page.get_by_label("CSV 或 Excel 文件").set_input_files(str(self._csv(demo, tmp_path / "rows.csv")))
        page.get_by_role("button", name="上传并提交").click()
        summary = page.locator("#report-summary")
        summary.wait_for()
        assert "共 3 行：新增 2，重复 0，出错 1" in summary.inner_text()
        assert page.locator("#report tbody tr").count() == 3
        assert page.locator('tr[data-row="3"].row-error').is_visible()
        shot(page, "upload-report")

    def test_upload_works_without_javascript(self, demo: Demo, open_session: Any, tmp_path: Path) -> None:
        page = open_session(javascript=False).page()
        sign_in(page, demo.institution("skills-training")["token"], start="/console")
        page.get_by_label("CSV 或 Excel 文件").set_input_files(str(self._csv(demo, tmp_path / "again.csv")))
        with page.expect_navigation():
            page.get_by_role("button", name="上传并提交").click()
        summary = page.locator("#report-summary").inner_text()
        assert "重复" in summary and "出错 1" in summary

    def test_form_errors_show_next_to_the_fields(self, demo: Demo, open_session: Any) -> None:
        page = open_session(viewport=PHONE).page()
        sign_in(page, demo.institution("haidian-vocational")["token"], start="/console")
        page.get_by_label("机构编号").fill("FORM-BROWSER-1")
        page.locator("#f-title").fill("")
        with page.expect_navigation():
            page.get_by_role("button", name="提交成果").click()
        assert page.locator("#title-error").is_visible()
        assert page.locator("#f-title").get_attribute("aria-invalid") == "true"
        no_horizontal_scroll(page)
        page.locator("#form-errors").scroll_into_view_if_needed()
        shot(page, "console-form-errors-phone", full_page=False)

    def test_reviewer_sees_the_queue(self, demo: Demo, open_session: Any) -> None:
        page = open_session().page()
        sign_in(page, demo.tokens["reviewer"], start="/console")
        assert page.get_by_role("heading", name="审核工作台").is_visible()
        assert page.locator("#queue article").count() >= 1
        shot(page, "review")


class TestVerifyPageHonesty:
    def test_every_log_badge_says_the_server_reported_it_and_the_audit_command_works(
        self, demo: Demo, open_session: Any, tmp_path: Path
    ) -> None:
        page = open_session(viewport=PHONE).page()
        page.goto("/verify")
        honesty = page.locator("#logs-honesty")
        expect(honesty).to_be_visible()
        assert "本服务器自行检验并报告" in honesty.inner_text()
        assert "creditbank audit verify" in honesty.inner_text()
        badges = page.locator("#logs article.log .badge")
        assert badges.count() >= 2, "a signature and a consistency badge per log"
        for i in range(badges.count()):
            badge = badges.nth(i)
            assert badge.get_attribute("data-source") == "server"
            text = badge.inner_text()
            assert "据本服务器报告" in text, text
            assert badge.locator(".reported").is_visible()
        no_horizontal_scroll(page)
        shot(page, "verify-logs-phone")
        # the key shown is the log's key, for the user to compare with the one published elsewhere
        [log] = httpx.get(f"{demo.base}/logs", timeout=10).json()
        assert page.locator("#logs code.verifier-key").first.inner_text() == log["verifier_key"]
        # the command the page points to audits the log without trusting the page
        command = page.locator("#logs pre.audit-command").first.inner_text().strip()
        assert command.startswith("creditbank audit verify --url ")
        argv = shlex.split(command)
        done = subprocess.run(
            [str(Path(sys.executable).with_name("creditbank")), *argv[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        page.set_viewport_size(DESKTOP)
        page.get_by_role("link", name="English").click()
        assert "(as reported by this server)" in page.locator("#logs article.log .badge").first.inner_text()


class TestWithoutJavascript:
    def test_archive_and_verification_work_without_javascript(self, demo: Demo, open_session: Any) -> None:
        page = open_session(javascript=False).page()
        sign_in(page, demo.learner("zhang-min")["token"])
        assert page.locator("svg.chart").count() == 2
        assert float(page.locator("#total-credits").inner_text()) > 0
        page.goto("/verify")
        page.get_by_label("证书 JSON").fill('{"not": "a certificate"}')
        with page.expect_navigation():
            page.get_by_role("button", name="核验").click()
        assert page.locator("#verdict").get_attribute("data-valid") == "false"
        assert page.locator("#checks tbody tr").count() == 6


class TestWayfinding:
    """Issue 16, points 7 and 8 in the browser: sign-in lands where the role works, the archive folds
    its technical information, and a revoked certificate says when and why."""

    def test_each_role_lands_where_it_works(self, demo: Demo, open_session: Any) -> None:
        cases = [
            (demo.institution("haidian-vocational")["token"], "/console", "机构控制台"),
            (demo.tokens["reviewer"], "/console", "审核工作台"),
            (demo.tokens["auditor"], "/verify", "证书核验"),
            (demo.learner()["token"], "/archive", "终身学习档案"),
        ]
        for token, path, heading in cases:
            page = open_session().page()
            sign_in(page, token)  # on the home page, as anyone would
            assert page.url == demo.base + path, (heading, page.url)
            assert page.get_by_role("heading", name=heading).first.is_visible()

    def test_technical_information_is_folded_until_asked(self, demo: Demo, open_session: Any) -> None:
        page = open_session().page()
        sign_in(page, demo.learner()["token"])
        toggles = page.locator("details.tech")
        assert toggles.count() >= 10
        assert page.locator("details.tech[open]").count() == 0
        first = page.locator("article.outcome").first
        leaf = first.locator(".ledger code.hash")
        assert leaf.count() == 1 and not leaf.is_visible()
        assert page.locator("code.hash:visible").count() == 0, "a hash shows before it is asked for"
        summary = first.locator("details.tech > summary")
        assert summary.inner_text().startswith("技术信息")
        summary.focus()  # a keyboard user opens it
        page.keyboard.press("Enter")
        expect(leaf).to_be_visible()
        assert first.locator("details.tech").get_attribute("open") is not None
        first.scroll_into_view_if_needed()
        shot(page, "archive-technical", full_page=False)

    def test_a_revoked_certificate_says_when_and_why(self, demo: Demo, open_session: Any) -> None:
        page = open_session().page()
        sign_in(page, demo.learner("zhang-min")["token"])
        with page.expect_navigation():
            page.get_by_role("button", name="生成学分证书").first.click()
        expect(page.get_by_text("证书已签发")).to_be_visible()
        newest = page.locator("#certificate-table tbody tr").first.get_attribute("id")
        assert newest and newest.startswith("cert-")
        certificate_id = newest.removeprefix("cert-")
        # its issuer revokes it (only the issuer may: the others are refused)
        answers = [
            httpx.post(
                f"{demo.base}/api/v1/certificates/{certificate_id}/revoke",
                json={"reason": "考核记录有误"},
                headers={"Authorization": f"Bearer {school['token']}", "Idempotency-Key": f"browser-{key}"},
                timeout=30,
            ).status_code
            for key, school in demo.tokens["institutions"].items()
        ]
        assert answers.count(200) == 1 and set(answers) <= {200, 403}, answers
        page.reload()
        row = page.locator(f"#cert-{certificate_id}")
        expect(row.locator(".cert-revoked")).to_be_visible()
        record = row.locator(".status-record")
        expect(record).to_be_visible()
        assert "北京时间" in record.inner_text() and "原因：考核记录有误" in record.inner_text()
        with page.expect_navigation():
            row.get_by_role("link", name="核验").click()
        notice = page.locator("#status-record")
        expect(notice).to_be_visible()
        text = notice.inner_text()
        assert "被签发机构吊销" in text and "（北京时间）" in text and "原因：考核记录有误" in text
        assert (
            page.locator('#checks tr[data-check="status"] .reason-text').inner_text()
            == "证书已被签发机构吊销。"
        )
        for reason in page.locator("#checks .reason-text").all_inner_texts():
            assert any("\u4e00" <= ch <= "\u9fff" for ch in reason), reason
        shot(page, "verify-revoked")
