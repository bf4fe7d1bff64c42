"""The review desk in the browser, for a district sub-centre's reviewer: the queue shows only the
district's first-stage reviews, and a forged form decision on another district's review (its id
typed in by hand) is refused and writes nothing."""

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner
from tests.support.signin import csrf_of, signin


def _work(client: TestClient, headers: dict[str, str], learner_id: str, title: str, key: str) -> str:
    response = client.post(
        "/api/v1/outcomes",
        json={
            "learner_id": learner_id,
            "reference": key,
            "outcome_type": "work_experience",
            "title": title,
            "achieved_on": (dt.date.today() - dt.timedelta(days=60)).isoformat(),
            "attributes": {"years": 2},
        },
        headers={**headers, "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    assert response.json()["recognition"]["stage"] == "district"
    outcome_id: str = response.json()["id"]
    return outcome_id


def _district_reviewer(ctx: AppContext, district: str) -> str:
    with ctx.sessions() as s, s.begin():
        account = create_reviewer(s, "区审核员", district=district)
        _, token = create_token(s, ctx.token_key, Role.reviewer, account.id)
    return token


class TestDistrictDesk:
    def test_queue_is_the_districts_and_a_forged_decision_is_refused(
        self, client: TestClient, auth: Tokens, ctx: AppContext, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        haidian_id = create_institution(client, admin, district="海淀区")
        chaoyang_id = create_institution(client, admin, district="朝阳区")
        haidian, chaoyang = auth(Role.institution, haidian_id), auth(Role.institution, chaoyang_id)
        ours = _work(client, chaoyang, create_learner(client, chaoyang), "朝阳电工岗位工作经历", "d-1")
        theirs = _work(client, haidian, create_learner(client, haidian), "海淀焊工岗位工作经历", "d-2")

        browser = TestClient(create_app(ctx=ctx), raise_server_exceptions=False)
        signed = signin(browser, _district_reviewer(ctx, "朝阳区"))
        assert signed.status_code == 303, signed.text
        desk = browser.get("/console").text
        csrf = csrf_of(desk)
        assert "朝阳电工岗位工作经历" in desk and ours in desk
        assert "海淀焊工岗位工作经历" not in desk and theirs not in desk
        assert "朝阳区分中心" in desk

        forged = browser.post(
            "/console/review",
            data={
                "csrf": csrf,
                "outcome_id": theirs,
                "stage": "district",
                "decision": "approve",
                "reason": "越权",
            },
            follow_redirects=False,
        )
        assert forged.status_code == 403, forged.text
        assert "海淀焊工" not in forged.text
        decided = db.execute(
            text("SELECT count(*) FROM outcome_events WHERE outcome_id = :o AND kind = 'decision'"),
            {"o": theirs},
        ).scalar_one()
        assert decided == 0

        own = browser.post(
            "/console/review",
            data={
                "csrf": csrf,
                "outcome_id": ours,
                "stage": "district",
                "decision": "approve",
                "reason": "属实",
            },
            follow_redirects=False,
        )
        assert own.status_code == 303, own.text
