"""``evaluate``: each outcome type, rounding, effective dates, validity, review, errors."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.rule_engine import RuleSet, evaluate, load_rule_set
from tests.rule_engine.factories import AS_OF, TRAIN_RULE, WriteSet, outcome


class TestEachOutcomeType:
    @pytest.mark.parametrize(
        ("facts", "status", "credits", "level", "rule_id"),
        [
            ({"hours": 48}, "recognised", "3", 3, "BJ-REC-TRAIN"),
            (
                {"outcome_type": "community_course", "hours": 32, "issuer_kind": "community_college"},
                "recognised",
                "2",
                2,
                "BJ-REC-COMM",
            ),
            (
                {"outcome_type": "community_course", "hours": 16, "issuer_kind": "elderly_university"},
                "recognised",
                "1",
                1,
                "BJ-REC-ELDER",
            ),
            ({"outcome_type": "one_plus_x_certificate", "level": "中级"}, "recognised", "6", 4, "BJ-REC-1X"),
            (
                {"outcome_type": "skill_level_certificate", "level": "三级"},
                "recognised",
                "4",
                4,
                "BJ-REC-SKILL",
            ),
            (
                {
                    "outcome_type": "competition_award",
                    "level": "national",
                    "attributes": {"competition_id": "X"},
                },
                "recognised",
                "4",
                4,
                "BJ-REC-COMP-NAT",
            ),
            (
                {
                    "outcome_type": "competition_award",
                    "level": "provincial",
                    "attributes": {"competition_id": "X"},
                },
                "recognised",
                "2",
                3,
                "BJ-REC-COMP-PROV",
            ),
            (
                {"outcome_type": "mooc", "hours": 40, "score": 75, "identity_verified": True},
                "recognised",
                "2.5",
                3,
                "BJ-REC-MOOC",
            ),
            (
                {"outcome_type": "mooc", "hours": 40, "score": 75, "identity_verified": False},
                "rejected",
                "0",
                None,
                "BJ-REC-MOOC-UNGRADED",
            ),
            (
                {
                    "outcome_type": "degree_course",
                    "issuer_kind": "university",
                    "attributes": {"credits": 3.5},
                },
                "recognised",
                "3.5",
                5,
                "BJ-REC-DEG",
            ),
            (
                {"outcome_type": "work_experience", "issuer_kind": "employer", "attributes": {"years": 3}},
                "review",
                "6",
                3,
                "BJ-REC-WORK",
            ),
        ],
    )
    def test_shipped_rules(
        self,
        shipped: RuleSet,
        facts: dict[str, object],
        status: str,
        credits: str,
        level: int | None,
        rule_id: str,
    ) -> None:
        result = evaluate(shipped, outcome(**facts), AS_OF)
        assert (result.status, result.credits, result.level, result.rule_id) == (
            status,
            Decimal(credits),
            level,
            rule_id,
        )
        assert result.rule_set_hash == shipped.hash
        assert result.rule_version == 1
        assert result.explanation.zh
        assert result.explanation.en
        assert rule_id in result.explanation.zh
        assert result.needs_review == (status == "review")

    def test_explanation_in_words(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(hours=48), AS_OF)
        assert "48 学时 ÷ 16 学时/学分 = 3 学分" in result.explanation.zh
        assert "48 hours ÷ 16 hours per credit = 3 credits" in result.explanation.en
        assert result.explanation.zh.startswith("非学历培训课程学时认定（BJ-REC-TRAIN 第 1 版）")

    def test_no_rule(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(hours=2), AS_OF)
        assert (result.status, result.rule_id, result.level) == ("rejected", None, None)
        assert result.credits == 0
        assert "学时 2 少于要求的 8 学时" in result.explanation.zh  # the condition that failed
        assert "2 study hours, fewer than 8" in result.explanation.en
        assert "BJ-REC-TRAIN" in result.explanation.zh

    @pytest.mark.parametrize(
        ("fields", "zh", "en"),
        [
            ({"hours": None}, "未填写学时", "no study hours given"),
            (
                {"issuer_kind": "museum"},
                "发证机构类别“museum”不在本规则认可的范围内",
                "kind of issuer 'museum'",
            ),
            (
                {
                    "outcome_type": "degree_course",
                    "issuer_kind": "university",
                    "grade": "不合格",
                    "attributes": {"credits": 3},
                },
                "成绩等第为“不合格”，未达到合格",
                "the grade is '不合格': not a pass",
            ),
            (
                {
                    "outcome_type": "degree_course",
                    "issuer_kind": "university",
                    "score": 52,
                    "attributes": {"credits": 3},
                },
                "成绩 52 分，低于合格线 60 分",
                "a score of 52, below the pass mark of 60",
            ),
            (
                {"outcome_type": "degree_course", "issuer_kind": "university"},
                "缺少附加属性 credits",
                "credits is missing",
            ),
            (
                {"outcome_type": "skill_level_certificate", "level": "六级"},
                "等级“六级”不在本规则认可的范围内",
                "五级",
            ),
            (
                {"outcome_type": "mooc", "identity_verified": False, "score": 90},
                "成绩 90，不予认定（考核时未核验学习者身份",
                "(the learner's identity was not verified",
            ),
            (
                {"outcome_type": "mooc", "identity_verified": True, "score": 50},
                "（成绩 50 分，低于合格线 60 分",
                "a score of 50, below the pass mark of 60",
            ),
        ],
    )
    def test_every_non_recognition_names_the_condition_that_failed(
        self, shipped: RuleSet, fields: dict[str, object], zh: str, en: str
    ) -> None:
        result = evaluate(shipped, outcome(**fields), AS_OF)
        assert result.status == "rejected"
        assert zh in result.explanation.zh, result.explanation.zh
        assert en in result.explanation.en, result.explanation.en
        assert "没有适用" not in result.explanation.zh

    def test_a_type_without_rules_on_the_day_says_so(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(achieved_on=dt.date(2020, 3, 1)), dt.date(2020, 6, 1))
        assert "没有适用于此非学历培训课程的认定规则" in result.explanation.zh

    def test_future_outcome_is_rejected(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(achieved_on=dt.date(2030, 1, 1)), AS_OF)
        assert result.status == "rejected"
        assert "after the evaluation date" in result.explanation.en

    def test_count_once_key(self, shipped: RuleSet) -> None:
        facts = outcome(
            outcome_type="competition_award", level="national", attributes={"competition_id": "W-9"}
        )
        assert evaluate(shipped, facts, AS_OF).count_once_key == "competition:W-9"


class TestHalfCreditRounding:
    @pytest.mark.parametrize(
        ("hours", "credits"),
        [
            (8, "0.5"),
            (15, "0.5"),
            (16, "1"),
            (24, "1.5"),
            (30, "1.5"),
            (40, "2.5"),
            ("47.9", "2.5"),
            (64, "4"),
            (65, "4"),
        ],
    )
    def test_training_hours(self, shipped: RuleSet, hours: object, credits: str) -> None:
        result = evaluate(shipped, outcome(hours=hours), AS_OF)
        assert result.credits == Decimal(credits)
        assert isinstance(result.credits, Decimal)

    @settings(max_examples=200, deadline=None)
    @given(hours=st.decimals(min_value=8, max_value=200, places=1))
    def test_property(self, shipped: RuleSet, hours: Decimal) -> None:
        result = evaluate(shipped, outcome(hours=hours), AS_OF)
        assert result.credits == min(
            Decimal(4), (hours / 16 * 2).to_integral_value(rounding="ROUND_FLOOR") / 2
        )
        assert result.credits >= 0
        assert (result.credits * 2) % 1 == 0

    def test_half_up_rounding_rule(self, write_set: WriteSet) -> None:
        rule_set = load_rule_set(
            write_set(TRAIN_RULE.replace("max_credits: 4", "max_credits: 4\n  rounding: half_up"))
        )
        assert evaluate(rule_set, outcome(hours=30), AS_OF).credits == Decimal(2)  # 1.875 -> 2


class TestEffectiveDates:
    @pytest.mark.parametrize(
        ("as_of", "version", "credits"),
        [(dt.date(2024, 12, 31), 1, "4"), (dt.date(2025, 1, 1), 2, "6"), (dt.date(2026, 6, 1), 2, "6")],
    )
    def test_new_version_from_its_date(
        self, shipped: RuleSet, as_of: dt.date, version: int, credits: str
    ) -> None:
        result = evaluate(shipped, outcome(hours=120, achieved_on=dt.date(2024, 6, 1)), as_of)
        assert (result.rule_version, result.credits) == (version, Decimal(credits))

    def test_history_is_not_rewritten(self, shipped: RuleSet) -> None:
        facts = outcome(hours=120, achieved_on=dt.date(2024, 6, 1))
        before = evaluate(shipped, facts, dt.date(2024, 7, 1))
        evaluate(shipped, facts, dt.date(2025, 7, 1))
        assert evaluate(shipped, facts, dt.date(2024, 7, 1)) == before

    def test_before_any_rule(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(achieved_on=dt.date(2020, 1, 1)), dt.date(2020, 6, 1))
        assert (result.status, result.rule_id) == ("rejected", None)


class TestValidity:
    def test_older_than_five_years_goes_to_review(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(achieved_on=dt.date(2019, 5, 31)), AS_OF)
        assert result.status == "review"
        assert result.needs_review
        assert result.credits == Decimal(3)  # proposed
        assert result.review_stages == ("district", "city")
        assert result.expires_on == dt.date(2024, 5, 31)
        assert result.review_reason is not None
        assert "5 年有效期" in result.review_reason.zh

    def test_last_valid_day(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(achieved_on=dt.date(2019, 6, 1)), AS_OF)
        assert (result.status, result.expires_on) == ("recognised", dt.date(2024, 6, 1))

    def test_leap_day(self, shipped: RuleSet) -> None:
        result = evaluate(shipped, outcome(achieved_on=dt.date(2020, 2, 29)), AS_OF)
        assert result.expires_on == dt.date(2025, 2, 28)

    def test_reject_action(self, write_set: WriteSet) -> None:
        rule = TRAIN_RULE.replace("level: 3", "level: 3\n  validity: {years: 2, action: reject}")
        rule_set = load_rule_set(write_set(rule))
        result = evaluate(rule_set, outcome(achieved_on=dt.date(2021, 1, 1)), AS_OF)
        assert (result.status, result.needs_review) == ("rejected", False)
        assert result.credits == 0
        assert "not recognised" in result.explanation.en


class TestReview:
    def test_when_condition(self, shipped: RuleSet) -> None:
        assert evaluate(shipped, outcome(issuer_kind="employer"), AS_OF).status == "review"
        assert evaluate(shipped, outcome(issuer_kind="training_body"), AS_OF).status == "recognised"

    def test_custom_stages(self, write_set: WriteSet) -> None:
        rule = TRAIN_RULE.replace(
            "level: 3",
            "level: 3\n  review: {mode: always, stages: [city], reason: {zh: 审核, en: check}}",
        )
        result = evaluate(load_rule_set(write_set(rule)), outcome(), AS_OF)
        assert (result.status, result.review_stages) == ("review", ("city",))
        assert result.review_reason is not None
        assert result.review_reason.en == "check"


class TestEvaluationErrors:
    def test_bad_attribute_goes_to_review(self, shipped: RuleSet) -> None:
        facts = outcome(
            outcome_type="degree_course", issuer_kind="university", attributes={"credits": "three"}
        )
        result = evaluate(shipped, facts, AS_OF)
        assert (result.status, result.rule_id) == ("review", "BJ-REC-DEG")
        assert result.credits == 0
        assert "could not be evaluated" in result.explanation.en

    @pytest.mark.parametrize(
        ("replace", "by"),
        [("level: 3", "level: 9"), ("credits: hours / double(credit_hours)", "credits: 0.0 - hours")],
    )
    def test_out_of_range_results_go_to_review(self, write_set: WriteSet, replace: str, by: str) -> None:
        rule_set = load_rule_set(write_set(TRAIN_RULE.replace(replace, by)))
        result = evaluate(rule_set, outcome(), AS_OF)
        assert result.status == "review"
        assert result.rule_id == "T-TRAIN"


class TestDeterminism:
    def test_first_match_in_priority_order(self, write_set: WriteSet) -> None:
        general = TRAIN_RULE.replace("T-TRAIN", "T-GENERAL")
        specific = TRAIN_RULE.replace("T-TRAIN", "T-SPECIFIC").replace(
            "condition: has_hours && hours >= 8.0",
            "condition: has_hours && hours >= 8.0 && field == 'nursing'\n  priority: 1",
        )
        rule_set = load_rule_set(write_set(general + specific))
        assert evaluate(rule_set, outcome(field="nursing"), AS_OF).rule_id == "T-SPECIFIC"
        assert evaluate(rule_set, outcome(field="cooking"), AS_OF).rule_id == "T-GENERAL"

    def test_same_input_same_output(self, shipped: RuleSet) -> None:
        facts = outcome(outcome_type="mooc", hours=40, score=75, identity_verified=True)
        assert evaluate(shipped, facts, AS_OF) == evaluate(shipped, facts, AS_OF)
