"""The application form adapts to the outcome type, and the district is the learner's own, tried
through real HTTP: the first step chooses the type, the server renders only that type's fields
(required ones marked, labels in Chinese first and in English); the server refuses an application
that lacks a required field of its type, whichever way it came; fields of another type are dropped;
and a learner cannot route an application to another district's sub-centre, on the page or the API."""

import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection, text

from creditbank.applications import claim_fields
from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from creditbank.rule_engine.models import OUTCOME_TYPES
from tests.applications.support import apply, claim, decide, pdf_bytes, reviewer, two_files
from tests.conftest import Tokens
from tests.learners.accounts_support import account_code, register
from tests.support.factories import create_institution, create_learner, identity_number
from tests.support.signin import csrf_of, mint, sign_in


def _learner(client: TestClient, auth: Tokens, district: str = "朝阳区") -> tuple[str, dict[str, str]]:
    admin = auth(Role.admin)
    school = auth(Role.institution, create_institution(client, admin, district=district))
    learner_id = create_learner(client, school)
    return learner_id, auth(Role.learner, learner_id)


def _browser(ctx: AppContext, learner_id: str) -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    return browser, sign_in(browser, mint(ctx, Role.learner, learner_id), "/applications")


def _fieldset(html: str) -> str:
    start = html.index('<fieldset id="type-fields"')
    return html[start : html.index("</fieldset>", start)]


def _names(html: str) -> set[str]:
    return set(re.findall(r'name="([a-z_]+)"', html))


def _count(db: Connection, table: str, learner_id: str) -> int:
    return int(
        db.execute(text(f"SELECT count(*) FROM {table} WHERE learner_id = :l"), {"l": learner_id}).scalar()
        or 0
    )


class TestTheFormPerType:
    def test_the_first_step_chooses_the_type_and_shows_no_fields(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        learner_id, _ = _learner(client, auth)
        browser, _ = _browser(ctx, learner_id)
        page = browser.get("/applications/new")
        assert page.status_code == 200
        assert '<form method="get" action="/applications/new"' in page.text
        assert re.search(r'<form method="post" action="/applications"[^>]*id="apply-form" hidden>', page.text)
        assert _names(_fieldset(page.text)) == set()
        assert 'name="district"' not in page.text  # the district is never chosen on the form
        assert "朝阳区" in page.text  # it is said: the learner's own
        assert set(claim_fields.FIELDS) == set(OUTCOME_TYPES)  # every type has its fields listed

    @pytest.mark.parametrize("outcome_type", OUTCOME_TYPES)
    def test_each_type_shows_exactly_its_own_fields_required_ones_marked(
        self, outcome_type: str, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        learner_id, _ = _learner(client, auth)
        browser, _ = _browser(ctx, learner_id)
        page = browser.get("/applications/new", params={"type": outcome_type})
        assert page.status_code == 200, page.text
        fieldset = _fieldset(page.text)
        own = claim_fields.fields_of(outcome_type)
        assert _names(fieldset) == {f.name for f in own} | {"outcome_type"}
        assert fieldset.count("必填") == sum(f.required for f in own)
        for f in own:
            tag = re.search(rf'<(?:input|select) id="{f.name}"[^>]*>', fieldset)
            assert tag is not None and (" required" in tag.group(0)) == f.required, (f.name, fieldset)
        assert f'name="outcome_type" value="{outcome_type}"' in fieldset
        assert not re.search(r'<form[^>]*id="apply-form" hidden', page.text)
        # the fieldset alone, as the page's script fetches it, is the same
        part = browser.get("/applications/new", params={"type": outcome_type, "part": "fields"})
        assert part.status_code == 200 and _names(part.text) == _names(fieldset)
        assert "<html" not in part.text

    def test_labels_are_chinese_first_and_english_on_asking(
        self, client: TestClient, auth: Tokens, ctx: AppContext
    ) -> None:
        learner_id, _ = _learner(client, auth)
        browser, _ = _browser(ctx, learner_id)
        zh = _fieldset(browser.get("/applications/new", params={"type": "competition_award"}).text)
        assert "赛项" in zh and "获奖等次" in zh and "技能竞赛获奖需填写的信息" in zh
        assert "国家级" in zh and "一等奖" in zh
        en = _fieldset(
            browser.get("/applications/new", params={"type": "competition_award", "lang": "en"}).text
        )
        assert "Competition" in en and "Award tier" in en and "required" in en

    def test_an_unknown_type_is_asked_again(self, client: TestClient, auth: Tokens, ctx: AppContext) -> None:
        learner_id, _ = _learner(client, auth)
        browser, _ = _browser(ctx, learner_id)
        page = browser.get("/applications/new", params={"type": "moon_landing"})
        assert page.status_code == 422 and "没有这种成果类型" in page.text
        assert _names(_fieldset(page.text)) == set()


class TestRequiredFieldsAreEnforced:
    def test_the_page_refuses_a_type_without_its_required_field_and_keeps_nothing(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        learner_id, _ = _learner(client, auth)
        browser, csrf = _browser(ctx, learner_id)
        form = {**claim(title="全国职业院校技能大赛"), "outcome_type": "competition_award", "level": "国家级"}
        del form["hours"], form["district"]
        refused = browser.post(
            "/applications",
            data={**form, "csrf": csrf},
            files=[("files", ("获奖证书.pdf", pdf_bytes(), "application/pdf"))],
        )
        assert refused.status_code == 422, refused.text
        alert = re.search(r'<p class="alert" role="alert" id="apply-error">([^<]*)</p>', refused.text)
        assert alert is not None and "赛项" in alert.group(1), refused.text
        assert _names(_fieldset(refused.text)) >= {"competition_id", "level", "award_tier"}  # asked again
        assert 'value="全国职业院校技能大赛"' in refused.text  # what was typed is kept on the page
        assert _count(db, "applications", learner_id) == 0 and _count(db, "outcomes", learner_id) == 0
        done = browser.post(
            "/applications",
            data={**form, "competition_id": "2026-GZ-031", "award_tier": "二等奖", "csrf": csrf},
            files=[("files", ("获奖证书.pdf", pdf_bytes(), "application/pdf"))],
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        stored = db.execute(
            text("SELECT level, attributes FROM outcomes WHERE learner_id = :l"), {"l": learner_id}
        ).one()
        assert stored.level == "national"
        assert (
            stored.attributes["competition_id"] == "2026-GZ-031"
            and stored.attributes["award_tier"] == "二等奖"
        )

    def test_the_api_refuses_each_missing_field_by_name(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        learner_id, me = _learner(client, auth)
        refused = apply(client, me, outcome_type="self_study_exam", hours="", title="管理学原理")
        assert refused.status_code == 422, refused.text
        named = {e["loc"][-1] for e in refused.json()["errors"]}
        assert named == {"course_code", "score", "credits"}
        assert _count(db, "applications", learner_id) == 0

    def test_a_type_own_facts_reach_the_rules_and_other_types_fields_are_dropped(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        _, me = _learner(client, auth)
        filed = apply(
            client,
            me,
            outcome_type="self_study_exam",
            hours="48",  # not a self-study exam's field: dropped
            years="9",  # nor this
            title="管理学原理（自考）",
            course_code="00054",
            score="72",
            credits="6",
        )
        assert filed.status_code == 201, filed.text
        outcome = filed.json()["outcome"]
        assert outcome["recognition"]["rule_id"] == "BJ-REC-ZIKAO"
        assert float(outcome["recognition"]["credits"]) == 6  # the course's credits, read by the rule
        row = db.execute(
            text("SELECT hours, score, course_code, attributes FROM outcomes WHERE id = :o"),
            {"o": outcome["id"]},
        ).one()
        assert row.hours is None and float(row.score) == 72 and row.course_code == "00054"
        assert "years" not in row.attributes and row.attributes["credits"] == "6"

    def test_a_mooc_whose_platform_verified_the_learner_can_be_recognised(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        """A MOOC counts only with the platform's identity check (实名认证); the learner says whether
        there was one, and the rules read it (before, a learner's MOOC could only meet the rejection)."""
        _, me = _learner(client, auth)

        def mooc(title: str, identity_verified: str = "") -> Response:
            return apply(
                client,
                me,
                outcome_type="mooc",
                hours="36",
                score="85",
                issuer_kind="other",
                title=title,
                identity_verified=identity_verified,
            )

        missing = mooc("数据结构（慕课）")
        assert missing.status_code == 422, missing.text
        assert {e["loc"][-1] for e in missing.json()["errors"]} == {"identity_verified"}
        unverified = mooc("数据结构（慕课）", identity_verified="no")
        assert unverified.status_code == 201, unverified.text
        assert unverified.json()["outcome"]["recognition"]["rule_id"] == "BJ-REC-MOOC-UNGRADED"
        verified = mooc("操作系统（慕课）", identity_verified="yes")
        assert verified.status_code == 201, verified.text
        outcome = verified.json()["outcome"]
        assert outcome["recognition"]["rule_id"] == "BJ-REC-MOOC"
        # 36 hours / 16 hours a credit = 2.25, rounded down to half credits
        assert float(outcome["recognition"]["credits"]) == 2
        stored = db.execute(
            text("SELECT identity_verified FROM outcomes WHERE id = :o"), {"o": outcome["id"]}
        )
        assert stored.scalar_one() is True


class TestTheDistrictIsTheLearnersOwn:
    def test_a_learner_cannot_route_an_application_to_another_district(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        learner_id, me = _learner(client, auth, district="朝阳区")
        # the API: naming another district is refused, nothing kept
        routed = apply(client, me, district="海淀区")
        assert routed.status_code == 403, routed.text
        assert routed.json()["type"].endswith("/application-district-not-yours")
        assert _count(db, "applications", learner_id) == 0 and _count(db, "outcomes", learner_id) == 0
        # the page: a forged district field is refused the same way
        browser, csrf = _browser(ctx, learner_id)
        forged = browser.post(
            "/applications",
            data={**claim(title="焊工培训（伪造区）"), "district": "110108", "csrf": csrf},
            files=two_files(),
        )
        assert forged.status_code == 403 and "朝阳区" in forged.text
        assert _count(db, "applications", learner_id) == 0
        # left out, it goes to the learner's own district; the other district's sub-centre never sees it
        filed = apply(client, me, district="")
        assert filed.status_code == 201 and filed.json()["district"] == "朝阳区"
        haidian = reviewer(ctx, "海淀区", "海淀审核员")
        outcome_id = filed.json()["outcome"]["id"]
        taken = decide(client, haidian, outcome_id, "approve", "越区审批", f"{outcome_id}-x")
        assert taken.status_code == 403, taken.text
        evidence = filed.json()["evidence"][0]["url"]
        assert client.get(evidence, headers=haidian).status_code in (401, 403)

    def test_an_account_applies_in_the_district_it_was_opened_in(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        person = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        opened = register(person, identity_number(), district="丰台区")
        assert opened.status_code == 303, opened.text
        code = account_code(person)
        fengtai = reviewer(ctx, "丰台区", "丰台审核员")
        verified = client.post(
            f"/api/v1/accounts/{code}/verification",
            json={"documents": "居民身份证原件"},
            headers={**fengtai, "Idempotency-Key": f"verify-{code}"},
        )
        assert verified.status_code == 200, verified.text
        page = person.get("/applications/new", params={"type": "training_course"})
        assert page.status_code == 200 and "丰台区" in page.text
        done = person.post(
            "/applications",
            data={**claim(title="养老护理员培训"), "district": "", "csrf": csrf_of(page.text)},
            files=two_files(),
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        learner_id = verified.json()["learner_id"]
        district = db.execute(
            text("SELECT district FROM applications WHERE learner_id = :l"), {"l": learner_id}
        ).scalar()
        assert district == "丰台区"
