"""The admin's pages, tried from both sides through real HTTP: institutions with their district and
accreditation scope, operator accounts, tokens (the secret shown once, never listed; a revoked
token's session ends), the rule set in force with its hash and cases; an institution, a reviewer and
a cross-site form post are refused with nothing written."""

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.context import AppContext
from creditbank.main import create_app
from creditbank.outcomes.rulesets import rule_book
from tests.conftest import Tokens
from tests.support.factories import create_institution, credit_code
from tests.support.signin import csrf_of, mint, signin

TOKEN = re.compile(r'id="minted-token">(cbt_[A-Za-z0-9_-]+)<')


def _signed(
    ctx: AppContext, role: Role, subject: str | None = None, page: str = "/console"
) -> tuple[TestClient, str]:
    browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
    assert signin(browser, mint(ctx, role, subject)).status_code == 303
    return browser, csrf_of(browser.get(page).text)


class TestAdminPages:
    def test_institutions_scope_operators(self, ctx: AppContext, db: Connection) -> None:
        admin, csrf = _signed(ctx, Role.admin, page="/console/admin/institutions")
        created = admin.post(
            "/console/admin/institutions",
            data={
                "csrf": csrf,
                "name_zh": "北京市培训中心",
                "name_en": "Training centre",
                "credit_code": credit_code(),
                "kind": "training_body",
                "district": "朝阳区",
            },
            follow_redirects=False,
        )
        assert created.status_code == 303, created.text
        row = db.execute(
            text("SELECT id, district, kind FROM institutions WHERE name_zh = '北京市培训中心'")
        ).one()
        assert row.district == "朝阳区" and row.kind == "training_body"
        page = admin.get("/console/admin/institutions").text
        assert f'data-institution="{row.id}"' in page and "按机构类型的默认范围" in page

        bad = admin.post(
            "/console/admin/institutions",
            data={
                "csrf": csrf,
                "name_zh": "坏",
                "name_en": "Bad",
                "credit_code": "123",
                "kind": "training_body",
                "district": "火星区",
            },
        )
        assert bad.status_code == 422 and 'role="alert"' in bad.text

        scoped = admin.post(
            f"/console/admin/institutions/{row.id}/scope",
            data={"csrf": csrf, "outcome_types": ["training_course", "mooc"]},
            follow_redirects=False,
        )
        assert scoped.status_code == 303, scoped.text
        lines = (
            db.execute(
                text("SELECT outcome_type FROM accreditation_scopes WHERE institution_id = :i ORDER BY 1"),
                {"i": row.id},
            )
            .scalars()
            .all()
        )
        assert lines == ["mooc", "training_course"]

        made = admin.post(
            "/console/admin/operators",
            data={"csrf": csrf, "name": "赵审核", "unit": "朝阳区分中心", "district": "朝阳区"},
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        assert (
            db.execute(text("SELECT district FROM reviewer_accounts WHERE name = '赵审核'")).scalar_one()
            == "朝阳区"
        )
        city = admin.post(
            "/console/admin/operators",
            data={"csrf": csrf, "name": "钱中心", "district": ""},
            follow_redirects=False,
        )
        assert city.status_code == 303
        assert (
            db.execute(text("SELECT district FROM reviewer_accounts WHERE name = '钱中心'")).scalar_one()
            is None
        )
        assert "朝阳区分中心" in admin.get("/console/admin/operators").text

    def test_a_token_is_shown_once_and_revoking_it_ends_its_session(
        self, ctx: AppContext, client: TestClient, auth: Tokens
    ) -> None:
        admin, csrf = _signed(ctx, Role.admin, page="/console/admin/tokens")
        school_id = create_institution(client, auth(Role.admin))
        minted = admin.post(
            "/console/admin/tokens",
            data={"csrf": csrf, "role": "institution", "subject": school_id, "label": "教务处"},
        )
        assert minted.status_code == 201, minted.text
        assert minted.headers["cache-control"] == "no-store"
        found = TOKEN.search(minted.text)
        assert found, "the secret is on the answer"
        secret = found.group(1)
        listed = admin.get("/console/admin/tokens").text
        assert secret not in listed and "教务处" in listed
        assert (
            admin.post("/console/admin/tokens", data={"csrf": csrf, "role": "institution"}).status_code == 422
        )

        holder = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        assert signin(holder, secret).status_code == 303
        assert (
            holder.get("/console/outcomes").status_code == 200
            and "signin" not in holder.get("/console").url.path
        )
        token_id = re.search(r'data-token="(tok_[^"]+)"', listed)
        assert token_id
        revoked = admin.post(
            f"/console/admin/tokens/{token_id.group(1)}/revoke", data={"csrf": csrf}, follow_redirects=False
        )
        assert revoked.status_code == 303, revoked.text
        assert (
            client.get("/api/v1/learners/x", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        )
        assert 'name="token"' in holder.get("/console").text, (
            "the holder's session ended: the sign-in form again"
        )

    def test_the_rule_set_in_force_with_its_hash_and_cases(self, ctx: AppContext) -> None:
        admin, _ = _signed(ctx, Role.admin, page="/console/admin/rules")
        page = admin.get("/console/admin/rules").text
        in_force = rule_book(ctx.settings.rules_dir).in_force(dt.date.today())
        assert f'id="rule-set-hash">{in_force.hash}<' in page
        assert page.count('data-passed="yes"') > 20 and 'data-passed="no"' not in page
        assert "<form" not in page.split('id="rules"', 1)[1].split("</main>", 1)[0], "read-only"


class TestOnlyTheAdmin:
    def test_others_are_refused_and_nothing_is_written(
        self, ctx: AppContext, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        school_id = create_institution(client, auth(Role.admin))
        before = db.execute(text("SELECT count(*) FROM api_tokens")).scalar_one()
        for role, subject in ((Role.institution, school_id), (Role.reviewer, None)):
            browser, csrf = _signed(ctx, role, subject)
            assert "minted-token" not in browser.get("/console/admin/tokens").text  # the sign-in form
            for path, data in (
                ("/console/admin/tokens", {"role": "admin", "label": "提权"}),
                ("/console/admin/operators", {"name": "冒名"}),
                (
                    "/console/admin/institutions",
                    {
                        "name_zh": "冒名",
                        "name_en": "x",
                        "credit_code": credit_code(),
                        "kind": "university",
                        "district": "海淀区",
                    },
                ),
                (f"/console/admin/institutions/{school_id}/scope", {"outcome_types": "diploma"}),
            ):
                refused = browser.post(path, data={"csrf": csrf, **data}, follow_redirects=False)
                assert refused.status_code == 403, f"{role} {path}: {refused.status_code}"
        admin, _ = _signed(ctx, Role.admin, page="/console/admin/tokens")
        forged = admin.post("/console/admin/tokens", data={"role": "admin"})
        assert forged.status_code == 403 and "csrf" in forged.text
        # the signed-in tokens of this test are the only new ones
        assert db.execute(text("SELECT count(*) FROM api_tokens")).scalar_one() == before + 3
        assert (
            db.execute(text("SELECT count(*) FROM reviewer_accounts WHERE name = '冒名'")).scalar_one() == 0
        )
        assert (
            db.execute(
                text("SELECT count(*) FROM accreditation_scopes WHERE institution_id = :i"), {"i": school_id}
            ).scalar_one()
            == 0
        )
