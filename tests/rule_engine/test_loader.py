"""Loading, hashing and checking rule sets: every problem found, located by file, line and rule id."""

import shutil
from pathlib import Path

import pytest

from creditbank.rule_engine import Finding, RuleSetInvalid, RuleSetNotFound, check, load_rule_set
from creditbank.rule_engine.loader import rule_set_hash
from tests.rule_engine.factories import SHIPPED, TRAIN_RULE, WriteSet


def _line_of(path: Path, needle: str) -> int:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def _codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


class TestLoadRuleSet:
    def test_loads_the_shipped_set(self) -> None:
        rule_set = load_rule_set(SHIPPED)
        assert rule_set.id == "beijing-pilot"
        assert len(rule_set.rule_ids()) >= 12
        assert len(rule_set.hash) == 64
        assert int(rule_set.hash, 16) >= 0
        assert check(SHIPPED) == []

    def test_accepts_the_manifest_path(self) -> None:
        assert load_rule_set(SHIPPED / "ruleset.yaml").hash == load_rule_set(SHIPPED).hash

    def test_missing_set(self, tmp_path: Path) -> None:
        with pytest.raises(RuleSetNotFound):
            load_rule_set(tmp_path)
        with pytest.raises(RuleSetNotFound):
            check(tmp_path / "nowhere")

    def test_orders_by_priority_then_file_order(self, write_set: WriteSet) -> None:
        second = TRAIN_RULE.replace("T-TRAIN", "T-LATER")
        first = TRAIN_RULE.replace("T-TRAIN", "T-FIRST").replace("version: 1", "version: 1\n  priority: 5")
        rule_set = load_rule_set(write_set(TRAIN_RULE + second + first))
        assert [c.rule.id for c in rule_set.recognition_by_type["training_course"]] == [
            "T-FIRST",
            "T-TRAIN",
            "T-LATER",
        ]


class TestHash:
    def test_stable_and_sensitive_to_rules_only(self, tmp_path: Path) -> None:
        copy = tmp_path / "copy"
        shutil.copytree(SHIPPED, copy)
        original = load_rule_set(SHIPPED).hash
        assert load_rule_set(copy).hash == original

        # test cases are not part of the hash
        cases = copy / "tests" / "recognition.yaml"
        cases.write_text(cases.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
        assert load_rule_set(copy).hash == original

        # CRLF line ends hash like LF
        rules = copy / "recognition.yaml"
        rules.write_bytes(rules.read_bytes().replace(b"\n", b"\r\n"))
        assert load_rule_set(copy).hash == original

        # any change to a rule changes the hash
        rules.write_text(rules.read_text(encoding="utf-8").replace("max_credits: 4", "max_credits: 5", 1))
        assert load_rule_set(copy).hash != original

    def test_canonical_form_is_documented(self, write_set: WriteSet) -> None:
        import hashlib

        set_dir = write_set(TRAIN_RULE)
        digest = hashlib.sha256()
        for rel in ("rules.yaml", "ruleset.yaml"):
            content = (set_dir / rel).read_bytes()
            digest.update(f"{rel}\n{len(content)}\n".encode() + content + b"\n")
        assert load_rule_set(set_dir).hash == digest.hexdigest()
        assert (
            rule_set_hash(set_dir, [set_dir / "ruleset.yaml", set_dir / "rules.yaml"]) == digest.hexdigest()
        )


class TestCelTypeChecking:
    def test_type_error_names_rule_file_and_line(self, write_set: WriteSet) -> None:
        broken = TRAIN_RULE.replace("condition: has_hours && hours >= 8.0", "condition: hours >= 8")
        set_dir = write_set(broken)
        findings = check(set_dir)
        assert len(findings) == 1
        finding = findings[0]
        assert finding.code == "cel"
        assert finding.rule_id == "T-TRAIN"
        assert finding.file == str(set_dir / "rules.yaml")
        assert finding.line == _line_of(set_dir / "rules.yaml", "condition: hours >= 8")
        assert "_>=_" in finding.message
        assert f"rules.yaml:{finding.line}: error [T-TRAIN] cel:" in str(finding)

    def test_multi_line_expression_points_at_the_bad_line(self, write_set: WriteSet) -> None:
        broken = TRAIN_RULE.replace(
            "condition: has_hours && hours >= 8.0",
            "condition: |\n    has_hours &&\n    hourz >= 8.0",
        )
        set_dir = write_set(broken)
        [finding] = check(set_dir)
        assert finding.line == _line_of(set_dir / "rules.yaml", "hourz >= 8.0")
        assert "hourz" in finding.message

    @pytest.mark.parametrize(
        ("field", "bad", "message"),
        [
            ("credits: hours / double(credit_hours)", "credits: identity_verified", "credits: must be"),
            (
                "credits: hours / double(credit_hours)",
                "credits: attributes.credits",
                "but the expression is dyn",
            ),
            ("level: 3", "level: \"'three'\"", "level: must be int"),
            ("condition: has_hours && hours >= 8.0", "condition: hours / 16.0", "condition: must be bool"),
            ("condition: has_hours && hours >= 8.0", "condition: has_hours &&", "Syntax error"),
        ],
    )
    def test_result_and_syntax_errors(self, write_set: WriteSet, field: str, bad: str, message: str) -> None:
        set_dir = write_set(TRAIN_RULE.replace(field, bad))
        [finding] = check(set_dir)
        assert finding.code == "cel"
        assert message in finding.message
        assert finding.line == _line_of(set_dir / "rules.yaml", bad)

    def test_load_raises_with_all_findings(self, write_set: WriteSet) -> None:
        set_dir = write_set(TRAIN_RULE.replace("level: 3", "level: nope"))
        with pytest.raises(RuleSetInvalid) as info:
            load_rule_set(set_dir)
        assert [f.rule_id for f in info.value.findings] == ["T-TRAIN"]
        assert info.value.status == 422
        assert info.value.to_problem()["findings"][0]["line"] == info.value.findings[0].line


class TestEveryFindingCollected:
    def test_many_problems_in_one_set(self, write_set: WriteSet) -> None:
        rules = (
            TRAIN_RULE
            # 1. same id and version again (duplicate)
            + TRAIN_RULE
            # 2. new version overlapping the first
            + TRAIN_RULE.replace("version: 1", "version: 2")
            # 3. a type error in another rule
            + TRAIN_RULE.replace("T-TRAIN", "T-TYPE").replace("level: 3", "level: title")
            # 4. a schema error: no applies_to, unknown key
            + TRAIN_RULE.replace("T-TRAIN", "T-SCHEMA").replace(
                "applies_to: [training_course]", "colour: blue"
            )
            # 5. an unknown template placeholder
            + TRAIN_RULE.replace("T-TRAIN", "T-TEMPLATE").replace("{credits} credits", "{creditz} credits")
        )
        caps = """\
rules:
  - id: T-CAP
    version: 1
    kind: cap
    title: {zh: 上限, en: Cap}
    effective: {from: 2020-01-01}
    source: {document: 测试办法}
    caps: {max_share: 1.5}
  - id: T-CONV
    version: 1
    kind: conversion
    title: {zh: 转换, en: Conversion}
    effective: {from: 2020-01-01}
    source: {document: 测试办法}
    requires:
      all_of:
        - any_of: []
        - n_of: {n: 3, items: [{lot: {outcome_type: mooc}}]}
    destination: {kind: course, code: C1, title: {zh: 课, en: Course}}
"""
        set_dir = write_set(rules, extra={"caps.yaml": caps})
        findings = check(set_dir)
        by_code = _codes(findings)
        assert by_code.count("duplicate-id") == 1
        assert by_code.count("overlapping-effective") >= 2
        assert by_code.count("cel") == 1
        assert by_code.count("template") == 1
        assert by_code.count("schema") >= 6  # applies_to, colour, max_share, any_of, n_of, credits
        messages = " | ".join(f.message for f in findings)
        assert "max_share must be in (0, 1]" in messages
        assert "must not be empty" in messages
        assert "n_of.n = 3 is more than its 1 items" in messages
        assert "needs credits" in messages
        caps_file = str(set_dir / "caps.yaml")
        empty = next(f for f in findings if "must not be empty" in f.message)
        assert (empty.file, empty.rule_id) == (caps_file, "T-CONV")
        assert empty.line == _line_of(set_dir / "caps.yaml", "any_of: []")
        schema = next(f for f in findings if "colour" in f.message)
        assert schema.rule_id == "T-SCHEMA"
        assert schema.line == _line_of(set_dir / "rules.yaml", "colour: blue")

    def test_yaml_syntax_error_and_duplicate_keys(self, write_set: WriteSet) -> None:
        set_dir = write_set(
            TRAIN_RULE.replace("level: 3", "level: 3\n  level: 4"),
            extra={"more.yaml": "rules:\n  - id: [unclosed\n"},
        )
        findings = check(set_dir)
        assert "yaml-duplicate-key" in _codes(findings)
        syntax = next(f for f in findings if f.code == "yaml-syntax")
        assert syntax.file == str(set_dir / "more.yaml")
        assert syntax.line is not None

    def test_bad_manifest(self, write_set: WriteSet) -> None:
        set_dir = write_set(TRAIN_RULE, manifest="id: Not Valid\nversion: 1\n")
        codes = _codes(check(set_dir))
        assert codes.count("manifest") >= 3  # id pattern, version type, title, effective_from, source

    def test_version_order(self, write_set: WriteSet) -> None:
        v2_first = TRAIN_RULE.replace("version: 1", "version: 2").replace(
            "effective: {from: 2020-01-01}", "effective: {from: 2020-01-01, until: 2020-12-31}"
        )
        v1_later = TRAIN_RULE.replace("effective: {from: 2020-01-01}", "effective: {from: 2021-01-01}")
        assert _codes(check(write_set(v2_first + v1_later))) == ["version-order"]

    def test_check_walks_a_folder_of_sets(self, write_set: WriteSet, tmp_path: Path) -> None:
        write_set(TRAIN_RULE, name="good")
        write_set(TRAIN_RULE.replace("level: 3", "level: x"), name="bad")
        findings = check(tmp_path)
        assert [f.file for f in findings] == [str(tmp_path / "bad" / "rules.yaml")]
