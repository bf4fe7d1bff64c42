"""Every form of the pages refuses a cross-site post, by construction, and writes nothing.

The routes are read from the app's router table (not a hand list): every POST route of the pages
that a session cookie can authenticate declares the one CSRF dependency (``pages.FormCsrf``, or
``pages.HeaderCsrf`` for the passkeys' JSON posts); the few that anyone may post (signing in,
registering, verifying a certificate) check the sign-in form's own token or change nothing a cookie
could lend them. Then each route is posted as another site's form would post it: with the victim's
live session cookie and without the token. Every one is refused before it reads or writes anything
(the database's every table is the same after), and the same post with the page's token gets past
the check.
"""

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, text

from creditbank.auth.deps import PublicGuard, RoleGuard
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from creditbank.web import pages
from tests.conftest import Tokens
from tests.support.postgres import as_superuser
from tests.support.routes import Route, page_routes
from tests.support.signin import mint, sign_in
from tests.web.scene import Scene, build_scene

CHECKS = (pages.form_csrf, pages.header_csrf)
PRESESSION_FORMS = {"/signin", "/signin/password", "/signin/passkey", "/signin/passkey/options", "/register"}
"""Anyone may post these: they open a session, so they cannot rely on one; each checks the sign-in
form's pre-session token instead (login CSRF; tests/web/test_sessions.py, tests/learners)."""
OPEN_FORMS = {"/verify"}
"""Anyone may post these, signed in or not, and they write nothing: a cookie lends them nothing."""


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


def _calls(dependant: Dependant) -> list[Any]:
    found, stack = [], list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def _roles(route: Route) -> tuple[Role, ...] | None:
    """The roles the route's page guard admits; None for a route anyone may call."""
    calls = _calls(route.route.dependant)
    if any(isinstance(c, PublicGuard) for c in calls):
        return None
    guards = [c for c in calls if isinstance(c, RoleGuard)]
    assert guards, f"{route.path} declares no callers"
    return tuple(sorted(guards[0].roles, key=lambda r: r.value))


def _fingerprint(db: Connection) -> dict[str, str]:
    """Every table's rows, hashed: what a refused post must leave as it was."""
    with as_superuser(db):
        tables = db.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
        return {
            table: db.execute(
                text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
                )
            ).scalar_one()
            for table in list(tables)
        }


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x0", path)


def _post(browser: TestClient, path: str, json_route: bool, csrf: str | None) -> Response:
    if json_route:
        headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
        sent: Response = browser.post(path, json={}, headers=headers, follow_redirects=False)
        return sent
    data = {"note": "cross-site", **({"csrf": csrf} if csrf is not None else {})}
    posted: Response = browser.post(path, data=data, follow_redirects=False)
    return posted


class TestEveryForm:
    def test_every_form_route_declares_the_one_check(self, app: FastAPI) -> None:
        unchecked = []
        posts = list(page_routes(app, "POST"))
        assert len(posts) >= 50, [r.path for r in posts]
        for route in posts:
            if route.path in PRESESSION_FORMS:
                assert _roles(route) is None, f"{route.path} is a sign-in form and needs no session"
                continue
            calls = _calls(route.route.dependant)
            if route.path in OPEN_FORMS:
                assert _roles(route) is None, f"{route.path} is open to everyone"
            elif not any(c in CHECKS for c in calls):
                unchecked.append(route.path)
        assert unchecked == []

    def test_a_cross_site_post_to_every_form_is_refused_and_writes_nothing(
        self, scene: Scene, app: FastAPI, db: Connection
    ) -> None:
        subjects = {
            Role.learner: scene.learner_id,
            Role.institution: scene.institution_id,
            Role.reviewer: None,
            Role.admin: None,
            Role.auditor: None,
        }
        browsers: dict[Role, tuple[TestClient, str]] = {}
        for role, subject in subjects.items():
            browser = TestClient(app, raise_server_exceptions=False)
            browsers[role] = (browser, sign_in(browser, mint(scene.ctx, role, subject)))
        before = _fingerprint(db)
        refused, passed, wrote = [], [], []
        for route in page_routes(app, "POST"):
            roles = _roles(route)
            if route.path in PRESESSION_FORMS:
                continue
            browser, _ = browsers[roles[0] if roles else Role.learner]
            json_route = pages.header_csrf in _calls(route.route.dependant)
            answer = _post(browser, _concrete(route.path), json_route, csrf=None)
            if route.path in OPEN_FORMS:
                assert answer.status_code < 500, answer.text
            elif answer.status_code == 403 and answer.json()["type"].endswith("/csrf-failed"):
                refused.append(route.path)
            else:
                passed.append(f"{route.path}: {answer.status_code} {answer.text[:120]}")
            after = _fingerprint(db)
            if after != before:
                wrote.append(f"{route.path}: {[t for t in after if after[t] != before[t]]}")
                before = after
        assert passed == []
        assert wrote == []
        assert len(refused) >= 50
        assert browsers[Role.learner][0].get("/archive").status_code == 200  # the victim still signed in

    def test_the_token_of_the_page_gets_past_the_check_on_every_form(
        self, scene: Scene, app: FastAPI
    ) -> None:
        subjects = {Role.learner: scene.learner_id, Role.institution: scene.institution_id}
        browsers = {}
        for role in (Role.learner, Role.institution, Role.reviewer, Role.admin):
            browser = TestClient(app, raise_server_exceptions=False)
            browsers[role] = (browser, sign_in(browser, mint(scene.ctx, role, subjects.get(role))))
        stopped = []
        for route in page_routes(app, "POST"):
            roles = _roles(route)
            if route.path in PRESESSION_FORMS | OPEN_FORMS:
                continue
            browser, csrf = browsers[roles[0] if roles else Role.learner]
            json_route = pages.header_csrf in _calls(route.route.dependant)
            answer = _post(browser, _concrete(route.path), json_route, csrf=csrf)
            if "csrf-failed" in answer.text:
                stopped.append(route.path)
        assert stopped == []

    def test_a_bearer_token_needs_no_page_token(self, scene: Scene, app: FastAPI) -> None:
        browser = TestClient(app, raise_server_exceptions=False)
        token = mint(scene.ctx, Role.learner, scene.learner_id)
        answer = browser.post(
            "/archive/share", headers={"Authorization": f"Bearer {token}"}, follow_redirects=False
        )
        assert answer.status_code == 200, answer.text

    def test_a_stale_token_from_another_session_is_refused(
        self, scene: Scene, app: FastAPI, db: Connection
    ) -> None:
        first = TestClient(app, raise_server_exceptions=False)
        old = sign_in(first, mint(scene.ctx, Role.learner, scene.learner_id))
        second = TestClient(app, raise_server_exceptions=False)
        sign_in(second, mint(scene.ctx, Role.learner, scene.learner_id))
        before = db.execute(text("SELECT count(*) FROM share_links")).scalar_one()
        answer = second.post("/archive/share", data={"csrf": old}, follow_redirects=False)
        assert answer.status_code == 403 and answer.json()["type"].endswith("/csrf-failed")
        assert db.execute(text("SELECT count(*) FROM share_links")).scalar_one() == before


@pytest.fixture
def app(ctx: AppContext) -> FastAPI:
    return create_app(ctx=ctx)
