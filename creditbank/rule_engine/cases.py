"""Running a rule set's own test cases (``rules/<set>/tests/*.yaml``), as ``creditbank rules test`` does.

How this works
--------------
Each case file holds ``cases:``, a list of scenarios written as data (see
:class:`~creditbank.rule_engine.schemas.Case`): an ``outcome`` evaluated on ``as_of`` with the
expected recognition, or a ``convert`` input (programme and lots) with the expected plan. Only the
fields written under ``expect`` are compared (``rule_id: null`` does compare: "no rule applies").

Every case names the ``rule`` it tests. It is *positive* when the expected result cites that rule
and *negative* otherwise; every rule of the set must have at least one of each, or the report has a
``coverage`` finding. Problems in the case files (schema, unknown rule, bad outcome facts) are
findings with file and line, like those of the rules themselves.
"""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from creditbank.i18n import Both, Lang, Said, Translator, msg, text_of
from creditbank.rule_engine.conversion import convert
from creditbank.rule_engine.engine import evaluate
from creditbank.rule_engine.errors import RuleSetInvalid
from creditbank.rule_engine.loader import (
    TESTS_DIR,
    RuleSet,
    YamlDoc,
    find_rule_sets,
    load_rule_set,
    read_yaml,
)
from creditbank.rule_engine.loader import schema_findings as _schema_findings
from creditbank.rule_engine.models import (
    ConversionPlan,
    Finding,
    LotFacts,
    OutcomeFacts,
    ProgrammeFacts,
    Recognition,
    SkippedLot,
)
from creditbank.rule_engine.schemas import Case, CaseFile, ExpectPlan, ExpectRecognition


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case."""

    name: str
    rule: str
    file: str
    line: int
    kind: Literal["evaluate", "convert"]
    positive: bool
    problems: tuple[Said, ...]
    """What differs from the expected result, each a catalogue message (``case.*``)."""

    @property
    def passed(self) -> bool:
        return not self.problems

    def text(self, lang: Lang) -> str:
        """``file:line: ok [RULE] name``, then each problem on its own line, in ``lang``."""
        t = Translator(lang)
        state = t("case.passed") if self.passed else t("case.failed")
        head = f"{self.file}:{self.line}: {state} [{self.rule}] {self.name}"
        return head + "".join(f"\n    {text_of(p, lang)}" for p in self.problems)

    def __str__(self) -> str:
        return self.text("en")


@dataclass(frozen=True, slots=True)
class CaseReport:
    """All case results and findings of one rule set."""

    path: str
    rule_set_id: str | None
    rule_set_hash: str | None
    results: tuple[CaseResult, ...]
    findings: tuple[Finding, ...]

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def ok(self) -> bool:
        return not self.failures and not any(f.severity == "error" for f in self.findings)


def run_cases(path: Path | str) -> list[CaseReport]:
    """Run the cases of every rule set at or under ``path``; one report per set.

    Raises:
        RuleSetNotFound: when there is no rule set at or under ``path``.
    """
    return [run_set_cases(set_dir) for set_dir in find_rule_sets(Path(path))]


def run_set_cases(set_dir: Path) -> CaseReport:
    """Load the set at ``set_dir`` and run its cases; problems are findings, never exceptions."""
    try:
        rule_set = load_rule_set(set_dir)
    except RuleSetInvalid as exc:
        return CaseReport(str(set_dir), None, None, (), tuple(exc.findings))
    findings: list[Finding] = []
    results: list[CaseResult] = []
    known = set(rule_set.rule_ids())
    files = sorted((set_dir / TESTS_DIR).glob("*.yaml"))
    if not files:
        findings.append(
            Finding("no-cases", msg("finding.no_cases", folder=set_dir / TESTS_DIR), str(set_dir))
        )
    for path in files:
        doc = read_yaml(path, findings)
        if doc is None:
            continue
        try:
            case_file = CaseFile.model_validate(doc.data)
        except ValidationError as exc:
            findings.extend(_schema_findings(exc, doc, (), None, "case-schema"))
            continue
        for index, raw in enumerate(case_file.cases):
            result = _run_one(rule_set, doc, index, raw, known, findings)
            if result is not None:
                results.append(result)
    findings.extend(_coverage(rule_set, results))
    return CaseReport(str(set_dir), rule_set.id, rule_set.hash, tuple(results), tuple(findings))


def _run_one(
    rule_set: RuleSet, doc: YamlDoc, index: int, raw: Any, known: set[str], findings: list[Finding]
) -> CaseResult | None:
    base = ("cases", index)
    line = doc.line_of(base)
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        findings.extend(_schema_findings(exc, doc, base, None, "case-schema"))
        return None
    if case.rule not in known:
        findings.append(
            Finding(
                "case-unknown-rule",
                msg("finding.case_unknown_rule", case=case.name, rule=case.rule),
                doc.file,
                line,
                case.rule,
            )
        )
        return None
    try:
        if case.outcome is not None:
            outcome = OutcomeFacts.model_validate(case.outcome)
            expect_rec = ExpectRecognition.model_validate(case.expect)
            recognition = evaluate(rule_set, outcome, case.as_of)
            positive = expect_rec.rule_id == case.rule
            problems = _compare_recognition(expect_rec, recognition)
            return CaseResult(case.name, case.rule, doc.file, line, "evaluate", positive, problems)
        assert case.convert is not None
        programme = ProgrammeFacts.model_validate(case.convert.programme)
        lots = [LotFacts.model_validate(lot) for lot in case.convert.lots]
        expect_plan = ExpectPlan.model_validate(case.expect)
    except ValidationError as exc:
        findings.extend(_schema_findings(exc, doc, base, case.rule, "case-schema"))
        return None
    plan = convert(rule_set, lots, programme, case.as_of)
    cited = {i.rule_id for i in expect_plan.items} | {s.rule_id for s in expect_plan.skipped if s.rule_id}
    problems = _compare_plan(expect_plan, plan)
    return CaseResult(case.name, case.rule, doc.file, line, "convert", case.rule in cited, problems)


def _compare_recognition(expect: ExpectRecognition, got: Recognition) -> tuple[Said, ...]:
    problems: list[Said] = []
    for name in sorted(expect.model_fields_set):
        wanted = getattr(expect, name)
        if name == "explanation_contains":
            if wanted not in got.explanation.zh and wanted not in got.explanation.en:
                problems.append(
                    msg("case.explanation_lacks", wanted=wanted, zh=got.explanation.zh, en=got.explanation.en)
                )
            continue
        actual = getattr(got, name)
        if wanted != actual:
            problems.append(msg("case.expected", name=name, wanted=_show(wanted), actual=_show(actual)))
    if problems:
        problems.append(msg("case.explanation", explanation=Both(got.explanation.zh, got.explanation.en)))
    return tuple(problems)


def _compare_plan(expect: ExpectPlan, plan: ConversionPlan) -> tuple[Said, ...]:
    problems: list[Said] = []
    if plan.total_credits != expect.total_credits:
        problems.append(
            msg("case.expected", name="total_credits", wanted=expect.total_credits, actual=plan.total_credits)
        )
    if "items" in expect.model_fields_set:
        if len(plan.items) != len(expect.items):
            got = [(i.rule_id, i.destination_code, list(i.lot_ids)) for i in plan.items]
            problems.append(msg("case.item_count", wanted=len(expect.items), actual=len(plan.items), got=got))
        for n, (want, item) in enumerate(zip(expect.items, plan.items, strict=False)):
            for name in sorted(want.model_fields_set):
                wanted = getattr(want, name)
                actual = list(item.lot_ids) if name == "lots" else getattr(item, name)
                if name == "lots":
                    wanted = list(wanted)
                if wanted != actual:
                    where = f"items[{n}].{name}"
                    problems.append(
                        msg("case.expected", name=where, wanted=_show(wanted), actual=_show(actual))
                    )
    if "skipped" in expect.model_fields_set:
        got_skips: dict[str, SkippedLot] = {s.lot_id: s for s in plan.skipped}
        want_ids = {s.lot for s in expect.skipped}
        if set(got_skips) != want_ids:
            problems.append(msg("case.skipped_lots", wanted=sorted(want_ids), actual=sorted(got_skips)))
        for want_skip in expect.skipped:
            skip = got_skips.get(want_skip.lot)
            if skip is None:
                continue
            if skip.reason != want_skip.reason:
                problems.append(
                    msg("case.skip_reason", lot=want_skip.lot, wanted=want_skip.reason, actual=skip.reason)
                )
            if want_skip.rule_id is not None and skip.rule_id != want_skip.rule_id:
                problems.append(
                    msg("case.skip_rule", lot=want_skip.lot, wanted=want_skip.rule_id, actual=skip.rule_id)
                )
    return tuple(problems)


def _show(value: object) -> str:
    return str(value) if isinstance(value, Decimal) else repr(value)


def _coverage(rule_set: RuleSet, results: list[CaseResult]) -> list[Finding]:
    out: list[Finding] = []
    placed = {r.placed.rule.id: (r.placed.file, r.placed.line) for r in rule_set.recognition}
    placed.update({p.rule.id: (p.file, p.line) for p in rule_set.conversion})
    placed.update({p.rule.id: (p.file, p.line) for p in rule_set.caps})
    for rule_id in rule_set.rule_ids():
        mine = [r for r in results if r.rule == rule_id]
        file, line = placed[rule_id]
        if not any(r.positive for r in mine):
            out.append(
                Finding(
                    "coverage",
                    msg("finding.no_positive_case"),
                    file,
                    line,
                    rule_id,
                )
            )
        if not any(not r.positive for r in mine):
            out.append(
                Finding(
                    "coverage",
                    msg("finding.no_negative_case"),
                    file,
                    line,
                    rule_id,
                )
            )
    return out
