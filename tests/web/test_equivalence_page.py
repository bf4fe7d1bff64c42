"""Course equivalences in the console: a draft is checked with the rule engine's schemas (problems
by field, nothing saved), previewed on the demo world's lots (which it converts, which it leaves;
nothing saved), then saved; a reviewer's session or a cross-site post cannot save one."""

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution
from tests.support.signin import csrf_of, mint, signin

DRAFT = {
    "destination_kind": "course",
    "destination_code": "WEB101",
    "destination_title_zh": "网页设计基础",
    "destination_title_en": "Web design basics",
    "credits": "3",
    "requires": '{"lot": {"outcome_type": "training_course", "field": "web_front_end"}}',
}


def _count(db: Connection, institution_id: str) -> int:
    return int(
        db.execute(
            text("SELECT count(*) FROM course_equivalences WHERE institution_id = :i"), {"i": institution_id}
        ).scalar_one()
    )


def _registrar(ctx: AppContext, client: TestClient, auth: Tokens) -> tuple[TestClient, str, str]:
    school_id = create_institution(client, auth(Role.admin))
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    assert signin(browser, mint(ctx, Role.institution, school_id)).status_code == 303
    return browser, csrf_of(browser.get("/console/equivalences").text), school_id


class TestEquivalenceForm:
    def test_preview_shows_the_demo_lots_it_converts_then_save(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        browser, csrf, school_id = _registrar(ctx, client, auth)
        preview = browser.post("/console/equivalences", data={"csrf": csrf, "action": "preview", **DRAFT})
        assert preview.status_code == 200, preview.text
        table = preview.text.split('id="preview-table"', 1)[1].split("</table>", 1)[0]
        converted = table.count('data-outcome="converted"')
        assert converted == 1 and "Web前端开发实训" in table  # the demo's web training course
        assert table.count('data-outcome="skipped"') > 10  # the others are listed with their reason
        assert _count(db, school_id) == 0, "a preview saves nothing"
        both = (
            '{"all_of": [{"lot": {"outcome_type": "training_course", "field": "web_front_end"}}, '
            '{"lot": {"outcome_type": "mooc", "field": "web_front_end"}}]}'
        )
        pair = browser.post(
            "/console/equivalences", data={"csrf": csrf, "action": "preview", **DRAFT, "requires": both}
        )
        table = pair.text.split('id="preview-table"', 1)[1].split("</table>", 1)[0]
        assert table.count('data-outcome="converted"') == 2 and "JavaScript 程序设计" in table

        saved = browser.post(
            "/console/equivalences", data={"csrf": csrf, "action": "save", **DRAFT}, follow_redirects=False
        )
        assert saved.status_code == 303, saved.text
        assert _count(db, school_id) == 1
        assert "WEB101" in browser.get(saved.headers["location"]).text
        public = client.get("/api/v1/equivalences", params={"institution_id": school_id}).json()
        assert [e["destination_code"] for e in public] == ["WEB101"]

    def test_bad_drafts_are_shown_by_field_and_nothing_is_saved(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        browser, csrf, school_id = _registrar(ctx, client, auth)
        for broken, where in (
            ({"requires": "{not json"}, "requires"),
            ({"requires": '{"lot": {"no_such_fact": 1}}'}, "requires"),
            ({"credits": "0"}, "credits"),
            ({"grade_mapping": '{"scale": 7}'}, "grade_mapping"),
        ):
            for action in ("preview", "save"):
                answer = browser.post(
                    "/console/equivalences", data={"csrf": csrf, "action": action, **DRAFT, **broken}
                )
                assert answer.status_code == 422, f"{broken}: {answer.status_code}"
                assert 'role="alert"' in answer.text and f'id="{where}-error"' in answer.text, broken
        assert _count(db, school_id) == 0

    def test_only_an_institution_saves_and_only_with_the_pages_token(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        browser, _, school_id = _registrar(ctx, client, auth)
        forged = browser.post("/console/equivalences", data={"action": "save", **DRAFT})
        assert forged.status_code == 403 and "csrf" in forged.text
        reviewer = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        assert signin(reviewer, mint(ctx, Role.reviewer)).status_code == 303
        csrf = csrf_of(reviewer.get("/console").text)
        refused = reviewer.post("/console/equivalences", data={"csrf": csrf, "action": "save", **DRAFT})
        assert refused.status_code == 403
        assert db.execute(text("SELECT count(*) FROM course_equivalences")).scalar_one() == 0
        assert _count(db, school_id) == 0
