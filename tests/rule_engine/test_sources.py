"""Every rule of the shipped set cites its source, and says when the clause is our own illustration."""

import re

from creditbank.rule_engine import RuleSet, load_rule_set
from tests.rule_engine.factories import ROOT, SHIPPED, WriteSet


def _rules(rule_set: RuleSet) -> list[object]:
    return [
        *(c.rule for c in rule_set.recognition),
        *(p.rule for p in rule_set.conversion),
        *(p.rule for p in rule_set.caps),
    ]


def _documented_illustrative() -> set[str]:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    section = text.split("## Sources and illustrative clauses", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9-]+)`", section, flags=re.MULTILINE))


class TestShippedSources:
    def test_every_rule_cites_a_document_and_a_clause(self) -> None:
        rule_set = load_rule_set(SHIPPED)
        for rule in _rules(rule_set):
            source = rule.source  # type: ignore[attr-defined]
            assert source.document.strip(), rule
            assert source.clause and source.clause.strip(), rule

    def test_docs_list_exactly_the_illustrative_rules(self) -> None:
        rule_set = load_rule_set(SHIPPED)
        marked = {rule.id for rule in _rules(rule_set) if rule.source.illustrative}  # type: ignore[attr-defined]
        assert marked, "the shipped set marks none of its own illustrations"
        assert marked == _documented_illustrative()

    def test_validity_per_category_and_the_remainder_policy_state_their_source(self) -> None:
        defaults = load_rule_set(SHIPPED).manifest.defaults
        categories = {c.rule.category for c in load_rule_set(SHIPPED).recognition}
        assert categories <= set(defaults.validity_by_category)
        for entry in defaults.validity_by_category.values():
            assert entry.source.document and entry.source.clause
        assert defaults.validity_by_category["community_education"].years is None
        assert defaults.validity_by_category["elderly_education"].years is None
        assert defaults.conversion_remainder == "forfeit"
        assert defaults.conversion_remainder_source is not None


class TestRemainderPolicyIsRequired:
    def test_a_set_with_conversion_rules_must_decide_the_remainder(self, write_set: WriteSet) -> None:
        from creditbank.rule_engine import check
        from tests.rule_engine.factories import MANIFEST
        from tests.rule_engine.test_convert import CONVERSION

        manifest = MANIFEST.replace("  conversion_remainder: forfeit\n", "")
        findings = check(write_set(CONVERSION, manifest=manifest))
        assert [f.code for f in findings if f.severity == "error"] == ["remainder-policy"]


class TestGradeMappingStatesItsDefault:
    def test_a_mapping_without_default_or_reason_is_refused(self, write_set: WriteSet) -> None:
        from creditbank.rule_engine import check
        from tests.rule_engine.test_convert import CONVERSION

        silent = CONVERSION.replace(
            "    no_default: {zh: 测试课程须有成绩, en: the test course needs a grade}\n", ""
        )
        assert silent != CONVERSION
        findings = check(write_set(silent))
        assert any("no_default" in f.message for f in findings if f.severity == "error"), findings
        both = CONVERSION.replace("    no_default:", "    default: A\n    no_default:")
        assert any("no_default" in f.message for f in check(write_set(both)) if f.severity == "error")
