"""A browser following a download link it may not have gets a page, not problem+json.

Another learner's certificate (PDF, JSON), a school following a learner's transcript link, a signed
out browser following a download: each is refused with its status (404, 403, 401) and the reason as
the site's own error page, in Chinese first and in English when the reader chose it. Whoever does
not ask for HTML (a script, ``curl``) still gets problem+json there, and the API's routes answer
problem+json to everyone, browsers included.
"""

import html

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.errors import PROBLEM_MEDIA_TYPE
from creditbank.main import create_app
from creditbank.web.rendering import CSP
from tests.conftest import Tokens
from tests.support.factories import create_learner
from tests.support.signin import mint, sign_in
from tests.web.scene import Scene, build_scene, training

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def _browser(scene: Scene, role: Role, subject: str | None, lang: str = "zh") -> TestClient:
    browser = TestClient(create_app(ctx=scene.ctx), raise_server_exceptions=False)
    browser.get(f"/?lang={lang}")
    sign_in(browser, mint(scene.ctx, role, subject))
    return browser


def _certificate(scene: Scene) -> str:
    posted = scene.post(training("T-1"))
    _, cid = scene.ask_certificate(posted["recognition"]["lot_id"])
    return cid


def _is_page(answer: object, status: int, *texts: str) -> None:
    from httpx import Response

    assert isinstance(answer, Response)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html"), answer.headers["content-type"]
    assert answer.headers["content-security-policy"] == CSP
    for text in texts:
        assert text in answer.text, (text, answer.text[:2000])


class TestBrowser:
    def test_another_learners_certificate_is_a_chinese_page(self, scene: Scene) -> None:
        cid = _certificate(scene)
        other = create_learner(scene.client, scene.institution_headers, name="李雷")
        browser = _browser(scene, Role.learner, other)
        for suffix in (".pdf", ".json"):
            problem = browser.get(f"/archive/certificates/{cid}{suffix}").json()  # what a script reads
            answer = browser.get(f"/archive/certificates/{cid}{suffix}", headers=BROWSER)
            _is_page(answer, 403, '<html lang="zh-CN">', html.escape(problem["title"]))
            assert "无权" in problem["title"]
            assert "application/problem" not in answer.text and '"type"' not in answer.text

    def test_in_english_when_the_reader_chose_english(self, scene: Scene) -> None:
        cid = _certificate(scene)
        other = create_learner(scene.client, scene.institution_headers, name="Li Lei")
        browser = _browser(scene, Role.learner, other, lang="en")
        problem = browser.get(f"/archive/certificates/{cid}.pdf").json()
        answer = browser.get(f"/archive/certificates/{cid}.pdf", headers=BROWSER)
        _is_page(answer, 403, '<html lang="en">', html.escape(problem["title"]))
        assert problem["title"].isascii(), problem["title"]

    def test_an_unknown_certificate_is_a_404_page(self, scene: Scene) -> None:
        browser = _browser(scene, Role.learner, scene.learner_id)
        answer = browser.get("/archive/certificates/crt_doesnotexist.pdf", headers=BROWSER)
        _is_page(answer, 404, '<html lang="zh-CN">', 'href="/archive"')

    def test_a_school_following_a_learners_download_link_reads_403(self, scene: Scene) -> None:
        browser = _browser(scene, Role.institution, scene.institution_id)
        answer = browser.get("/archive/transcript.pdf", headers=BROWSER)
        _is_page(answer, 403, '<html lang="zh-CN">', 'href="/console"')

    def test_a_signed_out_browser_reads_401_as_a_page(self, scene: Scene) -> None:
        stranger = TestClient(create_app(ctx=scene.ctx), raise_server_exceptions=False)
        answer = stranger.get("/archive/export.json", headers=BROWSER)
        _is_page(answer, 401, '<html lang="zh-CN">')


class TestNotBrowser:
    def test_a_script_still_gets_problem_json_from_the_page_route(self, scene: Scene) -> None:
        cid = _certificate(scene)
        other = create_learner(scene.client, scene.institution_headers, name="李雷")
        browser = _browser(scene, Role.learner, other)
        for accept in ("*/*", "application/json", None):
            headers = {"Accept": accept} if accept else {}
            answer = browser.get(f"/archive/certificates/{cid}.pdf", headers=headers)
            assert answer.status_code == 403
            assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
            assert answer.json()["status"] == 403

    def test_the_api_answers_problem_json_even_to_a_browser(self, scene: Scene, auth: Tokens) -> None:
        cid = _certificate(scene)
        other = create_learner(scene.client, scene.institution_headers, name="李雷")
        headers = {**BROWSER, **auth(Role.learner, other)}
        answer = scene.client.get(f"/api/v1/certificates/{cid}", headers=headers)
        assert answer.status_code in (403, 404), answer.text
        assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
        anonymous = TestClient(create_app(ctx=scene.ctx), raise_server_exceptions=False)
        refused = anonymous.get("/api/v1/tokens", headers=BROWSER)
        assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
