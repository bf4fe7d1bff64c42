"""``diff``: which outcomes a new rule set would credit differently, without storing anything."""

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

from creditbank.rule_engine import RuleSet, diff, load_rule_set
from tests.rule_engine.factories import AS_OF, SHIPPED, outcome


def _edited(tmp_path: Path, old: str, new: str) -> RuleSet:
    copy = tmp_path / "new"
    shutil.copytree(SHIPPED, copy)
    rules = copy / "recognition.yaml"
    text = rules.read_text(encoding="utf-8")
    assert old in text
    rules.write_text(text.replace(old, new), encoding="utf-8")
    return load_rule_set(copy)


class TestDiff:
    def test_same_rules_no_difference(self, shipped: RuleSet) -> None:
        outcomes = [outcome(hours=h) for h in (8, 48, 100)]
        assert diff(shipped, load_rule_set(SHIPPED), outcomes, AS_OF) == []

    def test_changed_credits_and_status(self, shipped: RuleSet, tmp_path: Path) -> None:
        new = _edited(
            tmp_path,
            "credits: \"{'初级': 4, '中级': 6, '高级': 8}[level]\"",
            "credits: \"{'初级': 3, '中级': 6, '高级': 8}[level]\"",
        )
        outcomes = [
            outcome(outcome_id="O1", outcome_type="one_plus_x_certificate", level="初级"),
            outcome(outcome_id="O2", outcome_type="one_plus_x_certificate", level="中级"),
            outcome(outcome_id="O3", hours=48),
        ]
        [difference] = diff(shipped, new, outcomes, AS_OF)
        assert (difference.index, difference.outcome_id, difference.changed) == (0, "O1", ("credits",))
        assert (difference.old.credits, difference.new.credits) == (Decimal(4), Decimal(3))
        assert difference.old.rule_set_hash == shipped.hash
        assert difference.new.rule_set_hash == new.hash

    def test_new_condition_changes_rule_and_status(self, shipped: RuleSet, tmp_path: Path) -> None:
        new = _edited(
            tmp_path, "condition: has_hours && hours >= 8.0\n", "condition: has_hours && hours >= 4.0\n"
        )
        outcomes = [
            outcome(outcome_type="community_course", hours=6, issuer_kind="community_college"),
            outcome(outcome_type="community_course", hours=32, issuer_kind="community_college"),
        ]
        [difference] = diff(shipped, new, outcomes, dt.date(2024, 6, 1))
        assert difference.index == 0
        assert set(difference.changed) >= {"status", "rule_id", "level", "category"}
        assert (difference.old.status, difference.new.status) == ("rejected", "recognised")
