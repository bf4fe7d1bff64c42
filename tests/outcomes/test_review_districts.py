"""Three tiers: a district sub-centre's reviewers see and decide only their own district's
first-stage reviews; the city centre sees every review and decides the city stage.

Tried from the attacker's side (a Chaoyang reviewer reaching for a Haidian review by id), through
the API with real tokens, a real database and the real rule engine.
"""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, work_experience
from tests.support.factories import create_institution, create_learner, institution_body

PROBLEM = "application/problem+json"


def reviewer(client: TestClient, auth: Tokens, name: str, district: str | None) -> dict[str, str]:
    """A reviewer account at a district sub-centre (or, with no district, the city centre), and a token."""
    body: dict[str, Any] = {"name": name, **({"district": district} if district else {})}
    created = client.post("/api/v1/reviewers", json=body, headers=auth(Role.admin))
    assert created.status_code == 201, created.text
    return auth(Role.reviewer, created.json()["id"])


class TwoDistricts:
    """An institution in Haidian and one in Chaoyang, each with an outcome waiting for review."""

    def __init__(self, client: TestClient, auth: Tokens) -> None:
        self.haidian = Desk(client, auth)  # registered in 海淀区
        admin = auth(Role.admin)
        chaoyang_id = create_institution(client, admin, district="朝阳区")
        self.chaoyang = Desk.__new__(Desk)
        self.chaoyang.client, self.chaoyang.auth, self.chaoyang.admin = client, auth, admin
        self.chaoyang.institution_id = chaoyang_id
        self.chaoyang.headers = auth(Role.institution, chaoyang_id)
        self.chaoyang.learner_id = create_learner(client, self.chaoyang.headers, name="刘洋")
        self.in_haidian = self.haidian.posted(work_experience("H-1"))["id"]
        self.in_chaoyang = self.chaoyang.posted(work_experience("C-1"))["id"]


def _decisions(db: Connection, outcome_id: str) -> int:
    return int(
        db.execute(
            text(
                "SELECT count(*) FROM outcome_events "
                "WHERE outcome_id = :o AND kind IN ('decision', 'rejected', 'recognised')"
            ),
            {"o": outcome_id},
        ).scalar_one()
    )


class TestDistrictReviewer:
    def test_lists_only_their_districts_first_stage(self, client: TestClient, auth: Tokens) -> None:
        world = TwoDistricts(client, auth)
        chaoyang = reviewer(client, auth, "朝阳审核", "朝阳区")
        listed = client.get("/api/v1/reviews", params={"limit": 1000}, headers=chaoyang)
        assert listed.status_code == 200, listed.text
        ids = {item["outcome"]["id"] for item in listed.json()}
        assert world.in_chaoyang in ids
        assert world.in_haidian not in ids
        assert all(item["stage"] == "district" for item in listed.json())

    def test_opening_another_districts_review_by_id_is_refused(
        self, client: TestClient, auth: Tokens
    ) -> None:
        world = TwoDistricts(client, auth)
        chaoyang = reviewer(client, auth, "朝阳审核", "朝阳区")
        own = client.get(f"/api/v1/reviews/{world.in_chaoyang}", headers=chaoyang)
        assert own.status_code == 200, own.text
        assert own.json()["district"] == "朝阳区"
        refused = client.get(f"/api/v1/reviews/{world.in_haidian}", headers=chaoyang)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/review-outside-district")
        assert "软件开发" not in refused.text, "nothing of the other district's outcome is shown"

    def test_deciding_another_districts_review_by_id_is_refused_and_writes_nothing(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        world = TwoDistricts(client, auth)
        chaoyang = reviewer(client, auth, "朝阳审核", "朝阳区")
        for decision in ("approve", "reject"):
            refused = world.haidian.decide(world.in_haidian, chaoyang, decision=decision, stage="district")
            assert refused.status_code == 403, refused.text
            assert refused.headers["content-type"] == PROBLEM
            assert refused.json()["type"].endswith("/review-outside-district")
        assert _decisions(db, world.in_haidian) == 0
        still = client.get(
            "/api/v1/reviews", params={"stage": "district", "limit": 1000}, headers=auth(Role.admin)
        )
        assert world.in_haidian in {i["outcome"]["id"] for i in still.json()}

    def test_decides_own_district_but_never_the_city_stage(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        world = TwoDistricts(client, auth)
        haidian = reviewer(client, auth, "海淀审核", "海淀区")
        other_haidian = reviewer(client, auth, "海淀审核二", "110108")
        passed = world.haidian.decide(world.in_haidian, haidian, stage="district")
        assert passed.status_code == 200, passed.text
        assert passed.json()["outcome"]["recognition"]["stage"] == "city"
        before = _decisions(db, world.in_haidian)
        refused = world.haidian.decide(world.in_haidian, other_haidian, stage="city")
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/city-stage-only")
        assert _decisions(db, world.in_haidian) == before
        city_listing = client.get("/api/v1/reviews", params={"stage": "city"}, headers=other_haidian)
        assert city_listing.status_code == 200 and city_listing.json() == []
        opened = client.get(f"/api/v1/reviews/{world.in_haidian}", headers=other_haidian)
        assert opened.status_code == 403 and opened.json()["type"].endswith("/city-stage-only")


class TestCityCentre:
    def test_sees_all_and_decides_the_city_stage(self, client: TestClient, auth: Tokens) -> None:
        world = TwoDistricts(client, auth)
        city = reviewer(client, auth, "市级管理中心复核", None)
        listed = client.get("/api/v1/reviews", params={"limit": 1000}, headers=city).json()
        assert {world.in_haidian, world.in_chaoyang} <= {i["outcome"]["id"] for i in listed}
        haidian = reviewer(client, auth, "海淀审核", "海淀区")
        assert world.haidian.decide(world.in_haidian, haidian, stage="district").status_code == 200
        done = world.haidian.decide(world.in_haidian, city, stage="city")
        assert done.status_code == 200, done.text
        assert done.json()["outcome"]["recognition"]["status"] == "recognised"
        opened = client.get(f"/api/v1/reviews/{world.in_chaoyang}", headers=city)
        assert opened.status_code == 200 and opened.json()["district"] == "朝阳区"


class TestRegisters:
    def test_reviewer_and_institution_districts_must_exist(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        for path, body in (
            ("/api/v1/reviewers", {"name": "无名", "district": "火星区"}),
            ("/api/v1/institutions", institution_body(district="火星区")),
        ):
            refused = client.post(path, json=body, headers=admin)
            assert refused.status_code == 422, refused.text
            assert refused.json()["type"].endswith("/unknown-district")

    def test_reviewer_account_shows_its_district(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        made = client.post(
            "/api/v1/reviewers", json={"name": "海淀审核", "district": "Haidian"}, headers=admin
        )
        assert made.status_code == 201, made.text
        assert made.json()["district"] == "海淀区"
        city = client.post("/api/v1/reviewers", json={"name": "市级管理中心复核"}, headers=admin).json()
        assert city["district"] is None
