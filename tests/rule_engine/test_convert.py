"""``convert``: all-of / any-of / n-of equivalences, grade mapping, caps, each lot at most once."""

import datetime as dt
from decimal import Decimal

import pytest

from creditbank.rule_engine import ConversionPlan, RuleSet, convert, load_rule_set
from creditbank.rule_engine.conversion import solutions
from creditbank.rule_engine.schemas import ConversionRule
from tests.rule_engine.factories import AS_OF, WriteSet, lot, programme

WEB_CERT = {
    "outcome_type": "one_plus_x_certificate",
    "field": "web_front_end",
    "outcome_level": "中级",
    "level": 4,
}
WEB_MOOC = {"outcome_type": "mooc", "field": "web_front_end", "title": "JavaScript 高级程序设计"}


def _skips(plan: ConversionPlan) -> dict[str, str]:
    return {s.lot_id: s.reason for s in plan.skipped}


class TestEquivalences:
    def test_all_of_with_any_of(self, shipped: RuleSet) -> None:
        plan = convert(
            shipped,
            [lot("A", **WEB_CERT, credits=6, grade="优秀"), lot("B", **WEB_MOOC, score=80)],
            programme(),
            AS_OF,
        )
        [item] = plan.items
        assert (item.rule_id, item.destination_code, item.lot_ids) == ("BJ-CONV-WEB201", "WEB201", ("A", "B"))
        assert item.credits == Decimal(4)
        assert item.grade == "良好"  # 优秀 and score 80 -> 良好: the lower
        assert "Web前端开发技术" in item.explanation.zh
        assert plan.total_credits == Decimal(4)
        assert plan.rule_set_hash == shipped.hash
        assert plan.skipped == ()

    def test_all_of_needs_every_part(self, shipped: RuleSet) -> None:
        plan = convert(shipped, [lot("B", **WEB_MOOC, score=80)], programme(), AS_OF)
        assert plan.items == ()
        assert _skips(plan) == {"B": "no_equivalence"}

    def test_n_of(self, shipped: RuleSet) -> None:
        office = {"field": "office_it"}
        lots = [
            lot("M", outcome_type="mooc", score=72, **office),
            lot("X", outcome_type="degree_course", **office),  # not one of the n_of items
            lot("T", outcome_type="training_course", grade="优秀", **office),
        ]
        plan = convert(shipped, lots, programme(), AS_OF)
        [item] = plan.items
        assert (item.rule_id, item.lot_ids, item.grade) == ("BJ-CONV-IT101", ("M", "T"), "B")
        assert item.destination_kind == "generic_course"
        assert _skips(plan) == {"X": "no_equivalence"}

    def test_each_lot_used_once_across_rules(self, shipped: RuleSet) -> None:
        lots = [
            lot("A", **WEB_CERT, grade="良好"),
            lot("B", **WEB_MOOC, score=95),
            lot("C", **WEB_MOOC, score=95),
        ]
        plan = convert(shipped, lots, programme(), AS_OF)
        used = plan.used_lot_ids
        assert len(used) == len(set(used))
        assert set(used) | set(_skips(plan)) == {"A", "B", "C"}
        assert _skips(plan) == {"C": "no_equivalence"}

    def test_outside_institution_or_programme(self, write_set: WriteSet) -> None:
        rule = CONVERSION.replace("max_applications: 1", "max_applications: 1\n  programmes: [P-OTHER]")
        rule_set = load_rule_set(write_set(rule))
        assert convert(rule_set, [lot("A", score=90)], programme(), AS_OF).items == ()


CONVERSION = """\
- id: T-CONV
  version: 1
  kind: conversion
  title: {zh: 转换, en: Conversion}
  effective: {from: 2020-01-01}
  source: {document: 测试办法}
  requires: {lot: {outcome_type: training_course}}
  destination: {kind: course, code: C1, title: {zh: 课程, en: Course}, credits: 2}
  max_applications: 1
  grade_mapping:
    scale: [A, B, C]
    grades: [{source: 优秀, destination: A}, {source: 良好, destination: B}]
    score_bands: [{min_score: 90, destination: A}, {min_score: 60, destination: C}]
    no_default: {zh: 测试课程须有成绩, en: the test course needs a grade}
"""


class TestGradeMapping:
    @pytest.mark.parametrize(
        ("grade", "score", "expected"),
        [
            ("优秀", None, "A"),
            ("良好", Decimal(10), "B"),
            (None, Decimal(95), "A"),
            (None, Decimal(60), "C"),
            ("未知", Decimal(70), "C"),
        ],
    )
    def test_grade_then_score(
        self, write_set: WriteSet, grade: str | None, score: Decimal | None, expected: str
    ) -> None:
        rule_set = load_rule_set(write_set(CONVERSION))
        plan = convert(rule_set, [lot("A", grade=grade, score=score)], programme(), AS_OF)
        assert plan.items[0].grade == expected

    def test_unmapped_lot_cannot_be_used(self, write_set: WriteSet) -> None:
        rule_set = load_rule_set(write_set(CONVERSION))
        plan = convert(rule_set, [lot("A", grade="及格"), lot("B", score=Decimal(61))], programme(), AS_OF)
        assert plan.items[0].lot_ids == ("B",)
        assert _skips(plan) == {"A": "no_equivalence"}


class TestCaps:
    def test_share_of_graduation_credits(self, shipped: RuleSet) -> None:
        # 50 % of 7 = 3.5 -> WEB201 (4 credits) does not fit; the bucket takes the 1+X cut to 3.5
        lots = [lot("A", **WEB_CERT, credits=6, grade="良好"), lot("B", **WEB_MOOC, score=80)]
        plan = convert(shipped, lots, programme(graduation_credits=7), AS_OF)
        assert plan.max_convertible_credits == Decimal("3.5")
        [item] = plan.items
        assert (item.rule_id, item.credits, item.capped) == ("BJ-CONV-ELECTIVE", Decimal("3.5"), True)
        [skip] = plan.skipped
        assert (skip.lot_id, skip.reason, skip.rule_id) == ("B", "cap_share", "BJ-CAP-PROGRAMME")
        assert "50%" in skip.explanation.zh

    def test_never_more_than_half(self, shipped: RuleSet) -> None:
        lots = [
            lot(f"K{i}", outcome_type="competition_award", credits=4, level=4, count_once_key=f"c{i}")
            for i in range(10)
        ]
        plan = convert(
            shipped, lots, programme(graduation_credits=20, already_converted_credits=Decimal(4)), AS_OF
        )
        assert plan.total_credits == Decimal(6)  # 10 - 4 already converted
        assert plan.total_credits + Decimal(4) <= plan.max_convertible_credits  # type: ignore[operator]

    def test_max_certificates(self, shipped: RuleSet) -> None:
        certs = [
            lot(f"S{i}", outcome_type="skill_level_certificate", credits=4, level=4, outcome_level="三级")
            for i in range(4)
        ]
        plan = convert(shipped, certs, programme(), AS_OF)
        assert plan.certificates_used == 3
        assert len(plan.items) == 3
        assert _skips(plan) == {"S3": "cap_certificates"}
        assert plan.skipped[0].rule_id == "BJ-CAP-CERTIFICATES"

    def test_competition_counted_once(self, shipped: RuleSet) -> None:
        lots = [
            lot("P", outcome_type="competition_award", credits=2, count_once_key="competition:X"),
            lot("N", outcome_type="competition_award", credits=4, count_once_key="competition:X"),
            lot("Q", outcome_type="competition_award", credits=2, count_once_key="competition:Y"),
        ]
        plan = convert(shipped, lots, programme(), AS_OF)
        assert plan.used_lot_ids == ("N", "Q")
        assert _skips(plan) == {"P": "counted_once"}
        assert plan.total_credits == Decimal(6)

    def test_lot_at_most_once(self, shipped: RuleSet) -> None:
        comp = {"outcome_type": "competition_award", "credits": 2}
        lots = [lot("A", **comp), lot("A", **comp), lot("B", **comp, already_converted=True)]
        plan = convert(shipped, lots, programme(), AS_OF)
        assert plan.used_lot_ids == ("A",)
        assert [s.reason for s in plan.skipped] == ["duplicate_lot", "already_converted"]

    def test_caps_follow_effective_dates(self, write_set: WriteSet) -> None:
        caps = """\
- id: T-CAP
  version: 1
  kind: cap
  title: {zh: 上限, en: Cap}
  effective: {from: 2020-01-01, until: 2023-12-31}
  source: {document: 测试办法}
  caps: {max_share: 0.25}
- id: T-CAP
  version: 2
  kind: cap
  title: {zh: 上限, en: Cap}
  effective: {from: 2024-01-01}
  source: {document: 测试办法}
  caps: {max_share: 0.5}
"""
        rule_set = load_rule_set(write_set(CONVERSION + caps))
        assert convert(rule_set, [], programme(), dt.date(2023, 6, 1)).max_convertible_credits == Decimal(30)
        assert convert(rule_set, [], programme(), AS_OF).max_convertible_credits == Decimal(60)


class TestSolutions:
    def test_backtracks_for_disjoint_lots(self) -> None:
        rule = ConversionRule.model_validate(
            {
                "kind": "conversion",
                "id": "T-X",
                "version": 1,
                "title": {"zh": "x", "en": "x"},
                "effective": {"from": "2020-01-01"},
                "source": {"document": "d"},
                "destination": {"kind": "elective_bucket", "code": "E", "title": {"zh": "x", "en": "x"}},
                "requires": {
                    "all_of": [
                        {"lot": {"field": ["a", "b"]}},  # could take L1 or L2
                        {"lot": {"field": "a"}},  # only L1
                    ]
                },
            }
        )
        lots = [lot("L1", field="a"), lot("L2", field="b")]
        from creditbank.rule_engine.conversion import lot_matches

        first = next(solutions(rule.requires, lots, frozenset(), lot_matches))
        assert [x.lot_id for x in first] == ["L2", "L1"]
