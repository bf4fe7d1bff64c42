"""The rule sets' own cases, and ``creditbank rules check/test/diff`` through Typer's CliRunner."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from creditbank.rule_engine import run_cases
from creditbank.rule_engine.cli import rules_app
from tests.rule_engine.factories import SHIPPED, TRAIN_RULE, WriteSet

runner = CliRunner()

CASES = """\
cases:
  - name: 48 hours
    rule: T-TRAIN
    as_of: 2024-06-01
    outcome: {outcome_type: training_course, title: x, achieved_on: 2024-01-01, hours: 48}
    expect: {status: recognised, credits: 3, rule_id: T-TRAIN}
  - name: too few hours
    rule: T-TRAIN
    as_of: 2024-06-01
    outcome: {outcome_type: training_course, title: x, achieved_on: 2024-01-01, hours: 4}
    expect: {status: rejected, rule_id: null}
"""


class TestShippedCases:
    def test_all_pass_and_cover_every_rule(self) -> None:
        [report] = run_cases(SHIPPED)
        assert report.findings == ()
        assert report.failures == ()
        assert report.ok
        assert len(report.results) >= 24
        rules = {r.rule for r in report.results}
        assert {r.rule for r in report.results if r.positive} == rules
        assert {r.rule for r in report.results if not r.positive} == rules
        assert {r.kind for r in report.results} == {"evaluate", "convert"}


class TestRunCases:
    def test_passing_set(self, write_set: WriteSet) -> None:
        [report] = run_cases(write_set(TRAIN_RULE, extra={"tests/cases.yaml": CASES}))
        assert report.ok
        assert [r.positive for r in report.results] == [True, False]

    def test_failure_and_coverage(self, write_set: WriteSet) -> None:
        cases = CASES.replace("credits: 3, rule_id", "credits: 2.5, rule_id").split("  - name: too few")[0]
        [report] = run_cases(write_set(TRAIN_RULE, extra={"tests/cases.yaml": cases}))
        assert not report.ok
        [failure] = report.failures
        assert str(failure.problems[0]) == "credits: expected 2.5, got 3"
        assert failure.line == 2
        assert [f.code for f in report.findings] == ["coverage"]
        assert "no negative case" in report.findings[0].message

    def test_bad_case_files_are_findings(self, write_set: WriteSet) -> None:
        cases = CASES + (
            "  - name: unknown\n"
            "    rule: T-NOPE\n"
            "    as_of: 2024-06-01\n"
            "    outcome: {outcome_type: x, title: y, achieved_on: 2024-01-01}\n"
            "    expect: {status: rejected}\n"
            "  - name: bad outcome\n"
            "    rule: T-TRAIN\n"
            "    as_of: 2024-06-01\n"
            "    outcome: {title: y}\n"
            "    expect: {status: x}\n"
        )
        [report] = run_cases(write_set(TRAIN_RULE, extra={"tests/cases.yaml": cases}))
        codes = sorted(f.code for f in report.findings)
        assert codes[0] == "case-schema"
        assert "case-unknown-rule" in codes
        assert all(f.line is not None for f in report.findings)

    def test_no_cases(self, write_set: WriteSet) -> None:
        [report] = run_cases(write_set(TRAIN_RULE))
        assert "no-cases" in [f.code for f in report.findings]


class TestCli:
    def test_check_shipped(self) -> None:
        result = runner.invoke(rules_app, ["check", str(SHIPPED.parent)])
        assert result.exit_code == 0, result.output
        assert "ok beijing-pilot" in result.output

    def test_check_broken(self, write_set: WriteSet) -> None:
        set_dir = write_set(TRAIN_RULE.replace("level: 3", "level: title"))
        result = runner.invoke(rules_app, ["check", str(set_dir)])
        assert result.exit_code == 1
        assert f"{set_dir / 'rules.yaml'}:12: error [T-TRAIN] cel: level: must be int" in result.output

    def test_check_nothing_there(self, tmp_path: Path) -> None:
        assert runner.invoke(rules_app, ["check", str(tmp_path)]).exit_code == 2

    def test_test_shipped(self) -> None:
        result = runner.invoke(rules_app, ["test", str(SHIPPED)])
        assert result.exit_code == 0, result.output
        assert "cases passed, 0 finding(s)" in result.output

    def test_test_failing(self, write_set: WriteSet) -> None:
        cases = CASES.replace("credits: 3,", "credits: 4,")
        result = runner.invoke(
            rules_app, ["test", str(write_set(TRAIN_RULE, extra={"tests/cases.yaml": cases}))]
        )
        assert result.exit_code == 1
        assert "FAIL [T-TRAIN] 48 hours" in result.output

    def test_test_broken_set(self, write_set: WriteSet) -> None:
        set_dir = write_set(TRAIN_RULE.replace("level: 3", "level: nope"), extra={"tests/cases.yaml": CASES})
        result = runner.invoke(rules_app, ["test", str(set_dir)])
        assert result.exit_code == 1
        assert "[T-TRAIN] cel:" in result.output

    def test_diff(self, tmp_path: Path) -> None:
        new = tmp_path / "new"
        shutil.copytree(SHIPPED, new)
        rules = new / "recognition.yaml"
        rules.write_text(rules.read_text(encoding="utf-8").replace("max_credits: 4", "max_credits: 3", 1))
        outcomes = tmp_path / "outcomes.jsonl"
        lines = [
            {
                "outcome_id": "O1",
                "outcome_type": "training_course",
                "title": "a",
                "achieved_on": "2024-01-01",
                "hours": 64,
            },
            {
                "outcome_id": "O2",
                "outcome_type": "training_course",
                "title": "b",
                "achieved_on": "2024-01-01",
                "hours": 16,
            },
        ]
        outcomes.write_text(
            "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8"
        )
        args = ["diff", str(SHIPPED), str(new), "--outcomes", str(outcomes), "--as-of", "2024-06-01"]
        result = runner.invoke(rules_app, args)
        assert result.exit_code == 0, result.output
        assert "O1: credits" in result.output
        assert "1 of 2 outcome(s) would change" in result.output
        assert runner.invoke(rules_app, [*args, "--fail-on-change"]).exit_code == 1

    def test_diff_bad_outcomes(self, tmp_path: Path) -> None:
        outcomes = tmp_path / "outcomes.jsonl"
        outcomes.write_text('{"outcome_type": "nope"}\n', encoding="utf-8")
        result = runner.invoke(rules_app, ["diff", str(SHIPPED), str(SHIPPED), "--outcomes", str(outcomes)])
        assert result.exit_code == 1
        assert "outcomes.jsonl:1" in result.output
