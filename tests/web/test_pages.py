"""The pages through the app (no browser): status codes, cookies, CSP, no-JS rendering, forms."""

import base64
import datetime as dt
import html
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.demo import load_demo
from creditbank.main import create_app
from creditbank.web.rendering import CSP
from creditbank.web.share import make_share_token
from tests.conftest import Tokens
from tests.support.factories import create_learner
from tests.support.signin import mint, signin
from tests.web.scene import Scene, build_scene, programme, publish, training


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def _fresh(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _set_cookie(response_headers: list[tuple[str, str]], name: str) -> str:
    found = [v for k, v in response_headers if k.lower() == "set-cookie" and v.startswith(name + "=")]
    assert found, f"no Set-Cookie for {name}"
    return found[0]


class TestFrame:
    def test_anonymous_home_is_the_sign_in_form_in_chinese(self, client: TestClient) -> None:
        response = client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert '<html lang="zh-CN">' in response.text
        assert 'action="/signin"' in response.text
        assert '<label for="token">访问令牌</label>' in response.text

    def test_every_page_carries_the_security_headers(self, client: TestClient) -> None:
        for path in ("/", "/archive", "/verify", "/console", "/share/not-a-token"):
            response = client.get(path)
            assert response.headers["content-security-policy"] == CSP, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in CSP and "script-src 'self'" in CSP and "unsafe-inline" not in CSP

    def test_no_inline_script_or_style_and_nothing_from_another_host(self, client: TestClient) -> None:
        html = client.get("/verify").text
        assert "<script>" not in html and "<style" not in html and " style=" not in html
        for url in re.findall(r'(?:src|href|action)="([^"]+)"', html):
            assert url.startswith(("/", "#", "?")), url

    def test_english_switch_is_remembered(self, client: TestClient) -> None:
        english = client.get("/?lang=en")
        assert '<html lang="en">' in english.text
        assert "Access token" in english.text
        cookie = _set_cookie(english.headers.multi_items(), "cb_lang")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert '<html lang="en">' in client.get("/verify").text
        assert '<html lang="zh-CN">' in client.get("/verify?lang=zh").text

    def test_the_language_link_after_a_form_post_leads_to_a_page(self, client: TestClient) -> None:
        refused = client.post("/verify", data={"certificate": ""})
        assert 'href="/verify?lang=en"' in refused.text
        assert 'href="/?lang=en"' in client.post("/signin", data={"token": ""}).text

    def test_static_files_are_served_by_the_service(self, client: TestClient) -> None:
        for path, kind in (("/static/app.css", "text/css"), ("/static/app.js", "javascript")):
            response = client.get(path)
            assert response.status_code == 200 and kind in response.headers["content-type"]
        assert client.get("/static/favicon.svg").text.startswith("<svg")


class TestSignIn:
    def test_sign_in_sets_a_signed_httponly_samesite_cookie(self, scene: Scene) -> None:
        token = mint(scene.ctx, Role.learner, scene.learner_id)
        response = signin(scene.client, token)
        assert response.status_code == 303
        assert response.headers["location"] == "/archive"
        cookie = _set_cookie(response.headers.multi_items(), "cb_session")
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        value = cookie.split(";")[0].split("=", 1)[1].strip('"')
        assert token not in value and token.removeprefix("cbt_") not in value
        assert base64.urlsafe_b64encode(token.encode()).decode()[:20] not in value

    def test_institution_goes_to_the_console(self, scene: Scene) -> None:
        token = mint(scene.ctx, Role.institution, scene.institution_id)
        response = signin(scene.client, token)
        assert response.headers["location"] == "/console"

    def test_unknown_or_empty_token_is_refused_on_the_page(self, client: TestClient) -> None:
        for token, message in (("cbt_" + "x" * 43, "令牌无效"), ("", "请填写访问令牌")):
            response = signin(client, token)
            assert response.status_code == 422
            assert message in response.text
            assert "cb_session" not in response.headers.get("set-cookie", "")

    def test_sign_out_clears_the_cookie(self, scene: Scene) -> None:
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        assert "王芳" in scene.client.get("/archive").text
        assert scene.client.post("/signout", follow_redirects=False).status_code == 403  # no CSRF token
        response = scene.client.post("/signout", data={"csrf": csrf}, follow_redirects=False)
        assert response.status_code == 303
        cookie = _set_cookie(response.headers.multi_items(), "cb_session")
        assert "Max-Age=0" in cookie or "expires=Thu, 01 Jan 1970" in cookie
        after = scene.client.get(response.headers["location"])
        assert "您已退出登录" in after.text and "王芳" not in after.text

    def test_a_revoked_token_in_the_cookie_no_longer_signs_in(self, scene: Scene, auth: Tokens) -> None:
        scene.sign_in(Role.learner, scene.learner_id)
        with scene.ctx.sessions() as s, s.begin():
            s.execute(
                text("UPDATE api_tokens SET revoked_at = now() WHERE subject = :l"), {"l": scene.learner_id}
            )
        assert "王芳" not in scene.client.get("/archive").text


class TestArchive:
    def test_credits_explanations_and_ledger_references_without_javascript(self, scene: Scene) -> None:
        posted = scene.post(training("T-1"))
        scene.post(training("T-2", hours=40, days_ago=400, title="养老护理员培训"))
        scene.sign_in(Role.learner, scene.learner_id)
        html = scene.client.get("/archive").text
        assert '<span class="stat-value" id="total-credits">5.5</span>' in html
        assert "低压电工作业培训" in html and "养老护理员培训" in html
        assert "48 学时 ÷ 16" in html  # the rule's explanation in words
        assert posted["recognition"]["rule_id"] in html
        assert posted["ledger"]["leaf_hash"] in html
        assert f"<code>{posted['ledger']['index']}</code>" in html
        assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
        assert "非学历培训" in html  # category label
        assert "第 3 级" in html  # framework level
        english = scene.client.get("/archive?lang=en").text
        assert "48 hours ÷ 16" in english and "Non-degree training" in english

    def test_the_data_export_link_works_with_the_session(self, scene: Scene) -> None:
        scene.post(training("T-1"))
        scene.sign_in(Role.learner, scene.learner_id)
        link = "/archive/export.json"
        assert f'href="{link}"' in scene.client.get("/archive").text
        export = scene.client.get(link)
        assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
        assert export.json()["personal_data"]["name"] == "王芳"

    def test_other_roles_see_a_sign_in_form_not_the_archive(self, scene: Scene) -> None:
        scene.post(training("T-1"))
        for role, subject in ((Role.institution, scene.institution_id), (Role.admin, None)):
            client = _fresh(scene.ctx)
            token = mint(scene.ctx, role, subject)
            signin(client, token)
            response = client.get("/archive")
            assert response.status_code == 200
            assert "王芳" not in response.text and "低压电工作业培训" not in response.text
            assert 'action="/signin"' in response.text

    def test_csrf_token_is_required_for_cookie_posts(self, scene: Scene) -> None:
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        refused = scene.client.post("/archive/share", data={"csrf": "0" * 64})
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/csrf-failed")
        assert scene.client.post("/archive/share", data={"csrf": csrf}).status_code == 200

    def test_share_link_shows_the_archive_read_only_until_it_expires(
        self, scene: Scene, db: Connection
    ) -> None:
        scene.post(training("T-1"))
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        created = scene.client.post("/archive/share", data={"csrf": csrf})
        link = re.search(r'value="(http://testserver/share/[^"]+)"', created.text)
        assert link, created.text
        path = link.group(1).removeprefix("http://testserver")
        stranger = _fresh(scene.ctx)
        shown = stranger.get(path)
        assert shown.status_code == 200
        assert "王芳" in shown.text and "低压电工作业培训" in shown.text
        assert 'action="/archive/certificates"' not in shown.text  # read-only: no forms
        logged = db.execute(
            text("SELECT reader_role FROM archive_access_log WHERE learner_id = :l"), {"l": scene.learner_id}
        ).scalars()
        assert list(logged) == ["share_link"]
        forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
        assert stranger.get(forged).status_code == 404
        # the row decides: a link past its expiry stops
        db.execute(
            text("UPDATE share_links SET expires_at = now() - interval '1 second' WHERE learner_id = :l"),
            {"l": scene.learner_id},
        )
        assert stranger.get(path).status_code == 404
        unknown = make_share_token(scene.ctx.secrets.session_secret, "shl_doesnotexist")
        assert stranger.get(f"/share/{unknown}").status_code == 404

    def test_share_link_hands_out_the_credential_and_the_learner_sees_each_read(
        self, scene: Scene, db: Connection
    ) -> None:
        posted = scene.post(training("T-1"))
        csrf, cid = scene.ask_certificate(posted["recognition"]["lot_id"])
        created = scene.client.post("/archive/share", data={"csrf": csrf})
        link = re.search(r'value="http://testserver(/share/[^"]+)"', created.text)
        assert link
        stranger = _fresh(scene.ctx)
        shared = stranger.get(link.group(1)).text
        download = f"{link.group(1)}/certificates/{cid}.json"
        assert f'href="{download}"' in shared
        got = stranger.get(download)
        assert got.status_code == 200 and got.json()["id"].startswith("urn:uuid:")
        # the link opens only this learner's certificates, and a forged link nothing
        someone = create_learner(scene.client, scene.institution_headers, name="李雷")
        lot = scene.post({**training("T-2"), "learner_id": someone})["recognition"]["lot_id"]
        theirs = scene.client.post(
            "/api/v1/certificates",
            json={"lot_ids": [lot]},
            headers={**scene.institution_headers, "Idempotency-Key": "someone-else"},
        ).json()["id"]
        assert stranger.get(f"{link.group(1)}/certificates/{theirs}.json").status_code == 404
        assert stranger.get(f"{link.group(1)}/certificates/crt_nosuchthing.json").status_code == 404
        assert stranger.get(f"/share/forged/certificates/{cid}.json").status_code == 404
        reads = db.execute(
            text("SELECT reader_role, what FROM archive_access_log WHERE learner_id = :l ORDER BY id"),
            {"l": scene.learner_id},
        ).all()
        assert [tuple(r) for r in reads] == [
            ("share_link", "archive"),
            ("share_link", f"certificate {cid} credential"),
        ]
        # the learner's own archive page shows both reads
        access = scene.client.get("/archive").text.split('id="access-log"')[1].split("</section>")[0]
        assert access.count('data-reader="share_link"') == 2
        assert f"certificate {cid} credential" in access

    def test_certificate_download_as_json_and_pdf(self, scene: Scene) -> None:
        posted = scene.post(training("T-1"))
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        issued = scene.client.post(
            "/archive/certificates",
            data={"csrf": csrf, "lot_id": posted["recognition"]["lot_id"]},
            follow_redirects=False,
        )
        assert issued.status_code == 303, issued.text
        page = scene.client.get(issued.headers["location"]).text
        assert "证书已签发" in page
        certificate_id = re.search(r'href="/archive/certificates/(crt_[^"]+)\.json"', page)
        assert certificate_id
        cid = certificate_id.group(1)
        as_json = scene.client.get(f"/archive/certificates/{cid}.json")
        assert as_json.status_code == 200
        assert f'filename="{cid}.json"' in as_json.headers["content-disposition"]
        document = as_json.json()
        assert (
            "OpenBadgeCredential" in document["type"]
            and document["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
        )
        as_pdf = scene.client.get(f"/archive/certificates/{cid}.pdf")
        assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
        assert as_pdf.headers["content-type"] == "application/pdf"
        transcript = scene.client.get("/archive/transcript.pdf")
        assert transcript.status_code == 200 and transcript.content.startswith(b"%PDF")

    def test_nobody_else_downloads_the_certificate(self, scene: Scene, auth: Tokens) -> None:
        posted = scene.post(training("T-1"))
        _, cid = scene.ask_certificate(posted["recognition"]["lot_id"])
        anonymous = _fresh(scene.ctx).get(f"/archive/certificates/{cid}.json")
        assert anonymous.status_code == 401
        other_learner = auth(Role.learner, "lrn_someoneelse")
        refused = _fresh(scene.ctx).get(f"/archive/certificates/{cid}.json", headers=other_learner)
        assert refused.status_code == 403

    def _transfer(self, scene: Scene) -> tuple[str, list[str]]:
        """The learner asks to transfer two lots into the other school's programme; the transfer's id."""
        first = scene.post(training("T-1"))
        second = scene.post(training("T-2", hours=32, title="电工安全实训"))
        programme_id = programme(scene.ctx, scene.other_institution_id)
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        lots = [first["recognition"]["lot_id"], second["recognition"]["lot_id"]]
        response = scene.client.post(
            "/archive/transfer",
            data={"csrf": csrf, "lot_ids": lots, "programme_id": programme_id},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        page = scene.client.get(response.headers["location"]).text
        assert "转移申请已提交" in page
        transfers = page.split('id="transfers"')[1].split("</section>")[0]
        assert "北京开放大学 · 软件技术" in transfers and "待接收" in transfers
        found = re.search(r"<code>(trf_[a-z0-9]+)</code>", transfers)
        assert found
        return found.group(1), lots

    def test_the_destination_verifies_and_accepts_a_transfer(self, scene: Scene) -> None:
        transfer_id, _ = self._transfer(scene)
        publish(scene.ctx)
        destination = _fresh(scene.ctx)
        csrf = scene.sign_in(Role.institution, scene.other_institution_id, client=destination)
        incoming = destination.get("/console").text.split('id="incoming"')[1].split("</section>")[0]
        assert f'id="transfer-{transfer_id}" data-status="issued"' in incoming
        assert "✔ 通过" in incoming and '<td class="num">5<br>' in incoming
        accepted = destination.post(
            "/console/transfers/accept",
            data={"csrf": csrf, "transfer_id": transfer_id},
            follow_redirects=False,
        )
        assert accepted.status_code == 303, accepted.text
        console = destination.get(accepted.headers["location"]).text
        assert f"已接收转移 {transfer_id}" in console
        assert f'id="transfer-{transfer_id}" data-status="accepted"' in console
        again = destination.post("/console/transfers/accept", data={"csrf": csrf, "transfer_id": transfer_id})
        assert again.status_code == 409  # decided already
        archive = scene.client.get("/archive").text
        converted = re.search(r"计入专业 ([0-9.]+) 学分", archive)  # as the destination's rules planned it
        assert converted and Decimal(converted.group(1)) > 0
        conversions = archive.split('id="conversions"')[1].split("</section>")[0]
        assert "软件技术 (510201)" in conversions and "北京开放大学" in conversions

    def test_the_destination_declines_a_transfer(self, scene: Scene) -> None:
        transfer_id, _ = self._transfer(scene)
        destination = _fresh(scene.ctx)
        csrf = scene.sign_in(Role.institution, scene.other_institution_id, client=destination)
        declined = destination.post(
            "/console/transfers/reject",
            data={"csrf": csrf, "transfer_id": transfer_id, "reason": "专业不对口"},
            follow_redirects=False,
        )
        assert declined.status_code == 303
        assert "专业不对口" in scene.client.get("/archive").text
        stranger = _fresh(scene.ctx)
        other_csrf = scene.sign_in(Role.institution, scene.institution_id, client=stranger)
        refused = stranger.post(
            "/console/transfers/accept", data={"csrf": other_csrf, "transfer_id": transfer_id}
        )
        assert refused.status_code == 403  # not addressed to it

    def test_certificates_a_learner_brings_convert_once(self, scene: Scene) -> None:
        posted = scene.post(training("T-1"))
        programme_id = programme(scene.ctx, scene.other_institution_id)
        csrf, cid = scene.ask_certificate(posted["recognition"]["lot_id"])
        document = scene.client.get(f"/archive/certificates/{cid}.json").text
        publish(scene.ctx)
        school = _fresh(scene.ctx)
        school_csrf = scene.sign_in(Role.institution, scene.other_institution_id, client=school)
        form = {"csrf": school_csrf, "certificates": document, "programme_id": programme_id}
        refused = school.post("/console/conversions", data=form)
        assert refused.status_code == 403 and "consent" in refused.text  # the learner has not agreed
        # the learner consents in the archive page: that school, that lot
        lot_id = posted["recognition"]["lot_id"]
        given = scene.client.post(
            "/archive/consents",
            data={"csrf": csrf, "lot_ids": [lot_id], "institution_id": scene.other_institution_id},
            follow_redirects=False,
        )
        assert given.status_code == 303, given.text
        archive = scene.client.get(given.headers["location"]).text
        row = re.search(r'<tr id="consent-(cns_[^"]+)" data-state="active">', archive)
        assert row and "授权已记录" in archive
        done = school.post("/console/conversions", data=form, follow_redirects=False)
        assert done.status_code == 303, done.text
        used = scene.client.get("/archive").text
        assert f'<tr id="consent-{row.group(1)}" data-state="used">' in used
        # a used consent has no withdraw button, and withdrawing it anyway is refused
        assert f'name="consent_id" value="{row.group(1)}"' not in used
        late = scene.client.post("/archive/consents/revoke", data={"csrf": csrf, "consent_id": row.group(1)})
        assert late.status_code == 409

        assert "已接收证书并完成转换 cnv_" in school.get(done.headers["location"]).text
        twice = school.post("/console/conversions", data=form)
        assert twice.status_code == 409, twice.text
        assert re.search(r"学分批次[^<]{0,40}已转换", twice.text), twice.text  # the page's language: zh-CN
        assert school.post("/console/conversions", data={**form, "certificates": "[1, 2]"}).status_code == 422

    def test_a_learner_withdraws_a_consent_in_the_archive(self, scene: Scene) -> None:
        posted = scene.post(training("T-1"))
        programme(scene.ctx, scene.other_institution_id)
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        lot_id = posted["recognition"]["lot_id"]
        given = scene.client.post(
            "/archive/consents",
            data={"csrf": csrf, "lot_ids": [lot_id], "institution_id": scene.other_institution_id},
            follow_redirects=False,
        )
        consent = re.search(r"#consent-(cns_\w+)", given.headers["location"])
        assert consent
        # another learner cannot withdraw it, and a cross-site form without the CSRF token neither
        other = _fresh(scene.ctx)
        other_csrf = scene.sign_in(
            Role.learner, create_learner(scene.client, scene.institution_headers), client=other
        )
        assert (
            other.post(
                "/archive/consents/revoke", data={"csrf": other_csrf, "consent_id": consent.group(1)}
            ).status_code
            == 404
        )
        assert (
            scene.client.post("/archive/consents/revoke", data={"consent_id": consent.group(1)}).status_code
            == 403
        )
        withdrawn = scene.client.post(
            "/archive/consents/revoke",
            data={"csrf": csrf, "consent_id": consent.group(1)},
            follow_redirects=False,
        )
        assert withdrawn.status_code == 303
        page = scene.client.get(withdrawn.headers["location"]).text
        assert f'<tr id="consent-{consent.group(1)}" data-state="revoked">' in page and "授权已撤回" in page

    def test_correction_request_reaches_the_institution(self, scene: Scene) -> None:
        posted = scene.post(training("T-1"))
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        response = scene.client.post(
            "/archive/correction",
            data={"csrf": csrf, "outcome_id": posted["id"], "reason": "学时应为 64"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "学习者申请更正：学时应为 64" in scene.client.get("/archive").text
        institution = _fresh(scene.ctx)
        scene.sign_in(Role.institution, scene.institution_id, client=institution)
        corrections = institution.get("/console").text.split('id="corrections"')[1].split("</section>")[0]
        assert "学时应为 64" in corrections

    def test_correction_of_someone_elses_outcome_is_not_found(
        self, scene: Scene, auth: Tokens, db: Connection
    ) -> None:
        posted = scene.post(training("T-1"))
        headers = auth(Role.learner, "lrn_intruder")
        response = _fresh(scene.ctx).post(
            "/archive/correction", data={"outcome_id": posted["id"], "reason": "not mine"}, headers=headers
        )
        assert response.status_code == 404
        events = db.execute(
            text(
                "SELECT count(*) FROM outcome_events WHERE outcome_id = :o AND kind = 'correction_requested'"
            ),
            {"o": posted["id"]},
        )
        assert events.scalar_one() == 0

    def test_erasure_shreds_personal_data_and_signs_out(self, scene: Scene, db: Connection) -> None:
        scene.post(training("T-1"))
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        unconfirmed = scene.client.post("/archive/erasure", data={"csrf": csrf})
        assert unconfirmed.status_code == 422
        done = scene.client.post("/archive/erasure", data={"csrf": csrf, "confirm": "yes"})
        assert done.status_code == 200 and "您的个人信息已删除" in done.text
        assert "Max-Age=0" in _set_cookie(done.headers.multi_items(), "cb_session")
        vault = db.execute(
            text("SELECT count(*) FROM learner_vault WHERE learner_id = :l"), {"l": scene.learner_id}
        )
        assert vault.scalar_one() == 0
        assert 'action="/signin"' in scene.client.get("/archive").text


class TestVerifyPage:
    def _certificate(self, scene: Scene) -> tuple[str, dict[str, object]]:
        posted = scene.post(training("T-1"))
        _, cid = scene.ask_certificate(posted["recognition"]["lot_id"])
        publish(scene.ctx)
        document = scene.client.get(f"/archive/certificates/{cid}.json").json()
        return cid, document

    def test_a_pasted_certificate_passes_every_check(self, scene: Scene) -> None:
        _, document = self._certificate(scene)
        auditor = _fresh(scene.ctx)
        response = auditor.post("/verify", data={"certificate": json.dumps(document)})
        assert response.status_code == 200
        assert 'data-valid="true"' in response.text
        for name in ("proof", "key", "issuer", "status", "validity", "ledger"):
            assert f'<tr class="check-ok" data-check="{name}">' in response.text, name
        api = auditor.post("/api/v1/verify", json={"certificate": document}).json()
        assert api["valid"] is True and len(api["checks"]) == 6

    def test_an_uploaded_tampered_copy_fails_with_reasons(self, scene: Scene) -> None:
        _, document = self._certificate(scene)
        subject = document["credentialSubject"]
        assert isinstance(subject, dict)
        subject["creditsEarned"] = 30
        upload = json.dumps(document).encode()
        response = _fresh(scene.ctx).post(
            "/verify", files={"upload": ("cert.json", upload, "application/json")}, data={"certificate": ""}
        )
        assert 'data-valid="false"' in response.text
        assert '<tr class="check-fail" data-check="proof">' in response.text
        assert "证书无效" in response.text

    def test_the_qr_link_verifies_a_certificate_by_id(self, scene: Scene) -> None:
        cid, _ = self._certificate(scene)
        response = _fresh(scene.ctx).get(f"/verify?certificate={cid}")
        assert response.status_code == 200 and 'data-valid="true"' in response.text
        assert _fresh(scene.ctx).get("/verify?certificate=crt_nosuchthing").status_code == 404

    def test_the_qr_link_shows_the_verdict_but_never_the_signed_credential(self, scene: Scene) -> None:
        cid, certificate = self._certificate(scene)
        document: Any = certificate
        # whoever scans the printed QR code (or guesses an id) is a stranger to the learner
        stranger = _fresh(scene.ctx).get(f"/verify?certificate={cid}")
        assert stranger.status_code == 200 and 'data-valid="true"' in stranger.text
        page = html.unescape(stranger.text)
        proof = document["proof"]
        proof_value = (proof[0] if isinstance(proof, list) else proof)["proofValue"]
        assert proof_value not in page, "the signature of the credential is on the public page"
        assert document["id"] not in page and '"credentialSubject"' not in page
        assert f"/archive/certificates/{cid}.json" not in page, "a download link for a stranger"
        assert "不提供签名证书文件" in page
        # what the printed certificate says is there
        assert str(document["credentialSubject"]["creditsEarned"]) in page
        # the learner, signed in, is offered their own download
        own = scene.client.get(f"/verify?certificate={cid}").text
        assert f'href="/archive/certificates/{cid}.json"' in own

    def test_bad_input_is_explained(self, client: TestClient) -> None:
        assert "请粘贴或上传证书" in client.post("/verify", data={"certificate": " "}).text
        broken = client.post("/verify", data={"certificate": "{not json"})
        assert broken.status_code == 422 and "不是有效的 JSON" in broken.text

    def test_checkpoints_are_remembered_and_checked_for_consistency(self, scene: Scene) -> None:
        scene.post(training("T-1"))
        publish(scene.ctx)
        auditor = _fresh(scene.ctx)
        first = auditor.get("/verify")
        assert 'data-consistency="first"' in first.text
        assert "HttpOnly" in _set_cookie(first.headers.multi_items(), "cb_seen")
        assert 'data-consistency="same"' in auditor.get("/verify").text
        scene.post(training("T-2"))
        scene.post(training("T-3"))
        publish(scene.ctx)
        grown = auditor.get("/verify")
        assert 'data-consistency="consistent"' in grown.text
        assert "一致性证明有效" in grown.text
        # a browser that remembers a different root for a size the log had sees the lie
        forged = base64.urlsafe_b64encode(
            json.dumps({"main": [1, base64.b64encode(b"\x01" * 32).decode()]}).encode()
        ).decode()
        auditor.cookies.set("cb_seen", forged)
        lied = auditor.get("/verify")
        assert 'data-consistency="inconsistent"' in lied.text
        # why, in the page's language (the proof from size 1 does not lead to the remembered root)
        why = re.search(r"✘ 不一致！([^<]*) <span", lied.text)
        assert why and re.search(r"[\u4e00-\u9fff]", why.group(1)), why
        auditor.cookies.set("cb_seen", forged)
        said = re.search(r"✘ INCONSISTENT! ([^<]*) <span", auditor.get("/verify?lang=en").text)
        assert said and not re.search(r"[\u4e00-\u9fff]", said.group(1)) and len(said.group(1)) > 10, said
        # a remembered size larger than the log's: the log shrank
        auditor.cookies.set(
            "cb_seen",
            base64.urlsafe_b64encode(
                json.dumps({"main": [99, base64.b64encode(b"\x01" * 32).decode()]}).encode()
            ).decode(),
        )
        assert "日志从 99 条缩小到了 3 条" in auditor.get("/verify?lang=zh").text
        auditor.cookies.set("cb_seen", "garbage!!")
        assert auditor.get("/verify").status_code == 200


class TestConsole:
    def test_anonymous_and_learners_get_the_sign_in_form(self, scene: Scene) -> None:
        assert "机构或审核人员请粘贴访问令牌" in _fresh(scene.ctx).get("/console").text
        learner = _fresh(scene.ctx)
        token = mint(scene.ctx, Role.learner, scene.learner_id)
        signin(learner, token, next="/console")
        assert "不能使用控制台" in learner.get("/console").text

    def test_form_errors_are_shown_next_to_their_fields(self, scene: Scene) -> None:
        csrf = scene.sign_in(Role.institution, scene.institution_id)
        response = scene.client.post(
            "/console/outcomes",
            data={
                "csrf": csrf,
                "outcome_type": "training_course",
                "title": "",
                "achieved_on": "2024-13-40",
                "hours": "-1",
            },
        )
        assert response.status_code == 422
        html = response.text
        assert 'id="f-reference" name="reference"' in html
        assert re.search(r'id="f-reference"[^>]*aria-invalid="true"', html)
        assert 'id="reference-error"' in html and 'id="title-error"' in html
        assert 'id="achieved_on-error"' in html and 'id="hours-error"' in html
        assert '<a href="#f-title">名称</a>' in html  # the summary links to each field
        nobody = scene.client.post(
            "/console/outcomes",
            data={
                "csrf": csrf,
                "reference": "R-1",
                "outcome_type": "training_course",
                "title": "电工",
                "achieved_on": "2024-01-02",
            },
        )
        assert nobody.status_code == 422
        assert 'id="learner_id-error"' in nobody.text and 'id="identity_number-error"' in nobody.text
        assert "学习者编号与身份证号须且只能填一项" in nobody.text
        assert 'value="2024-13-40"' in html  # what was typed is kept

    def test_a_valid_form_posts_the_outcome(self, scene: Scene, db: Connection) -> None:
        csrf = scene.sign_in(Role.institution, scene.institution_id)
        response = scene.client.post(
            "/console/outcomes",
            data={
                "csrf": csrf,
                "learner_id": scene.learner_id,
                "reference": "FORM-1",
                "outcome_type": "training_course",
                "title": "Python 数据分析",
                "achieved_on": (dt.date.today() - dt.timedelta(days=10)).isoformat(),
                "hours": "64",
                "attributes": "framework_level=4",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        page = scene.client.get(response.headers["location"]).text
        assert "已提交：成果" in page and "4 学分" in page
        level = db.execute(
            text(
                "SELECT r.level FROM recognitions r JOIN outcomes o ON o.id = r.outcome_id "
                "WHERE o.reference = 'FORM-1'"
            )
        )
        assert level.scalar_one() == 4

    def test_csv_upload_reports_every_row(self, scene: Scene) -> None:
        csrf = scene.sign_in(Role.institution, scene.institution_id)
        day = (dt.date.today() - dt.timedelta(days=5)).isoformat()
        rows = [
            "learner_id,reference,outcome_type,title,achieved_on,hours,attr.framework_level",
            f"{scene.learner_id},CSV-1,training_course,电工培训,{day},48,3",
            f"{scene.learner_id},CSV-2,training_course,焊工培训,{day},not-a-number,",
            f"{scene.learner_id},CSV-1,training_course,电工培训,{day},48,3",
            f"lrn_nobody,CSV-3,training_course,钳工培训,{day},16,",
        ]
        data = "\n".join(rows).encode("gb18030")
        response = scene.client.post(
            "/console/upload", data={"csrf": csrf}, files={"upload": ("outcomes.csv", data, "text/csv")}
        )
        assert response.status_code == 200
        html = response.text
        assert 'data-total="4"' in html
        assert html.count("data-row=") == 4
        assert 'data-row="1" class="row-created"' in html
        assert 'data-row="2" class="row-error"' in html
        assert 'data-row="3" class="row-duplicate"' in html
        assert 'data-row="4" class="row-error"' in html and "lrn_nobody" in html
        assert "共 4 行：新增 1，重复 1，出错 2" in html
        again = scene.client.post(
            "/console/upload", data={"csrf": csrf}, files={"upload": ("outcomes.csv", data, "text/csv")}
        )
        assert "新增 0，重复 2" in again.text

    def test_unreadable_upload_is_explained(self, scene: Scene) -> None:
        csrf = scene.sign_in(Role.institution, scene.institution_id)
        for content in (b"", b"title\nno reference column\n"):
            response = scene.client.post(
                "/console/upload", data={"csrf": csrf}, files={"upload": ("x.csv", content, "text/csv")}
            )
            assert response.status_code == 422

    def test_revoke_an_outcome_and_a_certificate(self, scene: Scene) -> None:
        posted = scene.post(training("T-1"))
        other = scene.post(training("T-2"))
        learner = _fresh(scene.ctx)
        lcsrf = scene.sign_in(Role.learner, scene.learner_id, client=learner)
        learner.post("/archive/certificates", data={"csrf": lcsrf, "lot_id": other["recognition"]["lot_id"]})
        csrf = scene.sign_in(Role.institution, scene.institution_id)
        revoked = scene.client.post(
            "/console/revoke",
            data={"csrf": csrf, "outcome_id": posted["id"], "reason": "证书造假"},
            follow_redirects=False,
        )
        assert revoked.status_code == 303
        assert f"成果 {posted['id']} 已撤销" in scene.client.get(revoked.headers["location"]).text
        again = scene.client.post(
            "/console/revoke", data={"csrf": csrf, "outcome_id": posted["id"], "reason": "again"}
        )
        assert again.status_code == 409
        console = scene.client.get("/console").text
        # the folded revoke form: for the live outcome, with a required reason; none for the revoked one
        assert f'<input type="hidden" name="outcome_id" value="{other["id"]}">' in console
        assert f'id="revoke-{other["id"]}" name="reason" type="text" required minlength="2"' in console
        assert f'id="revoke-{posted["id"]}"' not in console
        cid = re.search(r'name="certificate_id" value="(crt_[^"]+)"', console)
        assert cid
        done = scene.client.post(
            "/console/certificates/revoke",
            data={"csrf": csrf, "certificate_id": cid.group(1), "reason": "错发"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert "已吊销" in scene.client.get(done.headers["location"]).text
        assert "cert-revoked" in learner.get("/archive").text

    def test_reviewers_decide_the_queue_in_two_stages(self, scene: Scene) -> None:
        work = scene.post(
            {
                "reference": "W-1",
                "outcome_type": "work_experience",
                "title": "电工岗位工作经历",
                "achieved_on": (dt.date.today() - dt.timedelta(days=60)).isoformat(),
                "attributes": {"years": 2},
            }
        )
        assert work["recognition"]["status"] == "review"
        district = _fresh(scene.ctx)
        csrf = scene.sign_in(Role.reviewer, None, client=district)
        queue = district.get("/console").text
        assert "电工岗位工作经历" in queue and "区级分中心" in queue
        decided = district.post(
            "/console/review",
            data={
                "csrf": csrf,
                "outcome_id": work["id"],
                "stage": "district",
                "decision": "approve",
                "reason": "材料齐全",
            },
            follow_redirects=False,
        )
        assert decided.status_code == 303, decided.text
        assert "市级管理中心" in district.get(decided.headers["location"]).text
        city = _fresh(scene.ctx)
        csrf2 = scene.sign_in(Role.reviewer, None, client=city)
        final = city.post(
            "/console/review",
            data={
                "csrf": csrf2,
                "outcome_id": work["id"],
                "stage": "city",
                "decision": "approve",
                "reason": "同意",
                "credits": "3.5",
            },
            follow_redirects=False,
        )
        assert final.status_code == 303, final.text
        assert "没有待审核的成果" in city.get("/console").text
        learner = _fresh(scene.ctx)
        scene.sign_in(Role.learner, scene.learner_id, client=learner)
        assert '<span class="stat-value" id="total-credits">3.5</span>' in learner.get("/archive").text

    def test_a_stale_review_is_refused_on_the_page(self, scene: Scene) -> None:
        csrf = scene.sign_in(Role.reviewer, None)
        missing = scene.client.post(
            "/console/review",
            data={"csrf": csrf, "outcome_id": "out_x", "decision": "approve", "reason": "ok"},
        )
        assert missing.status_code == 404
        invalid = scene.client.post(
            "/console/review", data={"csrf": csrf, "outcome_id": "out_x", "decision": "maybe", "reason": ""}
        )
        assert invalid.status_code == 422


class TestPageMatrix:
    """Who sees what on the pages that are public routes (their callers are checked by content)."""

    def test_learner_data_is_shown_only_to_the_learner(self, scene: Scene) -> None:
        scene.post(training("T-1"))
        roles: list[tuple[Role, str | None]] = [
            (Role.admin, None),
            (Role.reviewer, None),
            (Role.institution, scene.institution_id),
            (Role.auditor, None),
            (Role.learner, "lrn_someoneelse"),
        ]
        for role, subject in [*roles, (Role.learner, scene.learner_id)]:
            headers = {"Authorization": f"Bearer {mint(scene.ctx, role, subject)}"}
            for path in ("/", "/archive"):
                response = _fresh(scene.ctx).get(path, headers=headers, follow_redirects=False)
                if path == "/" and role is not Role.learner:  # staff are sent to their own page
                    assert response.status_code == 303, (role, path)
                    continue
                assert response.status_code == 200, (role, path)
                visible = "低压电工作业培训" in response.text
                assert visible == (subject == scene.learner_id), (role, subject, path)
            console = _fresh(scene.ctx).get("/console", headers=headers)
            assert console.status_code == 200
            assert ("<h1>机构控制台</h1>" in console.text or "<h1>审核工作台</h1>" in console.text) == (
                role in (Role.institution, Role.reviewer, Role.admin)
            ), role

    def test_every_page_route_is_declared(self, client: TestClient) -> None:
        schema = client.app.openapi()  # type: ignore[attr-defined]
        pages = {
            (path, method)
            for path, item in schema["paths"].items()
            for method, operation in item.items()
            if "web pages" in operation.get("tags", [])
        }
        assert ("/", "get") in pages and ("/console/upload", "post") in pages and len(pages) >= 19
        for path, method in pages:
            assert schema["paths"][path][method].get("x-roles"), (path, method)


def test_decimal_credits_render_plainly() -> None:
    from creditbank.web.rendering import ENV

    assert ENV.filters["credits"](Decimal("3.00")) == "3"
    assert ENV.filters["credits"](Decimal("2.50")) == "2.5"
    assert ENV.filters["credits"](None) == "-"


@pytest.mark.sqlite
def test_the_pages_run_on_the_embedded_sqlite_database(sqlite_ctx: AppContext) -> None:
    """`make run` serves the demo world from SQLite: every page renders there too."""
    for session in transaction(sqlite_ctx.sessions):
        tokens = load_demo(session, sqlite_ctx)
    with TestClient(create_app(ctx=sqlite_ctx), raise_server_exceptions=False) as client:
        signin(client, tokens["learners"]["wang-fang"]["token"])
        archive = client.get("/archive")
        assert archive.status_code == 200 and "王芳" in archive.text
        assert client.get("/archive/transcript.pdf").content.startswith(b"%PDF")
        assert client.get("/verify").status_code == 200
        institution = tokens["institutions"]["open-university"]["token"]
        client.cookies.clear()  # a new person at the browser
        signin(client, institution)
        assert "<h1>机构控制台</h1>" in client.get("/console").text
        client.cookies.clear()
        signin(client, tokens["reviewer"])
        assert "<h1>审核工作台</h1>" in client.get("/console").text
