"""The command line speaks the language of its environment (``CREDITBANK_LANG``, ``LC_ALL``, ``LANG``…)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from creditbank.cli import app
from creditbank.cli_common import error_line
from creditbank.errors import NotFound, ValidationFailed
from creditbank.i18n import Lang, cli_lang
from tests.rule_engine.factories import SHIPPED

CHINESE = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
ENGLISH = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}
runner = CliRunner()


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LC_ALL": "zh_CN.GB18030", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LC_MESSAGES": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"CREDITBANK_LANG": "zh", "LC_ALL": "C"}, "zh"),
        ({"LANG": ""}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_follows_the_environment(environ: dict[str, str], lang: Lang) -> None:
    assert cli_lang(environ) == lang


class TestErrorLine:
    def test_chinese_names_the_type_and_says_what_failed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CREDITBANK_LANG", "zh")
        assert error_line(NotFound()) == "错误（not-found）：未找到"
        line = error_line(ValidationFailed("hours: must be at least 0"))
        assert line == "错误（validation-failed）：请求无效。hours: must be at least 0"

    def test_english_keeps_the_type_first(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CREDITBANK_LANG", "en")
        assert error_line(NotFound()) == "error (not-found): Not found"
        assert error_line(ValidationFailed("x")).startswith(
            "error (validation-failed): The request is not valid"
        )


class TestVerify:
    def test_an_unreadable_file_is_said_in_chinese(self, tmp_path: Path) -> None:
        broken = tmp_path / "cert.json"
        broken.write_text("{not json", encoding="utf-8")
        result = runner.invoke(app, ["verify", str(broken)], env=CHINESE)
        assert result.exit_code != 0
        assert f"错误：无法读取 {broken}" in result.output

    def test_a_forged_certificate_fails_check_by_check_in_each_language(self, tmp_path: Path) -> None:
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps({"type": ["VerifiableCredential"], "issuer": "did:web:evil.example"}))
        zh = runner.invoke(app, ["verify", str(forged)], env=CHINESE)
        en = runner.invoke(app, ["verify", str(forged)], env=ENGLISH)
        assert zh.exit_code == en.exit_code != 0
        assert "未通过  签名（proof）" in zh.output
        assert zh.output.strip().splitlines()[-1].startswith("无效：proof")
        assert "FAIL  proof" in en.output
        assert en.output.strip().splitlines()[-1].startswith("NOT VALID: proof")


class TestCommandOutput:
    """The lines a command prints for people come from the catalogues, in the environment's language."""

    def test_rules_check_says_its_result_in_each_language(self) -> None:
        zh = runner.invoke(app, ["rules", "check", "rules"], env=CHINESE)
        en = runner.invoke(app, ["rules", "check", "rules"], env=ENGLISH)
        assert zh.exit_code == en.exit_code == 0, zh.output + en.output
        assert "条规则，sha256" in zh.output and zh.output.startswith("通过 beijing-pilot")
        assert " rules, sha256 " in en.output and en.output.startswith("ok beijing-pilot")

    def test_a_missing_rule_set_is_an_error_in_each_language(self, tmp_path: Path) -> None:
        zh = runner.invoke(app, ["rules", "check", str(tmp_path / "none")], env=CHINESE)
        en = runner.invoke(app, ["rules", "check", str(tmp_path / "none")], env=ENGLISH)
        assert zh.exit_code == en.exit_code != 0
        assert f"错误：{tmp_path / 'none'} 不存在" in zh.output
        assert f"error: {tmp_path / 'none'} does not exist" in en.output

    def test_a_rule_set_finding_says_what_is_wrong_in_each_language(self, tmp_path: Path) -> None:
        """The location, severity and code stay as written (for scripts); the finding's message is said
        in the environment's language."""
        broken = tmp_path / "set"
        shutil.copytree(SHIPPED, broken)
        rules = broken / "recognition.yaml"
        text = rules.read_text(encoding="utf-8")
        first_id = text.index("  - id: ")
        rules.write_text(text[:first_id] + "  - id: X\n    id: Y\n" + text[first_id:], encoding="utf-8")
        manifest = broken / "ruleset.yaml"
        listed = "files: [recognition.yaml, conversion.yaml, caps.yaml, missing.yaml]\n"
        manifest.write_text(manifest.read_text(encoding="utf-8") + listed, encoding="utf-8")
        missing = broken / "missing.yaml"
        caps = broken / "caps.yaml"
        caps.write_text(caps.read_text(encoding="utf-8").replace("max_share: 0.5 ", "max_share: 2   ", 1))
        zh = runner.invoke(app, ["rules", "check", str(broken)], env=CHINESE)
        en = runner.invoke(app, ["rules", "check", str(broken)], env=ENGLISH)
        assert zh.exit_code == en.exit_code == 1, zh.output + en.output
        assert f"{manifest}: error file-missing: 清单列出了 {missing}，但该文件不存在" in zh.output
        assert f"{manifest}: error file-missing: {missing} is listed but missing" in en.output
        assert "error yaml-duplicate-key: 键 'id' 出现了两次" in zh.output
        assert "error yaml-duplicate-key: key 'id' appears twice" in en.output
        # a rule-set validator's own words, too
        assert "max_share 须在 (0, 1] 之间，实际为 2" in zh.output
        assert "max_share must be in (0, 1], got 2" in en.output and "Value error" not in en.output

    def test_rules_diff_says_each_change_in_each_language(self, tmp_path: Path) -> None:
        new = tmp_path / "new"
        shutil.copytree(SHIPPED, new)
        rules = new / "recognition.yaml"
        rules.write_text(rules.read_text(encoding="utf-8").replace("max_credits: 4", "max_credits: 3", 1))
        outcomes = tmp_path / "outcomes.jsonl"
        fact = {
            "outcome_id": "O1",
            "outcome_type": "training_course",
            "title": "a",
            "achieved_on": "2024-01-01",
        }
        outcomes.write_text(json.dumps({**fact, "hours": 64}) + "\n", encoding="utf-8")
        args = ["rules", "diff", str(SHIPPED), str(new), "--outcomes", str(outcomes), "--as-of", "2024-06-01"]
        zh = runner.invoke(app, args, env=CHINESE)
        en = runner.invoke(app, args, env=ENGLISH)
        assert zh.exit_code == en.exit_code == 0, zh.output + en.output
        zh_line = next(line for line in zh.output.splitlines() if "O1" in line)
        en_line = next(line for line in en.output.splitlines() if "O1" in line)
        assert (
            zh_line.startswith(f"{outcomes}:1：O1：credits：已认定（recognised） 4 学分 [") and "→" in zh_line
        )
        assert (
            en_line.startswith(f"{outcomes}:1: O1: credits: recognised 4 [")
            and " -> recognised 3 [" in en_line
        )


def _help(environ: dict[str, str | None], *args: str) -> str:
    """``creditbank … --help`` as a person runs it: a new process, whose help is decided at import."""
    env = {k: v for k, v in os.environ.items() if k not in environ}
    env.update({k: v for k, v in environ.items() if v is not None})
    env["COLUMNS"] = "200"  # no wrapping inside the phrases looked for
    result = subprocess.run(
        [str(Path(sys.executable).parent / "creditbank"), *args, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class TestHelpInTheReadersLanguage:
    def test_the_top_level_help_in_chinese_under_zh_cn(self) -> None:
        text = _help(CHINESE)
        assert "creditbank：学分银行" in text
        assert "核验一张学分转换证书" in text and "检查、测试和比较学分规则集。" in text
        assert "Verify a transfer certificate" not in text and "Check, test and compare" not in text

    def test_the_top_level_help_in_english_otherwise(self) -> None:
        text = _help(ENGLISH)
        assert "creditbank: lifelong learning credit bank" in text
        assert "Verify a transfer certificate" in text and "Check, test and compare credit rule sets." in text
        assert "核验" not in text

    def test_a_subcommands_help_in_each_language(self) -> None:
        zh = _help(CHINESE, "audit", "database")
        en = _help(ENGLISH, "audit", "database")
        assert "从账簿重算余额" in zh and "最多列出的差异数" in zh and "以一个 JSON 对象输出报告" in zh
        assert "differences listed at most" not in zh and "Recompute balances" not in zh
        assert "Recompute balances, lots, lot states" in en and "differences listed at most" in en
        assert "print the report as one JSON object" in en and "差异" not in en
