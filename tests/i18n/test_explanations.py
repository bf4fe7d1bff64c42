"""Texts stored in both languages are written once, in the catalogues.

The rule engine's explanations (stored with each recognition, zh and en), the conversion plan's
reasons, and the review and correction history come from catalogue messages: a translator who edits
a ``.po`` file changes what is stored, and nothing in the code holds a second copy. The shipped rule
set's hash does not depend on them.
"""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from creditbank import i18n
from creditbank.i18n import Translator, catalogue
from creditbank.rule_engine import convert, evaluate, load_rule_set
from tests.rule_engine.factories import AS_OF, SHIPPED, lot, outcome, programme


def _reword(po: Path, message_id: str, text: str) -> None:
    lines = po.read_text(encoding="utf-8").splitlines()
    at = lines.index(f'msgid "{message_id}"')
    assert lines[at + 1].startswith("msgstr ")
    lines[at + 1] = f'msgstr "{text}"'
    po.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def reworded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the catalogues that the service reads instead of the shipped ones."""
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy)
    monkeypatch.setattr(i18n, "LOCALE_DIR", copy)
    catalogue.cache_clear()
    yield copy
    catalogue.cache_clear()


class TestRuleEngine:
    def test_an_unmet_condition_is_said_as_the_catalogues_say_it(self) -> None:
        result = evaluate(load_rule_set(SHIPPED), outcome(hours=2), AS_OF)
        assert result.status == "rejected"
        zh = Translator("zh")("unmet.hours_below", actual="2", minimum="8")
        en = Translator("en")("unmet.hours_below", actual="2", minimum="8")
        assert zh == "学时 2 少于要求的 8 学时"
        assert zh in result.explanation.zh
        assert en in result.explanation.en

    def test_a_translator_rewording_the_catalogue_rewords_the_stored_explanation(
        self, reworded: Path
    ) -> None:
        _reword(
            reworded / "zh_CN/LC_MESSAGES/messages.po", "unmet.hours_below", "学时不足：{actual}/{minimum}"
        )
        _reword(reworded / "en/LC_MESSAGES/messages.po", "rule.not_recognised", "Refused: {unmet}.")
        rule_set = load_rule_set(SHIPPED)
        result = evaluate(rule_set, outcome(hours=2), AS_OF)
        assert "学时不足：2/8" in result.explanation.zh
        assert result.explanation.en.startswith("Refused: ")
        assert rule_set.hash == load_rule_set(SHIPPED).hash  # the texts are not part of the rule set

    def test_the_conversion_plans_reasons_come_from_the_catalogues(self, reworded: Path) -> None:
        _reword(reworded / "zh_CN/LC_MESSAGES/messages.po", "skip.why.duplicate_lot", "重复批次")
        _reword(reworded / "en/LC_MESSAGES/messages.po", "skip.why.already_converted", "converted before")
        comp = {"outcome_type": "competition_award", "credits": 2}
        lots = [lot("A", **comp), lot("A", **comp), lot("B", **comp, already_converted=True)]
        plan = convert(load_rule_set(SHIPPED), lots, programme(), AS_OF)
        first, second = plan.skipped
        assert (first.reason, first.explanation.zh) == ("duplicate_lot", "重复批次")
        assert (second.reason, second.explanation.en) == ("already_converted", "converted before")
