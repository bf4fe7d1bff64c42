"""Applications for recognition in a real headless Chromium against a real server process: the
form swaps in the chosen outcome type's fields without a reload; a reviewer sees a PDF's and a PNG's
evidence inline, with no download; and the whole walk, from opening an account to the credits in the
archive. Every request the pages make must stay on the server and no content-security-policy
violation may occur. Screenshots land in ``var/screenshots/``.

Chromium is Debian's ``/usr/bin/chromium``; without it these tests fail with a message, they are
not skipped.
"""

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fpdf import FPDF
from PIL import Image
from playwright.sync_api import Browser, Page, Response, expect

from creditbank.applications import claim_fields
from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine, transaction
from creditbank.i18n import Translator
from creditbank.institutions import service as institutions
from creditbank.institutions.models import InstitutionKind
from creditbank.learners import service as learners
from tests.support.factories import credit_code, identity_number
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.web.test_browser import (  # noqa: F401 (the browser fixtures)
    DESKTOP,
    browser,
    playwright,
    shot,
    sign_in,
    watched_pages,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PDF_VIEWER = "chrome-extension://mhjfbmdgcfjbbpaeojofohoefgiehjai/"
"""Chromium's built-in PDF viewer, which draws a PDF navigated to in a frame."""


@dataclass
class World:
    server: ServerProcess
    learner: str  # a token of a learner registered by a school in 朝阳区
    district: str  # a token of a reviewer at 朝阳区's sub-centre
    city: str  # a token of a reviewer at the city centre

    @property
    def base(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def world(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    var_dir = tmp_path_factory.mktemp("browser-applications-var")
    url = prepare_database(pg_server, "creditbank_browser_applications", var_dir)
    engine = create_engine(url, pool_size=2)
    ctx = build_context(
        Settings(var_dir=var_dir, database_url=url, background_publisher=False), engine=engine
    )
    for session in transaction(ctx.sessions):
        school = institutions.register(
            session,
            name_zh="北京市朝阳区职业技能培训学校",
            name_en="Chaoyang Vocational Skills School",
            credit_code=credit_code(),
            kind=InstitutionKind.training_body,
            district="朝阳区",
        )
        session.flush()
        learner, _ = learners.register(
            session,
            identity_key=ctx.identity_key,
            master_key=ctx.secrets.master_key,
            name="赵磊",
            identity_number=identity_number(),
            institution_id=school.id,
        )
        _, learner_token = create_token(session, ctx.token_key, Role.learner, learner.id)
        district = create_reviewer(session, "刘敏", unit="朝阳区分中心", district="朝阳区")
        _, district_token = create_token(session, ctx.token_key, Role.reviewer, district.id)
        city = create_reviewer(session, "孙伟", unit="市学分银行管理中心")
        _, city_token = create_token(session, ctx.token_key, Role.reviewer, city.id)
    engine.dispose()
    server = ServerProcess(url, var_dir, publisher=False).start()
    try:
        yield World(server, learner_token, district_token, city_token)
    finally:
        server.stop()


@pytest.fixture
def new_page(browser: Browser, world: World) -> Iterator[Any]:  # noqa: F811
    # Chromium's own PDF viewer (a component of the browser, with its chrome:// resources: no network
    # request) draws an evidence PDF in its frame; anything else off the server fails
    with watched_pages(browser, world.base, ignored=(PDF_VIEWER, "chrome://")) as make:
        yield make


def _shown_fields(page: Page) -> set[str]:
    names: list[str] = page.locator("#type-fields [name]").evaluate_all(
        "els => els.filter(e => e.type !== 'hidden').map(e => e.name)"
    )
    return set(names)


class TestTheFormAdapts:
    def test_switching_the_type_shows_exactly_that_types_fields_without_a_reload(
        self, world: World, new_page: Any
    ) -> None:
        page = new_page()
        sign_in(page, world.learner, "/applications")
        page.goto("/applications/new")
        assert not page.locator("#type-next").is_visible()  # the script swaps instead
        assert not page.locator("#apply-form").is_visible()
        page.evaluate("window.notReloaded = true")
        for kind in ("competition_award", "work_experience", "self_study_exam", "training_course"):
            with page.expect_response(lambda r: "part=fields" in r.url):
                page.locator("#outcome_type").select_option(kind)
            page.wait_for_function(
                "kind => document.getElementById('type-fields').dataset.type === kind", arg=kind
            )
            expected = {f.name for f in claim_fields.fields_of(kind)}
            assert _shown_fields(page) == expected, kind
            required = {f.name for f in claim_fields.fields_of(kind) if f.required}
            marked: list[str] = page.locator("#type-fields [required]").evaluate_all(
                "els => els.map(e => e.name)"
            )
            assert set(marked) == required, kind
            assert page.locator("#type-fields input[name=outcome_type]").get_attribute("value") == kind
            assert page.evaluate("window.notReloaded") is True  # the same document: no reload
            assert page.url.endswith(f"/applications/new?type={kind}")
            if kind == "competition_award":
                shot(page, "apply-form-competition")
        assert page.locator("#apply-form").is_visible()
        assert page.locator("#apply-form [name=district]").count() == 0

    def test_without_javascript_the_first_step_loads_the_types_form(
        self, world: World, new_page: Any
    ) -> None:
        page = new_page(javascript=False)
        sign_in(page, world.learner, "/applications")
        page.goto("/applications/new")
        page.locator("#outcome_type").select_option("work_experience")
        with page.expect_navigation():
            page.locator("#type-next").click()
        assert page.url.endswith("/applications/new?type=work_experience")
        assert _shown_fields(page) == {"years", "field"}
        shot(page, "apply-form-nojs")


def certificate_pdf(text: str = "Certificate of completion: 48 hours") -> bytes:
    """A one-page PDF with a line of text, as a training school's certificate would have."""
    document = FPDF()
    document.add_page()
    document.set_font("helvetica", size=22)
    document.cell(text=text)
    return bytes(document.output())


def hours_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (30, 110, 200)).save(out, "PNG")
    return out.getvalue()


def _api(world: World, token: str) -> httpx.Client:
    return httpx.Client(base_url=world.base, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _wait_for_viewer(page: Page, frame_count: int) -> None:
    """Until Chromium's PDF viewer has drawn ``frame_count`` PDFs (one viewer frame each)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sum(f.url.startswith(PDF_VIEWER) for f in page.frames) >= frame_count:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"no PDF viewer in the page's frames: {[f.url for f in page.frames]}")


class TestEvidenceInline:
    def test_a_reviewer_sees_a_pdf_and_a_png_inline_without_a_download(
        self, world: World, new_page: Any
    ) -> None:
        with _api(world, world.learner) as api:
            filed = api.post(
                "/api/v1/applications",
                data={
                    "outcome_type": "training_course",
                    "title": "低压电工作业培训（证明材料查看）",
                    "achieved_on": "2026-06-30",
                    "hours": "48",
                    "issuer_kind": "training_body",
                    "issuer_name": "北京市朝阳区职业技能培训学校",
                },
                files=[
                    ("files", ("结业证书.pdf", certificate_pdf(), "application/pdf")),
                    ("files", ("学时证明.png", hours_png(), "image/png")),
                ],
            )
        assert filed.status_code == 201, filed.text
        outcome_id = filed.json()["outcome"]["id"]
        page = new_page()
        downloads: list[str] = []
        page.on("download", lambda d: downloads.append(d.url))
        served: list[Response] = []
        page.on("response", lambda r: served.append(r) if "/evidence/" in r.url else None)
        sign_in(page, world.district, "/console")
        card = page.locator(f"#evidence-{outcome_id}")
        expect(card.locator("iframe.evidence-pdf")).to_be_visible()
        # the PDF: drawn by Chromium's viewer inside the review page's frame
        _wait_for_viewer(page, 1)
        frame = card.locator("iframe.evidence-pdf").element_handle().content_frame()
        assert frame is not None and frame.evaluate("document.contentType") == "application/pdf"
        # the PNG: an image in the page, decoded
        image = card.locator("img.evidence-image")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth") == 320
        card.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        shot(page, "review-evidence")
        assert downloads == [], downloads  # seen in the page, never saved to disk
        # as the browser received them: inline, nosniff, and a CSP under which no script runs
        # (the viewer reads the PDF again from the stream the browser already holds: no headers)
        received = [h for h in (r.all_headers() for r in served) if "content-type" in h]
        assert sorted(h["content-type"] for h in received) == ["application/pdf", "image/png"]
        for headers in received:
            assert headers["content-disposition"].startswith("inline;"), headers
            assert headers["x-content-type-options"] == "nosniff"
            policy = {d.split()[0]: d.split()[1:] for d in headers["content-security-policy"].split("; ")}
            assert policy["script-src"] == ["'none'"] and policy["frame-ancestors"] == ["'self'"], policy


ZH = Translator("zh")
WALK_TITLE = "养老护理员职业技能培训（本人申请）"
WALK_PASSWORD = "学分银行-walk-2026"


def _decide(page: Page, decision: str, reason: str) -> None:
    """On the review desk, decide the walk's application (found by its title)."""
    page.goto("/console")
    card = page.locator("article.outcome", has_text=WALK_TITLE)
    expect(card).to_be_visible()
    card.get_by_label(decision, exact=True).check()
    card.locator("input[name=reason]").fill(reason)
    with page.expect_navigation():
        card.get_by_role("button", name="提交", exact=True).click()


class TestTheWalk:
    def test_register_verify_apply_return_resubmit_two_stages_archive(
        self, world: World, new_page: Any
    ) -> None:
        # 1. a person opens an account on /register, in 朝阳区
        person = new_page()
        person.goto("/register")
        person.locator("#name").fill("周丽")
        person.locator("#identity_number").fill(identity_number())
        person.locator("#contact").fill("13911223344")
        person.locator("#district").select_option("朝阳区")
        person.locator("#password").fill(WALK_PASSWORD)
        person.locator("#password_again").fill(WALK_PASSWORD)
        shot(person, "walk-1-register")
        with person.expect_navigation():
            person.locator("form[action='/register'] button[type=submit]").click()
        assert person.url.endswith("/account?done=registered"), person.url
        code = person.locator("#account-code").inner_text()
        person.goto("/applications")
        assert person.url.endswith("/account")  # not verified yet: no applying
        # 2. 朝阳区's sub-centre verifies the account at the counter, in the console
        district = new_page()
        sign_in(district, world.district, "/console")
        district.goto("/console/accounts")
        district.locator("#code").fill(code)
        with district.expect_navigation():
            district.get_by_role("button", name="查找").click()
        expect(district.locator("#account-found")).to_contain_text("周丽")
        district.locator("#documents").fill("居民身份证原件")
        with district.expect_navigation():
            district.get_by_role("button", name="确认核验").click()
        expect(district.get_by_text("账户已核验。")).to_be_visible()
        shot(district, "walk-2-verified")
        # 3. the learner applies with two files, a PDF and a PNG; the district is their own
        person.goto("/applications/new?type=training_course")
        expect(person.locator("main")).to_contain_text("您所在区（朝阳区）的分中心初审")
        person.locator("#title").fill(WALK_TITLE)
        person.locator("#achieved_on").fill("2026-06-30")
        person.locator("#hours").fill("48")
        person.locator("#issuer_name").fill("北京市朝阳区职业技能培训学校")
        person.locator("#statement").fill("结业证书与学时证明")
        person.locator("#files").set_input_files(
            [
                {"name": "结业证书.pdf", "mimeType": "application/pdf", "buffer": certificate_pdf()},
                {"name": "学时证明.png", "mimeType": "image/png", "buffer": hours_png()},
            ]
        )
        shot(person, "walk-3-apply")
        with person.expect_navigation():
            person.get_by_role("button", name="提交申请").click()
        assert "/applications?done=applied" in person.url, person.url
        mine = person.locator("article.outcome", has_text=WALK_TITLE)
        expect(mine.locator(".badge")).to_have_text(ZH("applications.state.district"))
        assert mine.locator(".evidence li").count() == 2
        # 4. the district reviewer sees both files inline and returns it for more material
        reason = "请补充培训机构盖章的学时证明"
        district.goto("/console")
        card = district.locator("article.outcome", has_text=WALK_TITLE)
        expect(card.locator("iframe.evidence-pdf")).to_be_visible()
        expect(card.locator("img.evidence-image")).to_be_visible()
        shot(district, "walk-4-review")
        _decide(district, "退回补充材料", reason)
        # 5. the learner reads the reason, on the application and in the inbox, adds a file, resubmits
        person.goto("/applications")
        mine = person.locator("article.outcome", has_text=WALK_TITLE)
        expect(mine.locator(".badge")).to_have_text(ZH("applications.state.returned"))
        expect(mine.locator(".history")).to_contain_text(reason)
        shot(person, "walk-5-returned")
        person.goto("/inbox")
        expect(person.locator("#inbox-items")).to_contain_text(reason)
        shot(person, "walk-5-inbox")
        person.goto("/applications")
        mine = person.locator("article.outcome", has_text=WALK_TITLE)
        mine.locator("textarea[name=note]").fill("已补充盖章的学时证明")
        mine.locator("input[type=file]").set_input_files(
            [{"name": "盖章学时证明.png", "mimeType": "image/png", "buffer": hours_png()}]
        )
        with person.expect_navigation():
            mine.get_by_role("button", name="补充材料后重新提交").click()
        mine = person.locator("article.outcome", has_text=WALK_TITLE)
        expect(mine.locator(".badge")).to_have_text(ZH("applications.state.district"))
        assert mine.locator(".evidence li").count() == 3
        shot(person, "walk-6-resubmitted")
        # 6. the district approves (stage 1); 7. a different person at the city centre approves (stage 2)
        _decide(district, "通过", "材料齐全，初审通过")
        city = new_page()
        sign_in(city, world.city, "/console")
        city.goto("/console")
        expect(city.locator("article.outcome", has_text=WALK_TITLE)).to_be_visible()
        shot(city, "walk-7-city")
        _decide(city, "通过", "复审通过，予以认定")
        # 8. the learner's archive shows the recognised credits
        person.goto("/applications")
        expect(person.locator("article.outcome", has_text=WALK_TITLE).locator(".badge")).to_have_text(
            "已认定"
        )
        person.goto("/archive")
        item = person.locator("article.outcome", has_text=WALK_TITLE)
        expect(item).to_be_visible()
        expect(item.locator(".credits")).to_contain_text("3")
        shot(person, "walk-8-archive")
