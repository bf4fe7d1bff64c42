"""Accreditation scope and the catalogue of recognised outcomes, tried from outside through the API:
a training centre posting a 1+X certificate, an institution posting an entry it is not accredited
for, an institution reading another's scope; and the catalogue's versions."""

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.accreditation import service as accreditation
from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.outcomes.factories import days_ago, key
from tests.support.factories import create_institution, create_learner
from tests.test_cli import Cli

PROBLEM = "application/problem+json"

ONE_PLUS_X: dict[str, Any] = {
    "reference": "1X-1",
    "outcome_type": "one_plus_x_certificate",
    "title": "Web前端开发职业技能等级证书",
    "level": "中级",
    "field": "web_front_end",
}


def _post(client: TestClient, headers: dict[str, str], learner_id: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/outcomes",
        json={"learner_id": learner_id, "achieved_on": days_ago(20), **body},
        headers={**headers, "Idempotency-Key": key()},
    )


def _outcomes(db: Connection, learner_id: str) -> int:
    return int(
        db.execute(
            text("SELECT count(*) FROM outcomes WHERE learner_id = :l"), {"l": learner_id}
        ).scalar_one()
    )


def _entry(client: TestClient, admin: dict[str, str], code: str, **extra: Any) -> Any:
    body = {
        "code": code,
        "outcome_type": "one_plus_x_certificate",
        "name_zh": "Web前端开发职业技能等级证书",
        "name_en": "Web front-end development (1+X)",
        "levels": ["初级", "中级", "高级"],
        "rule_id": "BJ-REC-1X",
        **extra,
    }
    return client.post("/api/v1/recognised-outcomes", json=body, headers=admin)


class TestTrainingCentrePostingA1PlusXCertificate:
    def test_is_a_403_naming_the_scope_and_nothing_is_written(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        admin = auth(Role.admin)
        centre_id = create_institution(client, admin, kind="training_body")
        centre = auth(Role.institution, centre_id)
        learner_id = create_learner(client, centre)
        refused = _post(client, centre, learner_id, ONE_PLUS_X)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        problem = refused.json()
        assert problem["type"].endswith("/outside-accreditation-scope")
        assert problem["outcome_type"] == "one_plus_x_certificate"
        assert "training_course" in problem["scope"] and "one_plus_x_certificate" not in problem["scope"]
        assert _outcomes(db, learner_id) == 0
        # in a batch the row is refused with the same problem, and the others are posted
        rows = [
            {"learner_id": learner_id, "achieved_on": days_ago(20), **ONE_PLUS_X},
            {
                "learner_id": learner_id,
                "achieved_on": days_ago(20),
                "reference": "T-1",
                "outcome_type": "training_course",
                "title": "Python 数据分析",
                "hours": 48,
            },
        ]
        batch = client.post(
            "/api/v1/outcomes/batch",
            content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
            headers={**centre, "Content-Type": "application/x-ndjson"},
        )
        assert batch.status_code == 200, batch.text
        assert [r["status"] for r in batch.json()["rows"]] == ["error", "created"]
        assert batch.json()["rows"][0]["error"]["type"].endswith("/outside-accreditation-scope")
        assert _outcomes(db, learner_id) == 1

    def test_a_vocational_school_posts_it(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        school_id = create_institution(client, admin, kind="vocational_school")
        school = auth(Role.institution, school_id)
        posted = _post(client, school, create_learner(client, school), ONE_PLUS_X)
        assert posted.status_code == 201, posted.text


class TestScopeSetByTheCityCentre:
    def test_an_entry_limited_scope_refuses_other_entries(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        assert _entry(client, admin, "1X-WEB-FRONT").status_code == 201
        assert _entry(client, admin, "1X-BIGDATA", name_zh="大数据应用开发").status_code == 201
        school_id = create_institution(client, admin, kind="vocational_school")
        school = auth(Role.institution, school_id)
        learner_id = create_learner(client, school)
        scope = client.put(
            f"/api/v1/institutions/{school_id}/accreditation",
            json={"outcome_types": ["training_course"], "catalogue_codes": ["1X-WEB-FRONT"]},
            headers=admin,
        )
        assert scope.status_code == 200, scope.text
        assert scope.json() == {
            "institution_id": school_id,
            "default": False,
            "outcome_types": {"one_plus_x_certificate": ["1X-WEB-FRONT"], "training_course": []},
        }
        ok = _post(
            client, school, learner_id, {**ONE_PLUS_X, "attributes": {"catalogue_code": "1X-WEB-FRONT"}}
        )
        assert ok.status_code == 201, ok.text
        for attributes in ({"catalogue_code": "1X-BIGDATA"}, {}):
            refused = _post(
                client, school, learner_id, {**ONE_PLUS_X, "reference": key(), "attributes": attributes}
            )
            assert refused.status_code == 403, refused.text
            assert refused.json()["type"].endswith("/outside-accreditation-scope")
            assert "1X-WEB-FRONT" in refused.json()["scope"]
        unknown = _post(
            client,
            school,
            learner_id,
            {**ONE_PLUS_X, "reference": key(), "attributes": {"catalogue_code": "NOPE"}},
        )
        assert unknown.status_code == 422 and unknown.json()["type"].endswith("/catalogue-entry-unknown")
        mooc = _post(
            client,
            school,
            learner_id,
            {
                "reference": key(),
                "outcome_type": "mooc",
                "title": "JS",
                "hours": 32,
                "score": 90,
                "identity_verified": True,
            },
        )
        assert mooc.status_code == 403, "the scope the city centre set replaces the kind's default"

    def test_an_institution_reads_its_own_scope_only_and_sets_none(
        self, client: TestClient, auth: Tokens
    ) -> None:
        admin = auth(Role.admin)
        mine_id, theirs_id = create_institution(client, admin), create_institution(client, admin)
        mine = auth(Role.institution, mine_id)
        own = client.get(f"/api/v1/institutions/{mine_id}/accreditation", headers=mine)
        assert own.status_code == 200 and own.json()["default"] is True
        other = client.get(f"/api/v1/institutions/{theirs_id}/accreditation", headers=mine)
        assert other.status_code == 403 and other.headers["content-type"] == PROBLEM
        widened = client.put(
            f"/api/v1/institutions/{mine_id}/accreditation", json={"outcome_types": ["diploma"]}, headers=mine
        )
        assert widened.status_code == 403


class TestCatalogueVersions:
    def test_each_change_is_a_version_with_a_digest_and_a_diff(
        self, client: TestClient, auth: Tokens
    ) -> None:
        admin = auth(Role.admin)
        start = client.get("/api/v1/recognised-outcomes").json()["version"]
        assert _entry(client, admin, "1X-CLOUD", name_zh="云计算平台运维与开发").status_code == 201
        assert _entry(client, admin, "1X-CLOUD").status_code == 409
        added = client.get("/api/v1/recognised-outcomes").json()
        assert added["version"] == start + 1 and len(added["digest"]) == 64
        assert "1X-CLOUD" in {e["code"] for e in added["entries"]}
        retired = client.post("/api/v1/recognised-outcomes/1X-CLOUD/retire", headers=admin)
        assert retired.status_code == 200 and retired.json()["retired_in"] == start + 2
        now = client.get("/api/v1/recognised-outcomes").json()
        assert now["version"] == start + 2 and now["digest"] != added["digest"]
        assert "1X-CLOUD" not in {e["code"] for e in now["entries"]}
        diff = client.get(
            "/api/v1/recognised-outcomes/diff", params={"first": start, "second": start + 1}
        ).json()
        assert [e["code"] for e in diff["added"]] == ["1X-CLOUD"] and diff["retired"] == []
        back = client.get(
            "/api/v1/recognised-outcomes/diff", params={"first": start + 1, "second": start + 2}
        ).json()
        assert [e["code"] for e in back["retired"]] == ["1X-CLOUD"]
        versions = client.get("/api/v1/recognised-outcomes/versions").json()
        assert [v["change"] for v in versions[-2:]] == ["added 1X-CLOUD", "retired 1X-CLOUD"]

    def test_only_the_city_centre_changes_the_catalogue(self, client: TestClient, auth: Tokens) -> None:
        school = auth(Role.institution, create_institution(client, auth(Role.admin)))
        for headers in (school, auth(Role.reviewer), auth(Role.auditor)):
            assert _entry(client, headers, "1X-FORGED").status_code == 403


class TestCatalogueDiffCommand:
    def test_rules_catalogue_diff_names_the_added_and_retired_entries(self, migrated: Cli) -> None:
        ctx = migrated.context()
        try:
            with ctx.sessions() as session, session.begin():
                for code in ("1X-WEB-FRONT", "1X-CLOUD"):
                    accreditation.add_entry(
                        session,
                        code=code,
                        outcome_type="one_plus_x_certificate",
                        name_zh=f"证书 {code}",
                        name_en=code,
                        levels=["初级"],
                        rule_id="BJ-REC-1X",
                    )
                accreditation.retire_entry(session, "1X-CLOUD")
        finally:
            ctx.engine.dispose()
        latest = migrated.ok("rules", "catalogue-diff").output
        assert "- 1X-CLOUD" in latest and "catalogue 2 (" in latest and "-> 3 (" in latest
        assert "1X-WEB-FRONT" not in latest
        whole = json.loads(migrated.ok("rules", "catalogue-diff", "0", "3", "--json").output)
        assert [e["code"] for e in whole["added"]] == ["1X-WEB-FRONT"] and whole["retired"] == []
        assert len(whole["digests"]["3"]) == 64
