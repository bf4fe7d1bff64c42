"""``creditbank rules ...``: check, test and diff rule sets from the command line.

``rules_app`` is a Typer app; the main CLI mounts it with ``app.add_typer(rules_app, name="rules")``.
Every command prints one line per problem as ``file:line: error [RULE-ID] code: message`` and exits
with status 1 when there is any problem (2 for a path that holds no rule set), 0 otherwise.
"""

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from creditbank.cli_common import cli_help, echo
from creditbank.i18n import cli_lang, msg
from creditbank.rule_engine.cases import run_cases
from creditbank.rule_engine.diff import diff as diff_rule_sets
from creditbank.rule_engine.diff import said
from creditbank.rule_engine.errors import (
    OutcomeFactsInvalid,
    RuleEngineError,
    RuleSetInvalid,
    RuleSetNotFound,
)
from creditbank.rule_engine.loader import check as check_rule_sets
from creditbank.rule_engine.loader import find_rule_sets, load_rule_set
from creditbank.rule_engine.models import Finding, OutcomeFacts

rules_app = typer.Typer(help=cli_help("help.rule_engine.rules_app"), no_args_is_help=True)

PathArg = Annotated[Path, typer.Argument(help=cli_help("help.rule_engine.PathArg"))]


def _print_findings(findings: list[Finding]) -> None:
    lang = cli_lang()
    for finding in findings:
        typer.echo(finding.text(lang), err=finding.severity == "error")


def _not_found(exc: RuleSetNotFound) -> typer.Exit:
    echo(msg("cli.error_detail", reason=exc.said), err=True)
    return typer.Exit(2)


@rules_app.command(help=cli_help("help.rule_engine.check"))
def check(path: PathArg = Path("rules")) -> None:
    """Check rule sets: schema, CEL types, duplicate ids, overlapping dates, caps. Exit 1 on errors."""
    try:
        findings = check_rule_sets(path)
        sets = find_rule_sets(path)
    except RuleSetNotFound as exc:
        raise _not_found(exc) from None
    _print_findings(findings)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        echo(msg("cli.rule_engine.error_s_rule_set", error_count=len(errors), set_count=len(sets)), err=True)
        raise typer.Exit(1)
    for set_dir in sets:
        rule_set = load_rule_set(set_dir)
        count = len(rule_set.rule_ids())
        echo(
            msg(
                "cli.rule_engine.ok_rules_sha",
                id=rule_set.id,
                version=rule_set.version,
                count=count,
                hash=rule_set.hash,
            )
        )


@rules_app.command("test", help=cli_help("help.rule_engine.run_tests"))
def run_tests(
    path: PathArg = Path("rules"),
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help=cli_help("help.rule_engine.run_tests.verbose"))
    ] = False,
) -> None:
    """Run the rule sets' own cases (tests/*.yaml). Exit 1 on any failure or finding."""
    try:
        reports = run_cases(path)
    except RuleSetNotFound as exc:
        raise _not_found(exc) from None
    failed = False
    for report in reports:
        _print_findings(list(report.findings))
        for result in report.results:
            if verbose or not result.passed:
                typer.echo(result.text(cli_lang()), err=not result.passed)
        passed = sum(r.passed for r in report.results)
        name = report.rule_set_id or report.path
        echo(
            msg(
                "cli.rule_engine.cases_passed_finding_s",
                name=name,
                passed=passed,
                result_count=len(report.results),
                finding_count=len(report.findings),
            )
        )
        failed = failed or not report.ok
    if failed:
        raise typer.Exit(1)


@rules_app.command(help=cli_help("help.rule_engine.diff"))
def diff(
    old: Annotated[Path, typer.Argument(help=cli_help("help.rule_engine.diff.old"))],
    new: Annotated[Path, typer.Argument(help=cli_help("help.rule_engine.diff.new"))],
    outcomes: Annotated[Path, typer.Option("--outcomes", help=cli_help("help.rule_engine.diff.outcomes"))],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help=cli_help("help.rule_engine.diff.as_of"))
    ] = None,
    fail_on_change: Annotated[
        bool, typer.Option(help=cli_help("help.rule_engine.diff.fail_on_change"))
    ] = False,
) -> None:
    """Preview which outcomes the NEW rule set would credit differently from OLD."""
    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
        old_set, new_set = load_rule_set(old), load_rule_set(new)
        facts = read_outcomes(outcomes)
    except RuleSetNotFound as exc:
        raise _not_found(exc) from None
    except RuleSetInvalid as exc:
        _print_findings(exc.findings)
        raise typer.Exit(1) from None
    except (RuleEngineError, ValueError) as exc:
        echo(msg("cli.error_exception", exc=exc), err=True)
        raise typer.Exit(1) from None
    differences = diff_rule_sets(old_set, new_set, facts, day)
    for d in differences:
        name = d.outcome_id or f"#{d.index + 1}"
        echo(msg("cli.rule_engine.diff_line", where=f"{outcomes}:{d.index + 1}", name=name, change=said(d)))
    echo(
        msg(
            "cli.rule_engine.outcome_s_would_change",
            difference_count=len(differences),
            fact_count=len(facts),
            id=old_set.id,
            id2=new_set.id,
            day=day,
        )
    )
    if differences and fail_on_change:
        raise typer.Exit(1)


def read_outcomes(path: Path) -> list[OutcomeFacts]:
    """Outcome facts from a JSON Lines file (blank lines skipped).

    Raises:
        OutcomeFactsInvalid: naming the line of the first bad record.
    """
    facts: list[OutcomeFacts] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OutcomeFactsInvalid(
            msg("detail.rule_engine.cli.facts_unreadable", path=path, exc=exc)
        ) from None
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            facts.append(OutcomeFacts.model_validate(json.loads(text)))
        except (ValueError, ValidationError) as exc:
            raise OutcomeFactsInvalid(
                msg("detail.rule_engine.cli.facts_line_invalid", path=path, number=number, exc=exc)
            ) from None
    return facts
