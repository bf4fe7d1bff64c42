"""The catalogue of recognised outcomes (学习成果名录) in the browser, tried from both sides: the city
centre adds, edits and retires entries through the page's forms (each a new catalogue version, as
the API makes); a district sub-centre's reviewer, an institution and a cross-site form post the
same forms and are refused with nothing written. Edits are versioned: an earlier version reads back
as it was, and `rules diff --catalogue` names what changed."""

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.accreditation import service as catalogue
from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution
from tests.support.signin import csrf_of, mint, signin
from tests.test_cli import Cli, migrated, run  # noqa: F401 - fixtures

ENTRY = {
    "code": "1x-web-front",
    "outcome_type": "one_plus_x_certificate",
    "name_zh": "Web前端开发职业技能等级证书",
    "name_en": "Web front-end development (1+X)",
    "levels": "初级、中级，高级",
    "rule_id": "BJ-REC-1X",
}


def _browser(ctx: AppContext, token: str) -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    signed = signin(browser, token)
    assert signed.status_code == 303, signed.text
    return browser, csrf_of(browser.get("/console/catalogue").text)


def _district_reviewer(ctx: AppContext, district: str) -> str:
    with ctx.sessions() as s, s.begin():
        account = create_reviewer(s, "区审核员", district=district)
        _, token = create_token(s, ctx.token_key, Role.reviewer, account.id)
    return token


def _versions(db: Connection) -> list[str]:
    return list(db.execute(text("SELECT change FROM recognised_outcome_versions ORDER BY version")).scalars())


def _entry_row(db: Connection, code: str) -> Any:
    return db.execute(
        text("SELECT name_zh, levels, rule_id, retired_in FROM recognised_outcomes WHERE code = :c"),
        {"c": code},
    ).first()


class TestCityCentreKeepsTheCatalogue:
    def test_add_edit_retire_each_make_a_version(self, ctx: AppContext, db: Connection) -> None:
        browser, csrf = _browser(ctx, mint(ctx, Role.reviewer))  # a reviewer of the city centre

        added = browser.post(
            "/console/catalogue/entries", data={"csrf": csrf, **ENTRY}, follow_redirects=False
        )
        assert added.status_code == 303, added.text
        row = _entry_row(db, "1X-WEB-FRONT")
        assert row.name_zh == ENTRY["name_zh"] and row.levels == ["初级", "中级", "高级"]
        assert _versions(db) == ["added 1X-WEB-FRONT"]
        page = browser.get(added.headers["location"]).text
        assert 'id="entry-1X-WEB-FRONT"' in page and "初级、中级、高级" in page

        edited = browser.post(
            "/console/catalogue/entries/1X-WEB-FRONT/edit",
            data={
                **{k: ENTRY[k] for k in ("name_zh", "name_en")},
                "csrf": csrf,
                "levels": "初级,中级",
                "rule_id": "BJ-REC-1X-2",
            },
            follow_redirects=False,
        )
        assert edited.status_code == 303, edited.text
        assert _entry_row(db, "1X-WEB-FRONT").rule_id == "BJ-REC-1X-2"
        assert _versions(db)[-1] == "changed 1X-WEB-FRONT (levels, rule_id)"

        retired = browser.post(
            "/console/catalogue/entries/1X-WEB-FRONT/retire", data={"csrf": csrf}, follow_redirects=False
        )
        assert retired.status_code == 303, retired.text
        assert _entry_row(db, "1X-WEB-FRONT").retired_in == 3
        assert 'data-code="1X-WEB-FRONT"' not in browser.get("/console/catalogue").text  # in force only
        assert 'id="entry-1X-WEB-FRONT"' in browser.get("/console/catalogue?retired=true").text

        # each version's digest names the entries then in force; version 1 reads back unedited
        with ctx.sessions() as s:
            [first] = catalogue.entries_at(s, 1)
            assert first["rule_id"] == "BJ-REC-1X" and first["levels"] == ["初级", "中级", "高级"]
            done = catalogue.diff(s, 1, 2)
            assert [c["code"] for c in done.changed] == ["1X-WEB-FRONT"] and not done.added
            digests = [v.digest for v in catalogue.versions(s)]
        assert len(set(digests)) == 3

    def test_search_and_filter(self, ctx: AppContext, auth: Tokens, client: TestClient) -> None:
        admin = auth(Role.admin)
        for code, kind, name in (
            ("NCRE-2", "national_exam", "全国计算机等级考试二级"),
            ("CET-4", "national_exam", "大学英语四级考试"),
            ("VOL-BJ", "volunteer_service", "志愿北京志愿服务"),
        ):
            body = {"code": code, "outcome_type": kind, "name_zh": name, "name_en": code, "rule_id": "R-1"}
            assert client.post("/api/v1/recognised-outcomes", json=body, headers=admin).status_code == 201
        browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)

        def codes(query: str) -> list[str]:
            page = browser.get(f"/console/catalogue?{query}")
            assert page.status_code == 200, page.text
            return [c for c in ("NCRE-2", "CET-4", "VOL-BJ") if f'data-code="{c}"' in page.text]

        assert codes("") == ["NCRE-2", "CET-4", "VOL-BJ"]
        assert codes("q=计算机") == ["NCRE-2"]
        assert codes("q=cet") == ["CET-4"]
        assert codes("type=national_exam") == ["NCRE-2", "CET-4"]
        assert codes("q=%25") == []  # a LIKE wildcard is searched for, not matched
        assert "/console/catalogue/entries" not in browser.get("/console/catalogue").text  # no forms

    def test_a_bad_form_shows_its_errors_in_chinese_and_writes_nothing(
        self, ctx: AppContext, db: Connection
    ) -> None:
        browser, csrf = _browser(ctx, mint(ctx, Role.admin))
        bad = browser.post(
            "/console/catalogue/entries",
            data={"csrf": csrf, **ENTRY, "code": "坏 code", "name_zh": ""},
            follow_redirects=False,
        )
        assert bad.status_code == 422, bad.text
        assert 'role="alert"' in bad.text and "代码" in bad.text and 'value="坏 code"' in bad.text
        assert _versions(db) == []
        assert (
            browser.post(
                "/console/catalogue/entries", data={"csrf": csrf, **ENTRY}, follow_redirects=False
            ).status_code
            == 303
        )
        again = browser.post("/console/catalogue/entries", data={"csrf": csrf, **ENTRY})
        assert again.status_code == 409, again.text
        assert "1X-WEB-FRONT" in again.text and len(_versions(db)) == 1


class TestOnlyTheCityCentre:
    def test_a_district_reviewer_is_refused_and_nothing_is_written(
        self, ctx: AppContext, db: Connection, auth: Tokens, client: TestClient
    ) -> None:
        body = {**ENTRY, "levels": ["初级"]}
        assert (
            client.post("/api/v1/recognised-outcomes", json=body, headers=auth(Role.admin)).status_code == 201
        )
        browser, csrf = _browser(ctx, _district_reviewer(ctx, "朝阳区"))
        assert "/console/catalogue/entries" not in browser.get("/console/catalogue").text  # no forms
        for path, data in (
            ("/console/catalogue/entries", {**ENTRY, "code": "1X-FORGED"}),
            ("/console/catalogue/entries/1X-WEB-FRONT/edit", {**ENTRY, "rule_id": "FORGED"}),
            ("/console/catalogue/entries/1X-WEB-FRONT/retire", {}),
        ):
            refused = browser.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
            assert refused.status_code == 403, f"{path}: {refused.text}"
            assert "city-centre-only" in refused.text
        assert _versions(db) == ["added 1X-WEB-FRONT"]
        assert _entry_row(db, "1X-WEB-FRONT").rule_id == "BJ-REC-1X"

    def test_an_institution_is_refused(
        self, ctx: AppContext, db: Connection, auth: Tokens, client: TestClient
    ) -> None:
        school_id = create_institution(client, auth(Role.admin))
        browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        assert signin(browser, mint(ctx, Role.institution, school_id)).status_code == 303
        csrf = csrf_of(browser.get("/console").text)
        refused = browser.post(
            "/console/catalogue/entries", data={"csrf": csrf, **ENTRY}, follow_redirects=False
        )
        assert refused.status_code == 403, refused.text
        bearer = auth(Role.institution, school_id)
        assert client.post("/console/catalogue/entries", data=ENTRY, headers=bearer).status_code == 403
        assert _versions(db) == []

    def test_a_cross_site_post_without_the_token_is_refused(self, ctx: AppContext, db: Connection) -> None:
        browser, _ = _browser(ctx, mint(ctx, Role.admin))
        forged = browser.post("/console/catalogue/entries", data=ENTRY, follow_redirects=False)
        assert forged.status_code == 403 and "csrf" in forged.text
        assert _versions(db) == []


class TestEditThroughTheApi:
    def test_put_edits_and_the_diff_lists_it(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        body = {**ENTRY, "levels": ["初级"]}
        assert client.post("/api/v1/recognised-outcomes", json=body, headers=admin).status_code == 201
        edit = {
            "name_zh": ENTRY["name_zh"],
            "name_en": "Web front end",
            "levels": ["初级"],
            "rule_id": "BJ-REC-1X",
        }
        done = client.put("/api/v1/recognised-outcomes/1x-web-front", json=edit, headers=admin)
        assert done.status_code == 200, done.text
        assert done.json()["name_en"] == "Web front end"
        same = client.put("/api/v1/recognised-outcomes/1X-WEB-FRONT", json=edit, headers=admin)
        assert same.status_code == 422 and same.json()["type"].endswith("/catalogue-nothing-to-edit")
        school = auth(Role.institution, create_institution(client, admin))
        assert (
            client.put("/api/v1/recognised-outcomes/1X-WEB-FRONT", json=edit, headers=school).status_code
            == 403
        )
        diff = client.get("/api/v1/recognised-outcomes/diff", params={"first": 1, "second": 2}).json()
        [changed] = diff["changed"]
        assert (
            changed["before"]["name_en"] == ENTRY["name_en"]
            and changed["after"]["name_en"] == "Web front end"
        )
        assert (
            client.post("/api/v1/recognised-outcomes/1X-WEB-FRONT/retire", headers=admin).status_code == 200
        )
        late = client.put(
            "/api/v1/recognised-outcomes/1X-WEB-FRONT", json={**edit, "name_en": "x"}, headers=admin
        )
        assert late.status_code == 409 and late.json()["type"].endswith("/catalogue-entry-retired")


class TestRulesDiffShowsTheCatalogue:
    def test_rules_diff_catalogue(self, migrated: Cli) -> None:  # noqa: F811 - fixture
        ctx = migrated.context()
        try:
            with ctx.sessions() as session, session.begin():
                for code in ("1X-WEB-FRONT", "1X-CLOUD"):
                    catalogue.add_entry(
                        session,
                        code=code,
                        outcome_type="one_plus_x_certificate",
                        name_zh=f"证书 {code}",
                        name_en=code,
                        levels=["初级"],
                        rule_id="BJ-REC-1X",
                    )
                catalogue.edit_entry(
                    session,
                    "1X-WEB-FRONT",
                    name_zh="证书 1X-WEB-FRONT",
                    name_en="Web",
                    levels=["初级", "中级"],
                    rule_id="BJ-REC-1X",
                )
                catalogue.retire_entry(session, "1X-CLOUD")
        finally:
            ctx.engine.dispose()
        latest = migrated.ok("rules", "diff", "--catalogue", "latest").output
        assert "- 1X-CLOUD" in latest and "catalogue 3 (" in latest and "-> 4 (" in latest
        edit = migrated.ok("rules", "diff", "--catalogue", "2..3").output
        assert "~ 1X-WEB-FRONT" in edit and "['初级'] -> ['初级', '中级']" in edit
        whole = migrated.ok("rules", "diff", "--catalogue", "0..4").output
        assert "+ 1X-WEB-FRONT" in whole and "1 added, 0 retired, 0 changed" in whole
        assert migrated("rules", "diff", "--catalogue", "0..4", "--fail-on-change").exit_code == 1
        assert migrated("rules", "diff", "--catalogue", "4..4", "--fail-on-change").exit_code == 0
        assert migrated("rules", "diff", "--catalogue", "two").exit_code == 2
        assert migrated("rules", "diff").exit_code == 2
        # the old command is an alias and agrees
        alias = json.loads(migrated.ok("rules", "catalogue-diff", "2", "3", "--json").output)
        assert [c["code"] for c in alias["changed"]] == ["1X-WEB-FRONT"]
