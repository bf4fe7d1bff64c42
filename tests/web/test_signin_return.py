"""Signing in returns the browser to the page that asked for it, and never to another site.

Every page that answers a stranger with the sign-in form is found from the app's router table (not
a hand list); the form carries the page as its ``next``, and each role that works on the page comes
back to it (the others go to their own page). A ``next`` written by an attacker (another site, a
protocol-relative or backslashed host, a script URL) is refused: the sign-in lands home.
"""

import itertools
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from creditbank.web import pages
from tests.conftest import Tokens
from tests.learners.accounts_support import PASSWORD, account_code, phone, register
from tests.support.factories import create_learner, identity_number
from tests.support.routes import page_routes
from tests.support.signin import NEXT, csrf_of, mint, signin
from tests.web.scene import Scene, build_scene

SIGNIN_FORM = 'action="/signin"'
ATTACKS = (
    "https://evil.example/steal",
    "//evil.example/steal",
    "/\\evil.example/steal",
    "\\\\evil.example/steal",
    "/\t/evil.example/steal",
    "javascript:alert(1)",
    "https:/evil.example",
    "evil.example",
)
_keys = itertools.count(1)


@pytest.fixture
def scene(client: TestClient, auth: Tokens, ctx: AppContext) -> Scene:
    return build_scene(client, auth, ctx)


@pytest.fixture
def app(ctx: AppContext) -> FastAPI:
    """The test's app, built once (building it is slow); each browser on it has its own cookies."""
    return create_app(ctx=ctx)


def _browser(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def _pages_asking_for_signin(app: FastAPI) -> list[str]:
    """The GET pages of the app (no path parameters) that show a stranger the sign-in form."""
    stranger = _browser(app)
    found = []
    for route in page_routes(app, "GET"):
        if "{" in route.path:
            continue
        answer = stranger.get(route.path, follow_redirects=False)
        if answer.status_code == 200 and SIGNIN_FORM in answer.text:
            found.append(route.path)
    return found


def _tokens(scene: Scene) -> dict[Role, str]:
    return {
        Role.learner: mint(scene.ctx, Role.learner, scene.learner_id),
        Role.institution: mint(scene.ctx, Role.institution, scene.institution_id),
        Role.reviewer: mint(scene.ctx, Role.reviewer),
        Role.admin: mint(scene.ctx, Role.admin),
        Role.auditor: mint(scene.ctx, Role.auditor),
    }


class TestReturn:
    def test_every_page_that_asks_for_signin_is_where_its_roles_come_back(
        self, scene: Scene, app: FastAPI
    ) -> None:
        asking = _pages_asking_for_signin(app)
        assert {"/archive", "/console", "/statistics", "/progress", "/applications"} <= set(asking), asking
        tokens = _tokens(scene)
        wrong: list[str] = []
        for page in asking:
            form = _browser(app).get(page).text
            written = NEXT.search(form)
            if written is None or written.group(1) != page:
                wrong.append(f"{page}: the form returns to {written and written.group(1)}")
                continue
            returned = []
            for role, token in tokens.items():
                browser = _browser(app)
                answer = signin(browser, token, page)
                assert answer.status_code == 303, (page, role, answer.text)
                location = answer.headers["location"]
                if location == page:
                    returned.append(role)
                elif location != pages.HOME[role]:
                    wrong.append(f"{page} as {role.value}: landed on {location}")
                landed = browser.get(location)
                if landed.status_code >= 500 or SIGNIN_FORM in landed.text:
                    wrong.append(f"{page} as {role.value}: {location} answered {landed.status_code}")
            if page != "/" and not returned:
                wrong.append(f"{page}: no role comes back to it")
        assert wrong == []

    def test_statistics_returns_to_statistics(self, scene: Scene, app: FastAPI) -> None:
        browser = _browser(app)
        answer = signin(browser, mint(scene.ctx, Role.institution, scene.institution_id), "/statistics")
        assert answer.status_code == 303 and answer.headers["location"] == "/statistics"
        assert SIGNIN_FORM not in browser.get("/statistics").text

    def test_the_query_of_the_page_comes_back_too(self, scene: Scene, app: FastAPI) -> None:
        browser = _browser(app)
        page = "/applications/new?type=training"
        assert NEXT.search(browser.get(page).text).group(1) == page.replace("&", "&amp;")  # type: ignore[union-attr]
        answer = signin(browser, mint(scene.ctx, Role.learner, scene.learner_id), page)
        assert answer.status_code == 303 and answer.headers["location"] == page

    def test_a_failed_signin_keeps_the_page_to_return_to(self, scene: Scene, app: FastAPI) -> None:
        browser = _browser(app)
        refused = signin(browser, "", "/statistics")
        assert refused.status_code == 422
        assert NEXT.search(refused.text).group(1) == "/statistics"  # type: ignore[union-attr]
        answer = signin(browser, mint(scene.ctx, Role.reviewer), "/statistics")
        assert answer.headers["location"] == "/statistics"


class TestAttacker:
    @pytest.mark.parametrize("target", ATTACKS)
    def test_a_next_naming_another_site_lands_home(self, scene: Scene, app: FastAPI, target: str) -> None:
        browser = _browser(app)
        answer = signin(
            browser, mint(scene.ctx, Role.institution, scene.institution_id), "/statistics", next=target
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console", answer.headers["location"]

    @pytest.mark.parametrize("target", ATTACKS[:3])
    def test_a_refused_signin_does_not_write_the_attackers_next_into_the_form(
        self, scene: Scene, app: FastAPI, target: str
    ) -> None:
        refused = signin(_browser(app), "", "/", next=target)
        assert refused.status_code == 422
        written = NEXT.search(refused.text)
        assert written and written.group(1) == "/", written and written.group(1)
        assert "evil.example" not in refused.text

    def test_a_page_of_another_role_is_not_where_a_signin_lands(self, scene: Scene, app: FastAPI) -> None:
        """A learner signing in from the admin console goes to the archive, not to a page that
        would only ask them to sign in again."""
        answer = signin(
            _browser(app), mint(scene.ctx, Role.learner, scene.learner_id), "/", next="/console/admin"
        )
        assert answer.headers["location"] == "/archive"

    def test_the_password_form_returns_to_its_page_and_refuses_another_site(
        self, scene: Scene, app: FastAPI
    ) -> None:
        number = identity_number()
        learner_id = create_learner(scene.client, scene.institution_headers, name="赵敏", number=number)
        browser = _browser(app)
        contact = phone()
        assert register(browser, number, name="赵敏", contact=contact).status_code == 303
        verified = scene.client.post(
            f"/api/v1/accounts/{account_code(browser)}/verification",
            json={},
            headers={**scene.institution_headers, "Idempotency-Key": f"signin-return-{next(_keys)}"},
        )
        assert verified.status_code == 200 and verified.json()["learner_id"] == learner_id, verified.text
        for page, target, expected in (
            ("/progress", None, "/progress"),
            ("/progress", "//evil.example/steal", "/archive"),
            ("/progress", "https://evil.example/", "/archive"),
        ):
            stranger = _browser(app)
            form = stranger.get(page).text
            written = re.search(r'action="/signin/password".*?name="next" value="([^"]*)"', form, re.S)
            assert written and written.group(1) == page
            answer = stranger.post(
                "/signin/password",
                data={
                    "contact": contact,
                    "password": PASSWORD,
                    "csrf": csrf_of(form),
                    "next": target if target is not None else written.group(1),
                },
                follow_redirects=False,
            )
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"] == expected, (target, answer.headers["location"])
