import datetime as dt
import json
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner, identity_number


class World:
    def __init__(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        self.client = client
        self.institution_id = create_institution(client, admin)
        self.headers = auth(Role.institution, self.institution_id)
        self.learner_id = create_learner(client, self.headers)
        self.keys = iter(range(10**6))

    def post(self, body: dict[str, Any], key: str | None = None) -> Any:
        headers = {**self.headers, "Idempotency-Key": key or f"k-{next(self.keys)}"}
        return self.client.post("/api/v1/outcomes", json=body, headers=headers)


def training(reference: str = "T-1", hours: int = 48, **extra: Any) -> dict[str, Any]:
    return {
        "reference": reference,
        "outcome_type": "training_course",
        "title": "Python 数据分析",
        "achieved_on": (dt.date.today() - dt.timedelta(days=30)).isoformat(),
        "hours": hours,
        **extra,
    }


class TestPostOutcome:
    def test_training_course_recognised_into_ledger(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        r = w.post(training(learner_id=w.learner_id))
        assert r.status_code == 201, r.text
        data = r.json()
        rec = data["recognition"]
        assert rec["status"] == "recognised"
        assert Decimal(rec["credits"]) == Decimal(3)
        assert rec["rule_id"] and rec["rule_set_hash"]
        assert "48" in rec["explanation_zh"] and rec["lot_id"].startswith("lot_")
        assert data["ledger"]["log"] == "main" and data["ledger"]["leaf_hash"]

    def test_by_identity_number_and_registration(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        number = identity_number()
        missing = w.post(training(identity_number=number))
        assert missing.status_code == 404
        created = w.post(training(identity_number=number.lower(), learner_name="赵六"))
        assert created.status_code == 201, created.text
        again = w.post(training(reference="T-2", identity_number=number))
        assert again.json()["learner_id"] == created.json()["learner_id"]

    def test_idempotency_key_replay_and_reuse(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        body = training(learner_id=w.learner_id)
        first = w.post(body, key="same")
        second = w.post(body, key="same")
        assert second.status_code == 201
        assert second.json() == first.json()
        assert second.headers.get("Idempotent-Replayed") == "true"
        other = w.post(training(reference="T-9", learner_id=w.learner_id), key="same")
        assert other.status_code == 409
        assert other.json()["type"].endswith("/idempotency-key-reused")

    def test_missing_idempotency_key(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        r = client.post("/api/v1/outcomes", json=training(learner_id=w.learner_id), headers=w.headers)
        assert r.status_code == 422
        assert r.json()["type"].endswith("/idempotency-key-invalid")

    def test_same_reference_other_content_conflicts(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        assert w.post(training(learner_id=w.learner_id)).status_code == 201
        dup = w.post(training(learner_id=w.learner_id))
        assert dup.status_code == 200
        conflict = w.post(training(learner_id=w.learner_id, hours=64))
        assert conflict.status_code == 409
        assert conflict.json()["type"].endswith("/reference-conflict")

    def test_a_posting_refused_is_told_in_the_readers_language(
        self, client: TestClient, auth: Tokens
    ) -> None:
        """A reused reference and an unknown learner: the detail comes from the catalogue, in Chinese
        first and in English when asked (it was English written in place)."""
        w = World(client, auth)
        assert w.post(training(learner_id=w.learner_id)).status_code == 201
        for lang, conflict_words, missing_words in (
            ("zh-CN", "已以不同内容提交过", "不存在"),
            ("en", "was already posted with other content", "no learner"),
        ):
            said = {"Accept-Language": lang}
            conflict = self.post_in(w, training(learner_id=w.learner_id, hours=64), said)
            assert conflict.status_code == 409
            assert conflict_words in conflict.json()["detail"] and "T-1" in conflict.json()["detail"]
            missing = self.post_in(w, training("T-2", learner_id="no-such-learner"), said)
            assert missing.status_code == 404, missing.text
            assert missing_words in missing.json()["detail"]

    @staticmethod
    def post_in(w: World, body: dict[str, Any], headers: dict[str, str]) -> Any:
        return w.client.post(
            "/api/v1/outcomes",
            json=body,
            headers={**w.headers, **headers, "Idempotency-Key": f"k-{next(w.keys)}"},
        )

    def test_validation_problems(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        for body in (
            training(),  # no learner
            training(learner_id=w.learner_id, identity_number=identity_number()),
            training(learner_id=w.learner_id, hours=-1),
            training(learner_id=w.learner_id, outcome_type="lottery"),
            training(learner_id=w.learner_id, achieved_on="2999-01-01"),
            training(learner_id=w.learner_id, evidence_hash="md5:abc"),
            training(learner_id=w.learner_id, unexpected=1),
        ):
            r = w.post(body)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"] == "application/problem+json"

    def test_old_outcome_goes_to_review(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        r = w.post(training(learner_id=w.learner_id, achieved_on="2015-03-01"))
        rec = r.json()["recognition"]
        assert rec["status"] == "review" and rec["stage"] == "district"
        assert rec["lot_id"] is None and r.json()["ledger"] is None

    def test_other_institution_cannot_read(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        outcome_id = w.post(training(learner_id=w.learner_id)).json()["id"]
        other = create_institution(client, auth(Role.admin))
        assert (
            client.get(f"/api/v1/outcomes/{outcome_id}", headers=auth(Role.institution, other)).status_code
            == 404
        )
        assert client.get(f"/api/v1/outcomes/{outcome_id}", headers=w.headers).status_code == 200

    def test_competition_counts_once(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        award = {
            "outcome_type": "competition_award",
            "title": "全国职业院校技能大赛 网络安全 一等奖",
            "achieved_on": (dt.date.today() - dt.timedelta(days=10)).isoformat(),
            "level": "national",
            "attributes": {"competition_id": "2026-GZ-001"},
            "learner_id": w.learner_id,
        }
        first = w.post({**award, "reference": "C-1"}).json()["recognition"]
        second = w.post({**award, "reference": "C-2"}).json()["recognition"]
        assert first["status"] == "recognised", first
        assert second["status"] == "rejected", second


class TestBatch:
    def rows(self, learner_id: str, n: int, prefix: str = "B") -> list[dict[str, Any]]:
        return [
            training(reference=f"{prefix}-{i}", hours=16 * (1 + i % 4), learner_id=learner_id)
            for i in range(n)
        ]

    def test_json_lines_with_bad_rows(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        rows = [json.dumps(r) for r in self.rows(w.learner_id, 5)]
        rows.insert(2, "{not json")
        rows.insert(4, json.dumps(training(reference="bad", learner_id=w.learner_id, hours=-5)))
        r = client.post(
            "/api/v1/outcomes/batch",
            content="\n".join(rows).encode(),
            headers={**w.headers, "Content-Type": "application/x-ndjson"},
        )
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["summary"]["rows"] == 7
        assert report["summary"]["created"] == 5 and report["summary"]["errors"] == 2
        statuses = [row["status"] for row in report["rows"]]
        assert statuses == ["created", "created", "error", "created", "error", "created", "created"]
        assert report["rows"][4]["error"]["type"].endswith("/row-invalid")

    def test_rerun_applies_nothing_twice(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        body = self.rows(w.learner_id, 30)
        first = client.post("/api/v1/outcomes/batch", json=body, headers=w.headers).json()
        second = client.post("/api/v1/outcomes/batch", json=body, headers=w.headers).json()
        assert first["summary"]["created"] == 30
        assert second["summary"]["duplicate"] == 30 and second["summary"]["created"] == 0
        archive_credits = sum(Decimal(r["credits"]) for r in first["rows"])
        assert archive_credits > 0
        # posting for a learner grants no read of the archive: only the outcomes posted
        profile = client.get(f"/api/v1/learners/{w.learner_id}", headers=w.headers)
        assert profile.status_code == 403 and profile.json()["type"].endswith("/grant-required")
        posted = first["rows"][0]["outcome_id"]
        assert client.get(f"/api/v1/outcomes/{posted}", headers=w.headers).status_code == 200

    def test_malformed_array_is_422(self, client: TestClient, auth: Tokens) -> None:
        w = World(client, auth)
        r = client.post(
            "/api/v1/outcomes/batch",
            content=b'[{"reference": "x"',
            headers={**w.headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
