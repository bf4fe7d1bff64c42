"""Browser sessions are sessions, sign-in resists login CSRF, share links can be taken back.

Attacker's view: someone who copies the session cookie (or a cross-site page that rides on it),
a signed-out cookie replayed, a cookie outliving its revoked token, a forged sign-in form that
logs the victim into the attacker's account, and a share link the learner wants back."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.signin import csrf_of, mint, signin
from tests.web.scene import Scene, build_scene, training


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def _fresh(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _sessions(db: Connection) -> int:
    return int(db.execute(text("SELECT count(*) FROM web_sessions")).scalar_one())


class TestServerSideSession:
    def test_the_cookie_holds_a_random_session_id_and_the_server_the_session(
        self, scene: Scene, db: Connection
    ) -> None:
        before = _sessions(db)
        token = mint(scene.ctx, Role.learner, scene.learner_id)
        assert signin(scene.client, token).status_code == 303
        cookie = scene.client.cookies["cb_session"]
        assert token not in cookie and token.removeprefix("cbt_") not in cookie
        assert _sessions(db) == before + 1
        stored = db.execute(
            text("SELECT id_hash FROM web_sessions ORDER BY created_at DESC LIMIT 1")
        ).scalar_one()
        assert stored not in cookie, "the server keeps a hash of the session id, not the id"
        # the cookie alone, in another browser, is the session until it ends
        thief = _fresh(scene.ctx)
        thief.cookies.set("cb_session", cookie)
        assert "王芳" in thief.get("/archive").text

    def test_sign_out_deletes_the_session_and_the_old_cookie_is_dead(
        self, scene: Scene, db: Connection
    ) -> None:
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        cookie = scene.client.cookies["cb_session"]
        count = _sessions(db)
        assert scene.client.post("/signout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert _sessions(db) == count - 1
        replay = _fresh(scene.ctx)
        replay.cookies.set("cb_session", cookie)
        page = replay.get("/archive")
        assert "王芳" not in page.text and 'action="/signin"' in page.text
        assert replay.post("/archive/share", data={"csrf": csrf}).status_code == 401

    def test_revoking_the_token_ends_the_session(self, scene: Scene, auth: Tokens) -> None:
        token = mint(scene.ctx, Role.learner, scene.learner_id)
        assert signin(scene.client, token).status_code == 303
        assert "王芳" in scene.client.get("/archive").text
        token_id = next(
            t["id"]
            for t in scene.client.get("/api/v1/tokens", headers=auth(Role.admin)).json()
            if t["subject"] == scene.learner_id and t["revoked_at"] is None
        )
        assert scene.client.delete(f"/api/v1/tokens/{token_id}", headers=auth(Role.admin)).status_code == 200
        assert "王芳" not in scene.client.get("/archive").text

    def test_an_expired_session_admits_nothing(self, scene: Scene, db: Connection) -> None:
        scene.sign_in(Role.learner, scene.learner_id)
        db.execute(text("UPDATE web_sessions SET expires_at = now() - interval '1 second'"))
        assert "王芳" not in scene.client.get("/archive").text
        assert scene.client.get("/archive/transcript.pdf").status_code == 401

    def test_expired_sessions_are_deleted_when_someone_signs_in(self, scene: Scene, db: Connection) -> None:
        scene.sign_in(Role.learner, scene.learner_id)
        db.execute(text("UPDATE web_sessions SET expires_at = now() - interval '1 second'"))
        expired = _sessions(db)
        assert expired >= 1
        assert signin(_fresh(scene.ctx), mint(scene.ctx, Role.learner, scene.learner_id)).status_code == 303
        assert _sessions(db) == 1, "only the new session is left"

    def test_the_session_cookie_is_no_api_credential(self, scene: Scene) -> None:
        scene.sign_in(Role.learner, scene.learner_id)
        refused = scene.client.get(f"/api/v1/learners/{scene.learner_id}/archive")
        assert refused.status_code == 401 and refused.json()["type"].endswith("/unauthenticated")
        assert "bearer" in refused.json()["detail"].lower()
        assert scene.client.get("/archive/export.json").status_code == 200  # the page's own download


class TestLoginCsrf:
    def test_a_cross_site_sign_in_form_signs_nobody_in(self, scene: Scene) -> None:
        attacker_token = mint(scene.ctx, Role.learner, scene.learner_id)
        victim = _fresh(scene.ctx)
        forged = victim.post("/signin", data={"token": attacker_token}, follow_redirects=False)
        assert forged.status_code == 422
        assert "cb_session" not in forged.headers.get("set-cookie", "")
        # the attacker's own form token does not fit the victim's pre-session cookie either
        attacker = _fresh(scene.ctx)
        their_csrf = csrf_of(attacker.get("/").text)
        victim.get("/")  # the victim has a pre-session of their own
        replayed = victim.post(
            "/signin", data={"token": attacker_token, "csrf": their_csrf}, follow_redirects=False
        )
        assert replayed.status_code == 422
        assert "cb_session" not in replayed.headers.get("set-cookie", "")
        assert signin(victim, attacker_token).status_code == 303  # the site's own form works


class TestShareLinks:
    def _share(self, scene: Scene) -> tuple[str, str]:
        scene.post(training("T-1"))
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        created = scene.client.post("/archive/share", data={"csrf": csrf})
        link = re.search(r'value="http://testserver(/share/[^"]+)"', created.text)
        assert link, created.text
        return link.group(1), csrf

    def test_the_learner_revokes_a_share_link(self, scene: Scene, db: Connection) -> None:
        path, csrf = self._share(scene)
        stranger = _fresh(scene.ctx)
        assert stranger.get(path).status_code == 200
        page = scene.client.get("/archive").text
        link_id = re.search(r'name="link_id" value="(shl_[a-z0-9]+)"', page)
        assert link_id, "the archive lists the live link with a revoke form"
        other = _fresh(scene.ctx)  # another learner cannot revoke it
        other_csrf = scene.sign_in(Role.learner, mint_learner(scene), client=other)
        assert (
            other.post(
                "/archive/share/revoke", data={"csrf": other_csrf, "link_id": link_id.group(1)}
            ).status_code
            == 404
        )
        assert stranger.get(path).status_code == 200
        done = scene.client.post(
            "/archive/share/revoke", data={"csrf": csrf, "link_id": link_id.group(1)}, follow_redirects=False
        )
        assert done.status_code == 303
        assert stranger.get(path).status_code == 404

    def test_erasure_kills_every_share_link(self, scene: Scene) -> None:
        path, csrf = self._share(scene)
        stranger = _fresh(scene.ctx)
        assert stranger.get(path).status_code == 200
        erased = scene.client.post("/archive/erasure", data={"csrf": csrf, "confirm": "yes"})
        assert erased.status_code == 200, erased.text
        assert stranger.get(path).status_code == 404


def mint_learner(scene: Scene) -> str:
    from tests.support.factories import create_learner

    return create_learner(scene.client, scene.institution_headers, name="李四")


class TestGrantScreen:
    def test_the_learner_grants_sees_the_reads_and_revokes_on_the_archive_page(self, scene: Scene) -> None:
        scene.post(training("T-1"))
        school = {"Authorization": f"Bearer {mint(scene.ctx, Role.institution, scene.other_institution_id)}"}
        profile = f"/api/v1/learners/{scene.learner_id}/archive"
        assert scene.client.get(profile, headers=school).status_code == 403
        csrf = scene.sign_in(Role.learner, scene.learner_id)
        page = scene.client.get("/archive").text
        assert 'id="access"' in page and "谁可以查阅我的档案" in page
        assert f'<option value="{scene.other_institution_id}">北京开放大学</option>' in page
        made = scene.client.post(
            "/archive/grants",
            data={
                "csrf": csrf,
                "institution_id": scene.other_institution_id,
                "days": "7",
                "purpose": "转学评估",
            },
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        shown = scene.client.get(made.headers["location"]).text
        assert "查阅授权已生效" in shown and "转学评估" in shown
        grant_id = re.search(r'id="grant-(grt_[a-z0-9]+)" data-live="yes"', shown)
        assert grant_id, "the live grant is listed"
        assert scene.client.get(profile, headers=school).status_code == 200
        log = scene.client.get("/archive").text.split('id="access-table"')[1].split("</table>")[0]
        assert f"archive (grant {grant_id.group(1)})" in log, "the read and the grant it relied on are shown"
        revoked = scene.client.post(
            "/archive/grants/revoke",
            data={"csrf": csrf, "grant_id": grant_id.group(1)},
            follow_redirects=False,
        )
        assert revoked.status_code == 303
        assert f'id="grant-{grant_id.group(1)}" data-live="no"' in scene.client.get("/archive").text
        assert scene.client.get(profile, headers=school).status_code == 403
        bad = scene.client.post(
            "/archive/grants", data={"csrf": csrf, "institution_id": "ins_nobody", "days": "7"}
        )
        assert bad.status_code == 422 and "ins_nobody" in bad.text
