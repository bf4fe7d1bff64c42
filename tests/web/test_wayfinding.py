"""Sign-in goes where the role works, and the verify page explains itself (issue 16, point 8).

Signing in is done as a browser does it: open the page, send its form back with every field it
carries (its ``next`` among them). The verify page's reasons, and the technical detail after
them, are said in the reader's language (Chinese first), its times for people; a revoked or
suspended certificate says when and why, from its own record, and only to someone holding its
genuine signed copy.
"""

import datetime as dt
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.signin import csrf_of, mint, signin
from tests.web.scene import Scene, build_scene, publish, training

REASON = re.compile(
    r'<tr class="check-(ok|fail)" data-check="([a-z]+)">.*?<td class="reason">'
    r'<span class="reason-text">([^<]*)</span><br>'
    r'<span class="muted reason-detail" lang="([a-zA-Z-]+)">([^<]*)</span>',
    re.S,
)
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def _fresh(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def sign_in_through(client: TestClient, page: str, token: str) -> Response:
    """Sign in through ``page``'s form (its ``next`` sent back as the page wrote it); a success."""
    response = signin(client, token, page)
    assert response.status_code == 303, response.text
    return response


def _subject(scene: Scene, role: Role) -> str | None:
    return {Role.institution: scene.institution_id, Role.learner: scene.learner_id}.get(role)


class TestSignInLandsWhereTheRoleWorks:
    @pytest.mark.parametrize(
        ("role", "lands"),
        [
            (Role.institution, "/console"),
            (Role.reviewer, "/console"),
            (Role.admin, "/console"),
            (Role.auditor, "/verify"),
            (Role.learner, "/archive"),
        ],
    )
    def test_from_the_home_page(self, scene: Scene, role: Role, lands: str) -> None:
        client = _fresh(scene.ctx)
        response = sign_in_through(client, "/", mint(scene.ctx, role, _subject(scene, role)))
        assert response.headers["location"] == lands

    def test_the_reviewer_lands_on_the_review_desk(self, scene: Scene) -> None:
        client = _fresh(scene.ctx)
        response = sign_in_through(client, "/", mint(scene.ctx, Role.reviewer))
        desk = client.get(response.headers["location"])
        assert "审核工作台" in desk.text and 'action="/signin"' not in desk.text

    def test_a_page_the_role_does_not_work_on_sends_it_home(self, scene: Scene) -> None:
        # the archive's form, used by a school: the console, not "you are not a learner"
        school = _fresh(scene.ctx)
        token = mint(scene.ctx, Role.institution, scene.institution_id)
        assert sign_in_through(school, "/archive", token).headers["location"] == "/console"
        # the console's form, used by a learner: the archive
        learner = _fresh(scene.ctx)
        token = mint(scene.ctx, Role.learner, scene.learner_id)
        assert sign_in_through(learner, "/console", token).headers["location"] == "/archive"
        # the console's form, used by a school: the console
        again = _fresh(scene.ctx)
        token = mint(scene.ctx, Role.institution, scene.institution_id)
        assert sign_in_through(again, "/console", token).headers["location"] == "/console"

    def test_signed_in_staff_opening_the_home_page_go_to_their_page(self, scene: Scene) -> None:
        for role, lands in ((Role.institution, "/console"), (Role.auditor, "/verify")):
            client = _fresh(scene.ctx)
            sign_in_through(client, "/", mint(scene.ctx, role, _subject(scene, role)))
            home = client.get("/", follow_redirects=False)
            assert home.status_code == 303 and home.headers["location"] == lands

    def test_an_unknown_next_page_is_not_followed(self, scene: Scene) -> None:
        client = _fresh(scene.ctx)
        form = client.get("/")
        response = client.post(
            "/signin",
            data={
                "token": mint(scene.ctx, Role.institution, scene.institution_id),
                "csrf": csrf_of(form.text),
                "next": "https://evil.example/steal",
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/console"


class TestVerifyPageReasons:
    def _certificate(self, scene: Scene) -> tuple[str, dict[str, Any]]:
        posted = scene.post(training("WAY-1"))
        _, cid = scene.ask_certificate(posted["recognition"]["lot_id"])
        publish(scene.ctx)
        document: dict[str, Any] = scene.client.get(f"/archive/certificates/{cid}.json").json()
        return cid, document

    def _reasons(self, html: str, lang: str = "zh-CN") -> dict[str, tuple[str, str, str]]:
        rows = REASON.findall(html)
        assert rows, "no check rows with a reason"
        assert {said_in for _, _, _, said_in, _ in rows} == {lang}
        return {name: (result, text, detail) for result, name, text, _, detail in rows}

    def test_every_reason_and_its_detail_are_said_in_chinese(self, scene: Scene) -> None:
        _, document = self._certificate(scene)
        page = _fresh(scene.ctx).post("/verify", data={"certificate": json.dumps(document)}).text
        reasons = self._reasons(page)
        assert set(reasons) == {"proof", "key", "issuer", "status", "validity", "ledger"}
        for name, (result, text, detail) in reasons.items():
            assert result == "ok", name
            assert CJK.search(text), f"{name}: {text!r} is not Chinese"
            assert CJK.search(detail), f"{name}: {detail!r} is not Chinese"
            assert not ISO_TIME.search(detail), f"{name}: {detail!r} shows a raw ISO time"
        assert reasons["proof"][1].startswith("签名有效")
        assert reasons["status"][1] == "证书未被吊销，也未被暂停。"
        assert "签名验证通过" in reasons["proof"][2] and "学分" in reasons["ledger"][2]

    def test_the_validity_detail_gives_its_times_for_people(self, scene: Scene) -> None:
        _, document = self._certificate(scene)
        issued, until = (
            dt.datetime.fromisoformat(document[k].replace("Z", "+00:00")) for k in ("validFrom", "validUntil")
        )
        zh = self._reasons(_fresh(scene.ctx).post("/verify", data={"certificate": json.dumps(document)}).text)
        moment = r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d UTC"
        assert re.fullmatch(f"有效期自 {moment} 至 {moment}（核验时间 {moment}）", zh["validity"][2]), zh
        said = [f"{d.year}年{d.month}月{d.day}日 {d:%H:%M} UTC" for d in (issued, until)]
        assert zh["validity"][2].startswith(f"有效期自 {said[0]} 至 {said[1]}（")
        en_page = _fresh(scene.ctx).post("/verify?lang=en", data={"certificate": json.dumps(document)}).text
        en = self._reasons(en_page, "en")
        moment = r"\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC"
        assert re.fullmatch(
            f"valid from {moment} until {moment} \\(checked at {moment}\\)", en["validity"][2]
        ), en
        said = [f"{d.day} {d:%B %Y, %H:%M} UTC" for d in (issued, until)]
        assert en["validity"][2].startswith(f"valid from {said[0]} until {said[1]} (")

    def test_a_tampered_copy_is_explained_in_chinese(self, scene: Scene) -> None:
        _, document = self._certificate(scene)
        document["credentialSubject"]["creditsEarned"] = 30
        page = _fresh(scene.ctx).post("/verify", data={"certificate": json.dumps(document)}).text
        result, text, detail = self._reasons(page)["proof"]
        assert result == "fail"
        assert text.startswith("签名不符：证书内容在签发后被改动过")
        assert "signature" in detail.lower()

    def test_in_english_the_reasons_are_english(self, scene: Scene) -> None:
        _, document = self._certificate(scene)
        page = _fresh(scene.ctx).post("/verify?lang=en", data={"certificate": json.dumps(document)}).text
        reasons = self._reasons(page, "en")
        assert reasons["status"][1] == "The certificate is neither revoked nor suspended."
        for name, (_, text, detail) in reasons.items():
            assert not CJK.search(text + (detail if name != "issuer" else "")), (name, text, detail)
            assert re.search(r"\b[a-z]{3,} [a-z]{2,}\b", detail), f"{name}: {detail!r} is not English"
        assert "signature by" in reasons["proof"][2] and "credits" in reasons["ledger"][2]

    def test_a_revoked_certificate_says_when_and_why(self, scene: Scene) -> None:
        cid, _ = self._certificate(scene)
        revoked = scene.client.post(
            f"/api/v1/certificates/{cid}/revoke",
            json={"reason": "错发，应为另一名学员"},
            headers={**scene.institution_headers, "Idempotency-Key": "way-revoke-1"},
        )
        assert revoked.status_code == 200, revoked.text
        page = _fresh(scene.ctx).get(f"/verify?certificate={cid}").text  # the printed QR code
        record = re.search(
            r'<p class="alert status-record" id="status-record" data-state="revoked">([^<]*)</p>', page
        )
        assert record, "no status record on the page"
        assert re.fullmatch(
            r"本证书已于 \d{4}-\d\d-\d\d \d\d:\d\d（北京时间）被签发机构吊销。原因：错发，应为另一名学员",
            record.group(1),
        ), record.group(1)
        result, text, _ = self._reasons(page)["status"]
        assert result == "fail" and text == "证书已被签发机构吊销。"

    def test_a_suspended_certificate_says_since_when(self, scene: Scene) -> None:
        cid, document = self._certificate(scene)
        suspended = scene.client.post(
            f"/api/v1/certificates/{cid}/suspend",
            json={"reason": "学员申诉处理中"},
            headers={**scene.institution_headers, "Idempotency-Key": "way-suspend-1"},
        )
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["suspension_reason"] == "学员申诉处理中"
        page = _fresh(scene.ctx).post("/verify", data={"certificate": json.dumps(document)}).text
        record = re.search(r'id="status-record" data-state="suspended">([^<]*)</p>', page)
        assert record and re.match(
            r"本证书自 \d{4}-\d\d-\d\d \d\d:\d\d（北京时间）起被签发机构暂停。原因：学员申诉处理中",
            record.group(1),
        )
        assert self._reasons(page)["status"][1] == "证书已被签发机构暂停。"

    def test_a_forged_copy_learns_nothing_of_the_real_certificates_record(self, scene: Scene) -> None:
        cid, document = self._certificate(scene)
        scene.client.post(
            f"/api/v1/certificates/{cid}/revoke",
            json={"reason": "内部核查：学员身份存疑"},
            headers={**scene.institution_headers, "Idempotency-Key": "way-revoke-2"},
        )
        forged = dict(document)
        forged["name"] = "伪造的证书"  # the real credential id, a signature that no longer matches
        page = _fresh(scene.ctx).post("/verify", data={"certificate": json.dumps(forged)}).text
        assert 'data-valid="false"' in page
        assert "status-record" not in page and "学员身份存疑" not in page
