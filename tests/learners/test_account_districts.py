"""A learner account is verified at the sub-centre of the district the person registered in.

Tried from the attacker's side: a reviewer of another district's sub-centre reads the account by its
code and verifies it by id, through the API and through the console form, and is refused with
nothing written; the right district's reviewer and the city centre's verify."""

import itertools

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.learners.accounts_support import account_code, register
from tests.support.factories import identity_number
from tests.support.signin import csrf_of, sign_in

_keys = itertools.count(1)
DOCUMENTS = {"documents": "居民身份证原件"}


def _reviewer(ctx: AppContext, district: str | None) -> str:
    with ctx.sessions() as s, s.begin():
        account = create_reviewer(s, "分中心审核员", district=district)
        _, token = create_token(s, ctx.token_key, Role.reviewer, account.id)
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": f"acc-district-{next(_keys)}"}


def _browser(ctx: AppContext) -> TestClient:
    return TestClient(create_app(ctx=ctx), raise_server_exceptions=False)


def _opened(ctx: AppContext, district: str) -> tuple[str, str]:
    """An account opened in ``district``; its code and identity number."""
    browser = _browser(ctx)
    number = identity_number()
    assert register(browser, number, name="周琳", district=district).status_code == 303
    return account_code(browser), number


def _state(db: Connection, code: str) -> tuple[str | None, int]:
    learner = db.execute(
        text("SELECT learner_id FROM learner_accounts WHERE id = :id"), {"id": code}
    ).scalar()
    return learner, int(db.execute(text("SELECT count(*) FROM learners")).scalar_one())


class TestAnotherDistrictsReviewer:
    def test_cannot_read_or_verify_the_account_through_the_api(
        self, ctx: AppContext, client: TestClient, db: Connection
    ) -> None:
        code, number = _opened(ctx, "海淀区")
        before = _state(db, code)
        chaoyang = _reviewer(ctx, "朝阳区")
        read = client.get(f"/api/v1/accounts/{code}", headers=_bearer(chaoyang))
        assert read.status_code == 403, read.text
        assert read.json()["type"].endswith("/account-outside-district")
        assert number not in read.text and "周琳" not in read.text
        verify = client.post(
            f"/api/v1/accounts/{code}/verification", json=DOCUMENTS, headers=_bearer(chaoyang)
        )
        assert verify.status_code == 403, verify.text
        assert verify.json()["type"].endswith("/account-outside-district")
        assert _state(db, code) == before, "nothing written: no link, no learner registered"

    def test_cannot_verify_through_the_console_form(self, ctx: AppContext, db: Connection) -> None:
        code, number = _opened(ctx, "海淀区")
        before = _state(db, code)
        browser = _browser(ctx)
        csrf = sign_in(browser, _reviewer(ctx, "朝阳区"), "/console")
        page = browser.get(f"/console/accounts?code={code}")
        assert number not in page.text and "周琳" not in page.text
        forged = browser.post(
            "/console/accounts/verify",
            data={"account_id": code, "documents": "居民身份证原件", "csrf": csrf},
            follow_redirects=False,
        )
        assert forged.status_code == 403, forged.text
        assert "海淀区" in forged.text
        assert _state(db, code) == before


class TestTheRightReviewer:
    def test_the_districts_reviewer_verifies(
        self, ctx: AppContext, client: TestClient, db: Connection
    ) -> None:
        code, number = _opened(ctx, "海淀区")
        haidian = _reviewer(ctx, "海淀区")
        shown = client.get(f"/api/v1/accounts/{code}", headers=_bearer(haidian))
        assert shown.status_code == 200 and shown.json()["identity_number"] == number
        assert shown.json()["district"] == "海淀区"
        done = client.post(f"/api/v1/accounts/{code}/verification", json=DOCUMENTS, headers=_bearer(haidian))
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "verified"

    def test_the_city_centres_reviewer_verifies_any_district(
        self, ctx: AppContext, client: TestClient
    ) -> None:
        code, _ = _opened(ctx, "延庆区")
        done = client.post(
            f"/api/v1/accounts/{code}/verification", json=DOCUMENTS, headers=_bearer(_reviewer(ctx, None))
        )
        assert done.status_code == 200, done.text

    def test_the_console_form_of_the_districts_reviewer(self, ctx: AppContext, db: Connection) -> None:
        code, number = _opened(ctx, "海淀区")
        browser = _browser(ctx)
        csrf = sign_in(browser, _reviewer(ctx, "海淀区"), "/console")
        page = browser.get(f"/console/accounts?code={code}")
        assert number in page.text and "海淀区" in page.text
        done = browser.post(
            "/console/accounts/verify",
            data={"account_id": code, "documents": "居民身份证原件", "csrf": csrf_of(page.text) or csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        assert _state(db, code)[0] is not None


class TestRegistrationNamesTheDistrict:
    def test_a_missing_or_unknown_district_is_a_form_error_in_chinese(
        self, ctx: AppContext, db: Connection
    ) -> None:
        before = int(db.execute(text("SELECT count(*) FROM learner_accounts")).scalar_one())
        for district in ("", "火星区"):
            response = register(_browser(ctx), identity_number(), district=district)
            assert response.status_code == 422, response.text
            assert "没有这个区" in response.text
        assert int(db.execute(text("SELECT count(*) FROM learner_accounts")).scalar_one()) == before
