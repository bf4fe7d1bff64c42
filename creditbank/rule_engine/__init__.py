"""Database-free rule engine: rule sets as YAML + CEL, recognition, conversion and previews.

Public API::

    load_rule_set(path) -> RuleSet             # raises RuleSetNotFound, RuleSetInvalid
    check(path) -> list[Finding]               # every problem, never stops at the first
    evaluate(rule_set, outcome, as_of) -> Recognition
    convert(rule_set, lots, programme, as_of=None) -> ConversionPlan
    diff(old_set, new_set, outcomes, as_of) -> list[Difference]
    run_cases(path) -> list[CaseReport]        # the sets' own test cases

See :mod:`.loader` (files, lines, hash), :mod:`.engine` (evaluate: selection, rounding),
:mod:`.conversion` (convert: caps, grade mappings, solutions), :mod:`.diff` (differences) and
:mod:`.amounts` (Decimal credits).
"""

from creditbank.rule_engine.cases import CaseReport, CaseResult, run_cases
from creditbank.rule_engine.conversion import convert
from creditbank.rule_engine.diff import diff
from creditbank.rule_engine.engine import evaluate
from creditbank.rule_engine.errors import (
    OutcomeFactsInvalid,
    RuleEngineError,
    RuleSetInvalid,
    RuleSetNotFound,
)
from creditbank.rule_engine.loader import RuleSet, check, load_rule_set
from creditbank.rule_engine.models import (
    ConversionItem,
    ConversionPlan,
    Difference,
    Finding,
    LotFacts,
    LotId,
    OutcomeFacts,
    ProgrammeFacts,
    Recognition,
    RuleId,
    SkippedLot,
    Text,
)

__all__ = [
    "CaseReport",
    "CaseResult",
    "ConversionItem",
    "ConversionPlan",
    "Difference",
    "Finding",
    "LotFacts",
    "LotId",
    "OutcomeFacts",
    "OutcomeFactsInvalid",
    "ProgrammeFacts",
    "Recognition",
    "RuleEngineError",
    "RuleId",
    "RuleSet",
    "RuleSetInvalid",
    "RuleSetNotFound",
    "SkippedLot",
    "Text",
    "check",
    "convert",
    "diff",
    "evaluate",
    "load_rule_set",
    "run_cases",
]
