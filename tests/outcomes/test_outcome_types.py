"""The outcome types real credit banks convert most, posted through the API and recognised by the
shipped rules (the real rule engine, the real ledger): self-study examination courses, national
examinations, licensing qualifications, diplomas, volunteer service hours, and competition prizes by
their award tier."""

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlmodel import Session

from creditbank.ledger.models import JournalTransaction
from creditbank.standards.ledger.leaf import parse
from tests.conftest import Tokens
from tests.outcomes.factories import Desk, days_ago

CASES: list[tuple[str, dict[str, Any], str, Decimal, int]] = [
    (
        "self-study exam course",
        {
            "outcome_type": "self_study_exam",
            "title": "马克思主义基本原理概论",
            "course_code": "03709",
            "score": 72,
            "attributes": {"credits": 4},
        },
        "BJ-REC-ZIKAO",
        Decimal(4),
        5,
    ),
    (
        "NCRE level 3",
        {"outcome_type": "national_exam", "title": "全国计算机等级考试三级 网络技术", "level": "计算机三级"},
        "BJ-REC-NCRE",
        Decimal(3),
        4,
    ),
    (
        "CET-6",
        {"outcome_type": "national_exam", "title": "大学英语六级", "level": "CET6", "score": 501},
        "BJ-REC-CET",
        Decimal(3),
        6,
    ),
    (
        "PETS level 2",
        {"outcome_type": "national_exam", "title": "全国英语等级考试二级", "level": "PETS-2"},
        "BJ-REC-PETS",
        Decimal(2),
        3,
    ),
    (
        "nurse's licence",
        {
            "outcome_type": "vocational_qualification",
            "title": "护士执业资格证书",
            "field": "nursing",
            "attributes": {"certificate_number": "202511000123"},
        },
        "BJ-REC-QUAL",
        Decimal(6),
        5,
    ),
    (
        "diploma",
        {
            "outcome_type": "diploma",
            "title": "计算机应用技术专业 专科毕业证书",
            "level": "高职",
            "attributes": {"credits": 120},
        },
        "BJ-REC-DIPLOMA",
        Decimal(120),
        5,
    ),
    (
        "volunteer hours",
        {"outcome_type": "volunteer_service", "title": "社区养老志愿服务", "hours": 64},
        "BJ-REC-VOLUNTEER",
        Decimal(2),
        1,
    ),
    (
        "national first prize",
        {
            "outcome_type": "competition_award",
            "title": "全国职业院校技能大赛 电子商务",
            "level": "national",
            "attributes": {"competition_id": "NVSC-2026-EC", "award_tier": "一等奖"},
        },
        "BJ-REC-COMP-NAT",
        Decimal(4),
        4,
    ),
    (
        "national third prize",
        {
            "outcome_type": "competition_award",
            "title": "全国职业院校技能大赛 电子商务 三等奖",
            "level": "国家级",
            "attributes": {"competition_id": "NVSC-2026-EC2"},
        },
        "BJ-REC-COMP-NAT",
        Decimal(2),
        4,
    ),
    (
        "provincial second prize",
        {
            "outcome_type": "competition_award",
            "title": "北京市职业技能大赛 养老护理 二等奖",
            "level": "provincial",
            "attributes": {"competition_id": "BJ-2026-CARE"},
        },
        "BJ-REC-COMP-PROV",
        Decimal("1.5"),
        3,
    ),
]


class TestNewOutcomeTypes:
    @pytest.mark.parametrize(("label", "facts", "rule", "credits", "level"), CASES, ids=[c[0] for c in CASES])
    def test_posted_and_recognised_by_its_rule(
        self,
        client: TestClient,
        auth: Tokens,
        session: Session,
        label: str,
        facts: dict[str, Any],
        rule: str,
        credits: Decimal,
        level: int,
    ) -> None:
        # a university (the 主考院校 of self-study examinations) is accredited for every outcome type
        desk = Desk(client, auth, kind="university")
        posted = desk.posted({"reference": f"NT-{label}", "achieved_on": days_ago(40), **facts})
        recognition = posted["recognition"]
        assert recognition["status"] == "recognised", recognition
        assert recognition["rule_id"] == rule
        assert Decimal(recognition["credits"]) == credits
        assert recognition["level"] == level
        # the ledger's leaf is the one format existing verifiers read: the lot cites the rule
        tx = session.get(JournalTransaction, posted["ledger"]["transaction_id"])
        assert tx is not None
        leaf = parse(tx.leaf)
        [lot] = leaf.lots
        assert lot.rule.id == rule and Decimal(lot.credits) == credits

    def test_a_prize_whose_tier_is_stated_nowhere_waits_for_review_at_the_lowest_tier(
        self, client: TestClient, auth: Tokens
    ) -> None:
        desk = Desk(client, auth)
        posted = desk.posted(
            {
                "reference": "NT-untiered",
                "outcome_type": "competition_award",
                "title": "全国职业院校技能大赛 电子商务",
                "achieved_on": days_ago(40),
                "level": "national",
                "attributes": {"competition_id": "NVSC-2026-EC3"},
            }
        )
        assert posted["recognition"]["status"] == "review"
        assert Decimal(posted["recognition"]["credits"]) == Decimal(2)
        assert "等次" in posted["recognition"]["review_reason_zh"]


class TestRequiredFacts:
    @pytest.mark.parametrize(
        "facts",
        [
            {
                "outcome_type": "self_study_exam",
                "title": "大学语文",
                "score": 70,
                "attributes": {"credits": 4},
            },
            {"outcome_type": "self_study_exam", "title": "大学语文", "course_code": "04729"},
            {"outcome_type": "volunteer_service", "title": "社区服务"},
            {"outcome_type": "national_exam", "title": "全国计算机等级考试", "level": "计算机九级"},
            {"outcome_type": "diploma", "title": "毕业证书", "attributes": {"credits": 120}},
        ],
        ids=[
            "exam-without-course-code",
            "exam-without-score",
            "service-without-hours",
            "exam-level",
            "diploma-level",
        ],
    )
    def test_missing_or_unknown_facts_are_a_422_and_nothing_is_posted(
        self, client: TestClient, auth: Tokens, db: Connection, facts: dict[str, Any]
    ) -> None:
        desk = Desk(client, auth)
        body = {"learner_id": desk.learner_id, "reference": "NT-bad", "achieved_on": days_ago(5), **facts}
        refused = desk.post(body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        posted = db.execute(
            text("SELECT count(*) FROM outcomes WHERE learner_id = :l"), {"l": desk.learner_id}
        )
        assert posted.scalar_one() == 0
