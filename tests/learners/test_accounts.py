"""Learner accounts opened on the web, tried from the attacker's side through real HTTP.

Someone registering another person's identity number, an account nobody has verified yet reaching
for the record, an institution verifying a person whose record it does not hold, a password
guessed over and over, a token of one learner reaching for another."""

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.learners.accounts_support import PASSWORD, account_code, password_signin, phone, register
from tests.support.factories import create_learner, identity_number
from tests.support.signin import csrf_of
from tests.web.scene import Scene, build_scene, training


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def _browser(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _victim(scene: Scene) -> str:
    """A learner (王芳's school registered her) with a recognised training outcome; her number."""
    number = identity_number()
    learner_id = create_learner(scene.client, scene.institution_headers, name="赵敏", number=number)
    scene.learner_id = learner_id
    scene.post(training("ACC-VICTIM-1", title="焊工作业培训"))
    return number


_keys = itertools.count(1)


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"acc-verify-{next(_keys)}"}


def _account(db: Connection, account_id: str) -> dict[str, Any]:
    row = (
        db.execute(text("SELECT * FROM learner_accounts WHERE id = :id"), {"id": account_id}).mappings().one()
    )
    return dict(row)


class TestRegistration:
    def test_an_account_opens_unverified_and_shows_only_what_was_submitted(
        self, scene: Scene, db: Connection
    ) -> None:
        browser = _browser(scene.ctx)
        number = identity_number()
        response = register(browser, number, name="陈静")
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account?done=registered"
        page = browser.get("/account")
        assert "陈静" in page.text and "尚未核验" in page.text
        assert number not in page.text, "the identity number is shown masked"
        assert number[:6] + "********" + number[14:] in page.text
        row = _account(db, account_code(browser))
        assert row["learner_id"] is None and row["verified_at"] is None
        assert row["password_hash"].startswith("$argon2id$")
        assert PASSWORD.encode() not in (row["sealed"] or b"") and "陈静".encode() not in row["sealed"]
        # the archive of an unverified account is its own account page
        archive = browser.get("/archive", follow_redirects=False)
        assert archive.status_code == 303 and archive.headers["location"] == "/account"

    @pytest.mark.parametrize(
        ("field", "value", "slug_text"),
        [
            ("identity_number", "110101199003071234", "身份证"),
            ("contact", "not-a-phone", "手机号"),
            ("password", "short", "8 至 128"),
        ],
    )
    def test_bad_input_is_a_form_error_in_chinese_and_writes_nothing(
        self, scene: Scene, db: Connection, field: str, value: str, slug_text: str
    ) -> None:
        before = db.execute(text("SELECT count(*) FROM learner_accounts")).scalar_one()
        browser = _browser(scene.ctx)
        fields: dict[str, Any] = {"number": identity_number()}
        if field == "identity_number":
            fields["number"] = value
        if field == "contact":
            fields["contact"] = value
        if field == "password":
            fields["password"] = value
        response = register(browser, **fields)
        assert response.status_code == 422, response.text
        assert slug_text in response.text
        assert "cb_session" not in browser.cookies
        assert db.execute(text("SELECT count(*) FROM learner_accounts")).scalar_one() == before

    def test_one_contact_signs_in_to_one_account(self, scene: Scene) -> None:
        contact = phone()
        assert register(_browser(scene.ctx), identity_number(), contact=contact).status_code == 303
        again = register(_browser(scene.ctx), identity_number(), contact=contact)
        assert again.status_code == 409 and "已注册" in again.text

    def test_a_cross_site_registration_form_is_refused(self, scene: Scene) -> None:
        browser = _browser(scene.ctx)
        response = browser.post(
            "/register",
            data={
                "name": "陈静",
                "identity_number": identity_number(),
                "contact": phone(),
                "password": PASSWORD,
                "password_again": PASSWORD,
                "csrf": "0" * 64,
            },
            follow_redirects=False,
        )
        assert response.status_code == 422 and "cb_session" not in browser.cookies


class TestSomeoneElsesIdentityNumber:
    def test_registering_it_exposes_and_attaches_nothing(self, scene: Scene, db: Connection) -> None:
        number = _victim(scene)
        victim_id = scene.learner_id
        learners_before = db.execute(text("SELECT count(*) FROM learners")).scalar_one()
        attacker = _browser(scene.ctx)
        known = register(attacker, number, name="冒名者")
        stranger = register(_browser(scene.ctx), identity_number(), name="路人")
        # the answer does not tell whether the bank knows the number
        assert (known.status_code, known.headers["location"]) == (
            stranger.status_code,
            stranger.headers["location"],
        )
        code = account_code(attacker)
        assert _account(db, code)["learner_id"] is None
        assert db.execute(text("SELECT count(*) FROM learners")).scalar_one() == learners_before
        for path in ("/account", "/archive", "/"):
            page = attacker.get(path)
            assert page.status_code == 200
            for secret in (victim_id, "赵敏", "焊工作业培训"):
                assert secret not in page.text, f"{path} shows {secret}"
        # the API takes no cookie, and the victim's files refuse the unverified account
        assert attacker.get(f"/api/v1/learners/{victim_id}/archive").status_code == 401
        assert attacker.get("/archive/export.json").status_code in (403, 404)

    def test_every_learner_page_refuses_an_unverified_account(self, scene: Scene) -> None:
        number = _victim(scene)
        attacker = _browser(scene.ctx)
        register(attacker, number, name="冒名者")
        csrf = csrf_of(attacker.get("/account").text)
        openapi = scene.client.app.openapi()  # type: ignore[attr-defined]
        reached: list[str] = []
        checked = 0
        for path, item in openapi["paths"].items():
            if path.startswith("/api/") or path.startswith("/account"):
                continue
            for method, operation in item.items():
                roles = operation.get("x-roles", [])
                if "learner" not in roles:
                    continue
                url = path.replace("{", "").replace("}", "")
                response = attacker.request(
                    method, url, data={"csrf": csrf} if method == "post" else None, follow_redirects=False
                )
                checked += 1
                if response.status_code != 403 or "account-unverified" not in response.text:
                    reached.append(f"{method.upper()} {path}: {response.status_code}")
        assert checked >= 10, "the learner pages were not found in the schema"
        assert reached == []


class TestVerification:
    def test_the_institution_holding_the_record_links_the_account_to_its_learner(
        self, scene: Scene, db: Connection
    ) -> None:
        number = _victim(scene)
        learners_before = db.execute(text("SELECT count(*) FROM learners")).scalar_one()
        browser = _browser(scene.ctx)
        register(browser, number, name="赵敏")
        code = account_code(browser)
        response = scene.client.post(
            f"/api/v1/accounts/{code}/verification", json={}, headers={**scene.institution_headers, **_key()}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["state"] == "verified" and body["learner_id"] == scene.learner_id
        assert body["verified_by"] == scene.institution_id and body["verified_how"] == "institution"
        assert body["verified_at"]
        assert db.execute(text("SELECT count(*) FROM learners")).scalar_one() == learners_before
        archive = browser.get("/archive")
        assert "焊工作业培训" in archive.text
        again = scene.client.post(
            f"/api/v1/accounts/{code}/verification", json={}, headers={**scene.institution_headers, **_key()}
        )
        assert again.status_code == 409 and again.json()["type"].endswith("/account-already-verified")

    def test_an_institution_without_the_record_links_nothing_and_learns_nothing(
        self, scene: Scene, auth: Tokens, db: Connection
    ) -> None:
        number = _victim(scene)
        other = auth(Role.institution, scene.other_institution_id)
        for typed in (number, identity_number()):  # known to the bank (not to it), and unknown
            browser = _browser(scene.ctx)
            register(browser, typed)
            code = account_code(browser)
            response = scene.client.post(
                f"/api/v1/accounts/{code}/verification", json={}, headers={**other, **_key()}
            )
            assert response.status_code == 403, response.text
            assert response.json()["type"].endswith("/record-not-held")
            assert scene.learner_id not in response.text
            assert _account(db, code)["learner_id"] is None

    def test_the_school_cannot_link_an_account_naming_another_person(
        self, scene: Scene, db: Connection
    ) -> None:
        _victim(scene)
        browser = _browser(scene.ctx)
        register(browser, identity_number(), name="赵敏")  # her name, another number
        code = account_code(browser)
        response = scene.client.post(
            f"/api/v1/accounts/{code}/verification", json={}, headers={**scene.institution_headers, **_key()}
        )
        assert response.status_code == 403
        assert _account(db, code)["learner_id"] is None

    def test_a_reviewer_who_saw_the_documents_verifies_and_the_bank_registers_a_new_person(
        self, scene: Scene, auth: Tokens, db: Connection
    ) -> None:
        reviewer = auth(Role.reviewer)
        browser = _browser(scene.ctx)
        number = identity_number()
        register(browser, number, name="孙悦")
        code = account_code(browser)
        shown = scene.client.get(f"/api/v1/accounts/{code}", headers=reviewer)
        assert shown.status_code == 200 and shown.json()["identity_number"] == number
        assert shown.json()["name"] == "孙悦"
        missing = scene.client.post(
            f"/api/v1/accounts/{code}/verification", json={}, headers={**reviewer, **_key()}
        )
        assert missing.status_code == 422 and missing.json()["type"].endswith("/documents-required")
        done = scene.client.post(
            f"/api/v1/accounts/{code}/verification",
            json={"documents": "居民身份证原件"},
            headers={**reviewer, **_key()},
        )
        assert done.status_code == 200, done.text
        assert done.json()["verified_how"] == "sub-centre" and done.json()["verified_by"].startswith("rev_")
        row = _account(db, code)
        assert row["verified_note"] == "居民身份证原件"
        learner = scene.client.get(f"/api/v1/learners/{row['learner_id']}", headers=auth(Role.admin))
        assert learner.json()["name"] == "孙悦"
        # one person, one verified account
        second = _browser(scene.ctx)
        register(second, number, name="孙悦")
        refused = scene.client.post(
            f"/api/v1/accounts/{account_code(second)}/verification",
            json={"documents": "居民身份证原件"},
            headers={**reviewer, **_key()},
        )
        assert refused.status_code == 409 and refused.json()["type"].endswith("/learner-has-account")

    def test_only_reviewers_read_what_an_account_submitted(self, scene: Scene, auth: Tokens) -> None:
        browser = _browser(scene.ctx)
        register(browser, identity_number())
        code = account_code(browser)
        for role, subject in (
            (Role.institution, scene.institution_id),
            (Role.admin, None),
            (Role.auditor, None),
        ):
            assert (
                scene.client.get(f"/api/v1/accounts/{code}", headers=auth(role, subject)).status_code == 403
            )


class TestPasswordSignIn:
    def test_sign_in_and_out(self, scene: Scene, db: Connection) -> None:
        contact = phone()
        register(_browser(scene.ctx), identity_number(), contact=contact)
        browser = _browser(scene.ctx)
        response = password_signin(browser, contact)
        assert response.status_code == 303 and response.headers["location"] == "/account"
        csrf = csrf_of(browser.get("/account").text)
        cookie = browser.cookies["cb_session"]
        assert browser.post("/signout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        replay = _browser(scene.ctx)
        replay.cookies.set("cb_session", cookie)
        assert 'id="account-code"' not in replay.get("/account").text

    def test_brute_force_locks_the_account_with_a_clear_message(self, scene: Scene, db: Connection) -> None:
        contact = phone()
        register(_browser(scene.ctx), identity_number(), contact=contact)
        attacker = _browser(scene.ctx)
        attempts = scene.ctx.settings.signin_attempts
        for left in range(attempts - 1, 0, -1):
            wrong = password_signin(attacker, contact, f"guess-{left}-wrong")
            assert wrong.status_code == 422
            assert f"还可尝试 {left} 次" in wrong.text
        locked = password_signin(attacker, contact, "guess-last-wrong")
        assert locked.status_code == 429
        assert "账户已被锁定" in locked.text and "分钟后再试" in locked.text
        assert int(locked.headers["Retry-After"]) > 0
        # even the right password is refused while locked
        owner = _browser(scene.ctx)
        refused = password_signin(owner, contact)
        assert refused.status_code == 429 and "cb_session" not in owner.cookies
        db.execute(text("UPDATE learner_accounts SET locked_until = now() - interval '1 second'"))
        assert password_signin(owner, contact).status_code == 303

    def test_an_unknown_name_answers_like_a_wrong_password(self, scene: Scene) -> None:
        contact = phone()
        register(_browser(scene.ctx), identity_number(), contact=contact)
        unknown = password_signin(_browser(scene.ctx), phone(), PASSWORD)
        wrong = password_signin(_browser(scene.ctx), contact, "wrong-password-1")
        assert unknown.status_code == wrong.status_code == 422
        assert "密码不正确" in unknown.text and "密码不正确" in wrong.text

    def test_a_cross_site_sign_in_is_refused(self, scene: Scene) -> None:
        contact = phone()
        register(_browser(scene.ctx), identity_number(), contact=contact)
        browser = _browser(scene.ctx)
        response = browser.post(
            "/signin/password",
            data={"contact": contact, "password": PASSWORD, "csrf": "0" * 64},
            follow_redirects=False,
        )
        assert response.status_code == 422 and "cb_session" not in browser.cookies

    def test_password_change_ends_the_other_sessions(self, scene: Scene) -> None:
        contact = phone()
        first = _browser(scene.ctx)
        register(first, identity_number(), contact=contact)
        second = _browser(scene.ctx)
        assert password_signin(second, contact).status_code == 303
        csrf = csrf_of(first.get("/account").text)
        wrong = first.post(
            "/account/password",
            data={
                "current": "not-it-at-all",
                "new": "新的密码-12345",
                "new_again": "新的密码-12345",
                "csrf": csrf,
            },
        )
        assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
        changed = first.post(
            "/account/password",
            data={"current": PASSWORD, "new": "新的密码-12345", "new_again": "新的密码-12345", "csrf": csrf},
            follow_redirects=False,
        )
        assert changed.status_code == 303
        assert 'id="account-code"' in first.get("/account").text
        assert 'id="account-code"' not in second.get("/account").text
        assert password_signin(_browser(scene.ctx), contact).status_code == 422
        assert password_signin(_browser(scene.ctx), contact, "新的密码-12345").status_code == 303


class TestPersonalTokens:
    def _verified(self, scene: Scene) -> TestClient:
        number = _victim(scene)
        browser = _browser(scene.ctx)
        register(browser, number, name="赵敏")
        code = account_code(browser)
        response = scene.client.post(
            f"/api/v1/accounts/{code}/verification", json={}, headers={**scene.institution_headers, **_key()}
        )
        assert response.status_code == 200
        return browser

    def test_a_personal_token_reads_the_learners_own_data_and_nobody_elses(
        self, scene: Scene, auth: Tokens
    ) -> None:
        browser = self._verified(scene)
        csrf = csrf_of(browser.get("/account").text)
        page = browser.post("/account/tokens", data={"label": "我的脚本", "csrf": csrf})
        assert page.status_code == 200
        start = page.text.index('id="new-token"')
        token = page.text[
            page.text.index('value="', start) + 7 : page.text.index(
                '"', page.text.index('value="', start) + 7
            )
        ]
        assert token.startswith("cbt_")
        mine = {"Authorization": f"Bearer {token}"}
        assert (
            scene.client.get(f"/api/v1/learners/{scene.learner_id}/archive", headers=mine).status_code == 200
        )
        other = create_learner(scene.client, auth(Role.admin), name="钱多多")
        assert scene.client.get(f"/api/v1/learners/{other}/archive", headers=mine).status_code == 403
        # revoking it through the page stops it
        token_id = next(
            t["id"]
            for t in scene.client.get("/api/v1/tokens", headers=auth(Role.admin)).json()
            if t["label"] == "我的脚本"
        )
        csrf = csrf_of(browser.get("/account").text)
        revoked = browser.post(
            "/account/tokens/revoke", data={"token_id": token_id, "csrf": csrf}, follow_redirects=False
        )
        assert revoked.status_code == 303
        assert (
            scene.client.get(f"/api/v1/learners/{scene.learner_id}/archive", headers=mine).status_code == 401
        )

    def test_no_token_before_verification_and_no_revoking_of_others(self, scene: Scene, auth: Tokens) -> None:
        browser = _browser(scene.ctx)
        register(browser, identity_number())
        csrf = csrf_of(browser.get("/account").text)
        refused = browser.post("/account/tokens", data={"label": "x", "csrf": csrf})
        assert refused.status_code == 403 and "尚未核验" in refused.text
        # a token of another learner cannot be revoked from this account
        other_learner = create_learner(scene.client, auth(Role.admin), name="钱多多")
        auth(Role.learner, other_learner)
        token_id = next(
            t["id"]
            for t in scene.client.get("/api/v1/tokens", headers=auth(Role.admin)).json()
            if t["subject"] == other_learner
        )
        verified = self._verified(scene)
        csrf = csrf_of(verified.get("/account").text)
        response = verified.post("/account/tokens/revoke", data={"token_id": token_id, "csrf": csrf})
        assert response.status_code == 404
        listed = scene.client.get("/api/v1/tokens", headers=auth(Role.admin)).json()
        assert next(t for t in listed if t["id"] == token_id)["revoked_at"] is None


class TestErasure:
    def test_erasure_shreds_the_account_and_ends_its_sessions(self, scene: Scene, db: Connection) -> None:
        number = _victim(scene)
        contact = phone()
        browser = _browser(scene.ctx)
        register(browser, number, name="赵敏", contact=contact)
        code = account_code(browser)
        scene.client.post(
            f"/api/v1/accounts/{code}/verification", json={}, headers={**scene.institution_headers, **_key()}
        )
        csrf = csrf_of(browser.get("/archive").text)
        erased = browser.post("/archive/erasure", data={"csrf": csrf, "confirm": "1"}, follow_redirects=False)
        assert erased.status_code in (200, 303), erased.text
        row = _account(db, code)
        assert row["erased_at"] is not None
        assert row["sealed"] is None and row["wrapped_key"] is None and row["login_hmac"] is None
        assert row["password_hash"] == ""
        assert 'id="account-code"' not in browser.get("/account").text
        assert password_signin(_browser(scene.ctx), contact).status_code == 422
