"""Fixtures for the rule engine: the shipped Beijing set, and small rule sets written to tmp_path."""

import textwrap
from pathlib import Path

import pytest

from creditbank.rule_engine import RuleSet, load_rule_set
from tests.rule_engine.factories import MANIFEST, SHIPPED, WriteSet


@pytest.fixture(scope="session")
def shipped() -> RuleSet:
    return load_rule_set(SHIPPED)


@pytest.fixture
def write_set(tmp_path: Path) -> WriteSet:
    """Write a rule set: ``write_set(rules_yaml, manifest=..., extra={"name.yaml": text})``."""

    def write(
        rules: str | None = None,
        *,
        manifest: str = MANIFEST,
        extra: dict[str, str] | None = None,
        name: str = "tiny",
    ) -> Path:
        set_dir = tmp_path / name
        set_dir.mkdir(parents=True, exist_ok=True)
        (set_dir / "ruleset.yaml").write_text(manifest, encoding="utf-8")
        if rules is not None:
            body = "rules:\n" + textwrap.indent(textwrap.dedent(rules), "  ")
            (set_dir / "rules.yaml").write_text(body, encoding="utf-8")
        for rel, text in (extra or {}).items():
            path = set_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return set_dir

    return write
