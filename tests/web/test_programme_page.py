"""The registrar's programmes and shared courses in the console: added through the page's forms
(the catalogue's own service), problems shown by field with nothing written; another role's session
and a cross-site post are refused."""

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution
from tests.support.signin import csrf_of, mint, signin

PROGRAMME = {
    "code": "510201",
    "title_zh": "计算机应用技术",
    "title_en": "Computer applications",
    "graduation_credits": "120",
}
COURSE = {
    "code": "WEB-301",
    "title_zh": "前端工程实践",
    "title_en": "Front-end engineering",
    "credits": "3",
    "level": "4",
    "term": "2027春",
    "seats": "40",
    "mode": "blended",
    "open_to_other_schools": "on",
}


def _count(db: Connection, table: str, institution_id: str) -> int:
    return int(
        db.execute(
            text(f"SELECT count(*) FROM {table} WHERE institution_id = :i"), {"i": institution_id}
        ).scalar_one()
    )


def _signed(ctx: AppContext, role: Role, subject: str | None) -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    assert signin(browser, mint(ctx, role, subject)).status_code == 303
    return browser, csrf_of(browser.get("/console").text)


class TestProgrammeForms:
    def test_add_a_programme_and_publish_a_course(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        school_id = create_institution(client, auth(Role.admin))
        browser, csrf = _signed(ctx, Role.institution, school_id)
        added = browser.post("/console/programmes", data={"csrf": csrf, **PROGRAMME}, follow_redirects=False)
        assert added.status_code == 303, added.text
        published = browser.post(
            "/console/shared-courses", data={"csrf": csrf, **COURSE}, follow_redirects=False
        )
        assert published.status_code == 303, published.text
        page = browser.get("/console/programmes").text
        assert "计算机应用技术" in page and "前端工程实践" in page and "0 / 40" in page
        courses = client.get("/api/v1/shared-courses", params={"institution_id": school_id}).json()
        assert [(c["code"], c["seats"], c["mode"]) for c in courses] == [("WEB-301", 40, "blended")]
        again = browser.post("/console/programmes", data={"csrf": csrf, **PROGRAMME})
        assert again.status_code == 409 and "510201" in again.text
        assert _count(db, "programmes", school_id) == 1

    def test_bad_forms_show_their_errors_and_write_nothing(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        school_id = create_institution(client, auth(Role.admin))
        browser, csrf = _signed(ctx, Role.institution, school_id)
        bad = browser.post(
            "/console/programmes", data={"csrf": csrf, **PROGRAMME, "graduation_credits": "-1"}
        )
        assert bad.status_code == 422 and 'id="graduation_credits-error"' in bad.text
        worse = browser.post(
            "/console/shared-courses", data={"csrf": csrf, **COURSE, "level": "9", "mode": "teleport"}
        )
        assert worse.status_code == 422 and 'id="level-error"' in worse.text
        assert _count(db, "programmes", school_id) == 0 and _count(db, "shared_courses", school_id) == 0

    def test_others_and_cross_site_posts_are_refused(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        school_id = create_institution(client, auth(Role.admin))
        reviewer, csrf = _signed(ctx, Role.reviewer, None)
        assert reviewer.post("/console/programmes", data={"csrf": csrf, **PROGRAMME}).status_code == 403
        assert reviewer.post("/console/shared-courses", data={"csrf": csrf, **COURSE}).status_code == 403
        owner, _ = _signed(ctx, Role.institution, school_id)
        forged = owner.post("/console/shared-courses", data=COURSE)
        assert forged.status_code == 403 and "csrf" in forged.text
        assert _count(db, "programmes", school_id) == 0 and _count(db, "shared_courses", school_id) == 0
