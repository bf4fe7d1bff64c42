"""Registrars' real data through HTTP: dates as Excel writes them, the common names of levels, and a
level that matches nothing refused with the accepted values (never stored as 不予认定)."""

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from creditbank.outcomes import registrar
from creditbank.rule_engine import load_rule_set
from tests.conftest import Tokens
from tests.outcomes.factories import PILOT, Desk


def certificate(reference: str, outcome_type: str, level: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": reference,
        "outcome_type": outcome_type,
        "title": "电工",
        "achieved_on": "2024-10-01",
        **extra,
    }
    if level is not None:
        body["level"] = level
    return body


def stored(db: Connection, reference: str) -> dict[str, Any] | None:
    row = db.execute(
        text(
            "SELECT o.achieved_on, o.level, r.status, r.credits FROM outcomes o "
            "JOIN recognitions r ON r.outcome_id = o.id WHERE o.reference = :r"
        ),
        {"r": reference},
    ).one_or_none()
    return None if row is None else dict(row._mapping)


class TestDates:
    @pytest.mark.parametrize(
        "written",
        [
            "2024/10/01",
            "2024-10-01",
            "2024年10月1日",
            "2024.10.01",
            "2024/10/1",
            "45566",
            45566,
            "2024/10/1 0:00",
        ],
    )
    def test_excel_dates_are_read(
        self, client: TestClient, auth: Tokens, db: Connection, written: str | int
    ) -> None:
        desk = Desk(client, auth)
        response = desk.post(
            {"learner_id": desk.learner_id, **certificate("D-1", "training_course", None, hours=32)}
            | {"achieved_on": written}
        )
        assert response.status_code == 201, response.text
        assert response.json()["achieved_on"] == "2024-10-01"
        assert stored(db, "D-1") == {
            "achieved_on": dt.date(2024, 10, 1),
            "level": None,
            "status": "recognised",
            "credits": 2,
        }

    @pytest.mark.parametrize("written", ["1700000000", 86400.5, "2024/13/01", "٢٠٢٤-10-01", "10/01/2024"])
    def test_what_is_no_date_is_a_422(
        self, client: TestClient, auth: Tokens, db: Connection, written: str | float
    ) -> None:
        desk = Desk(client, auth)
        body = {"learner_id": desk.learner_id, **certificate("D-2", "training_course", None, hours=32)}
        response = desk.post(body | {"achieved_on": written})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["loc"][-1] == "achieved_on"
        assert stored(db, "D-2") is None


class TestLevels:
    @pytest.mark.parametrize(
        ("outcome_type", "written", "canonical", "credits"),
        [
            ("skill_level_certificate", "初级工", "五级", 2),
            ("skill_level_certificate", "中级工", "四级", 3),
            ("skill_level_certificate", "高级工", "三级", 4),
            ("skill_level_certificate", "技师", "二级", 6),
            ("skill_level_certificate", "高级技师", "一级", 8),
            ("skill_level_certificate", "三级", "三级", 4),
            ("one_plus_x_certificate", "中级", "中级", 6),
            ("one_plus_x_certificate", "高级证书", "高级", 8),
        ],
    )
    def test_common_level_names_are_recognised(
        self,
        client: TestClient,
        auth: Tokens,
        db: Connection,
        outcome_type: str,
        written: str,
        canonical: str,
        credits: int,
    ) -> None:
        desk = Desk(client, auth)
        response = desk.post({"learner_id": desk.learner_id, **certificate("L-1", outcome_type, written)})
        assert response.status_code == 201, response.text
        assert response.json()["level"] == canonical
        assert stored(db, "L-1") == {
            "achieved_on": dt.date(2024, 10, 1),
            "level": canonical,
            "status": "recognised",
            "credits": credits,
        }

    @pytest.mark.parametrize(
        ("outcome_type", "written"),
        [
            ("skill_level_certificate", "六级"),
            ("skill_level_certificate", None),
            ("skill_level_certificate", "中级"),  # a 1+X level, not a skill level
            ("one_plus_x_certificate", "三级"),
            ("competition_award", "区级"),
        ],
    )
    def test_an_unknown_level_is_a_422_naming_the_accepted_values(
        self, client: TestClient, auth: Tokens, db: Connection, outcome_type: str, written: str | None
    ) -> None:
        desk = Desk(client, auth)
        response = desk.post({"learner_id": desk.learner_id, **certificate("L-2", outcome_type, written)})
        assert response.status_code == 422, response.text
        error = response.json()["errors"][0]
        assert error["loc"][-1] == "level" and error["type"] == "level_unknown"
        assert error["accepted"] == registrar.accepted_levels(outcome_type)
        assert stored(db, "L-2") is None  # no permanent 不予认定 record

    def test_a_batch_row_with_an_unknown_level_fails_alone(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        desk = Desk(client, auth)
        rows = [
            {"learner_id": desk.learner_id, **certificate("B-1", "skill_level_certificate", "高级技师")},
            {"learner_id": desk.learner_id, **certificate("B-2", "skill_level_certificate", "特级")},
            {"learner_id": desk.learner_id, **certificate("B-3", "training_course", None, hours=16)}
            | {"achieved_on": "2024年10月1日"},
        ]
        response = client.post(
            "/api/v1/outcomes/batch",
            content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
            headers={**desk.headers, "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        report = response.json()["rows"]
        assert [r["status"] for r in report] == ["created", "error", "created"]
        assert report[1]["error"]["errors"][0]["accepted"] == registrar.accepted_levels(
            "skill_level_certificate"
        )
        assert stored(db, "B-2") is None
        assert stored(db, "B-1") is not None and stored(db, "B-3") is not None


def test_every_level_the_pilot_rules_name_is_a_known_level() -> None:
    """The levels the rule set tests for are the canonical names the schema stores (so a level that
    passes the schema can match a rule)."""
    rule_set = load_rule_set(PILOT)
    for outcome_type, levels in registrar.LEVELS.items():
        conditions = " ".join(
            c.rule.condition for c in rule_set.recognition_by_type.get(outcome_type, ()) if c.rule.condition
        )
        named = {level for level in levels if f"'{level}'" in conditions}
        assert named == set(levels), (outcome_type, named)
