"""Which condition of a recognition rule an outcome did not meet, as a code with parameters and in words.

A rule's ``condition`` is usually a conjunction (``has_hours && hours >= 8.0 && issuer_kind in
[...]``). :func:`conjuncts` splits it at its top-level ``&&``; the loader compiles each part, and
when no rule recognises an outcome the engine runs them in order and names the first that is not
true (:func:`describe`): missing study hours, too few hours, a score below the pass mark, a failed
grade, an issuer the rule does not accept, identity not verified, a missing attribute … A part
that matches none of these shapes is quoted as it is written.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from creditbank.rule_engine.amounts import format_amount
from creditbank.rule_engine.models import OutcomeFacts, Text

FACT_LABELS: dict[str, tuple[str, str]] = {
    "hours": ("学时", "study hours"),
    "score": ("分数", "score"),
    "grade": ("成绩等第", "grade"),
    "level": ("等级", "level"),
    "field": ("专业或工种", "field"),
    "issuer_kind": ("发证机构类别", "kind of issuer"),
}


@dataclass(frozen=True)
class Unmet:
    """A condition not met: ``code`` (``hours-missing``, ``score-below``, …) and its parameters."""

    code: str
    params: dict[str, Any]
    text: Text


def conjuncts(condition: str) -> list[str]:
    """The parts of ``condition`` joined by a top-level ``&&`` (brackets and quotes respected)."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    at = 0
    while at < len(condition):
        char = condition[at]
        if quote is not None:
            if char == "\\":
                at += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and condition.startswith("&&", at):
            parts.append(condition[start:at])
            start = at + 2
            at += 1
        at += 1
    parts.append(condition[start:])
    return [" ".join(p.split()) for p in parts if p.strip()]


_HAS = re.compile(r"^has_(hours|score|grade|level|field)$")
_COMPARE = re.compile(r"^(hours|score)\s*(>=|>)\s*([0-9]+(?:\.[0-9]+)?)$")
_OPTIONAL_SCORE = re.compile(r"^\(?\s*!\s*has_score\s*\|\|\s*score\s*(>=|>)\s*([0-9]+(?:\.[0-9]+)?)\s*\)?$")
_IN = re.compile(r"^(issuer_kind|level|grade|field)\s+in\s+\[(.*)\]$")
_EQUALS = re.compile(r"^(issuer_kind|level|grade|field)\s*==\s*'([^']*)'$")
_NOT_EQUALS = re.compile(r"^(grade|level)\s*!=\s*'([^']*)'$")
_ATTRIBUTE = re.compile(r"^has\(attributes\.(\w+)\)$")
_QUOTED = re.compile(r"'([^']*)'")


def _amount(value: Decimal | None) -> str:
    return format_amount(value) if value is not None else "—"


def _fact(outcome: OutcomeFacts, name: str) -> str:
    value = getattr(outcome, name, None)
    if isinstance(value, Decimal):
        return format_amount(value)
    return str(value) if value not in (None, "") else "—"


def describe(part: str, outcome: OutcomeFacts) -> Unmet:
    """``part`` (a conjunct that was not true for ``outcome``) as a reason a person understands."""
    if match := _HAS.match(part):
        zh, en = FACT_LABELS[match.group(1)]
        return Unmet(f"{match.group(1)}-missing", {}, Text(zh=f"未填写{zh}", en=f"no {en} given"))
    if part == "identity_verified":
        return Unmet(
            "identity-not-verified",
            {},
            Text(zh="考核时未核验学习者身份（须实名认证）", en="the learner's identity was not verified"),
        )
    if match := _COMPARE.match(part):
        name, minimum = match.group(1), format_amount(Decimal(match.group(3)))
        actual = _amount(getattr(outcome, name))
        if name == "hours":
            return Unmet(
                "hours-below",
                {"hours": actual, "minimum": minimum},
                Text(
                    zh=f"学时 {actual} 少于要求的 {minimum} 学时",
                    en=f"{actual} study hours, fewer than {minimum}",
                ),
            )
        return Unmet(
            "score-below",
            {"score": actual, "minimum": minimum},
            Text(
                zh=f"成绩 {actual} 分，低于合格线 {minimum} 分（不合格）",
                en=f"a score of {actual}, below the pass mark of {minimum} (failed)",
            ),
        )
    if match := _OPTIONAL_SCORE.match(part):
        actual, minimum = _amount(outcome.score), format_amount(Decimal(match.group(2)))
        return Unmet(
            "score-below",
            {"score": actual, "minimum": minimum},
            Text(
                zh=f"成绩 {actual} 分，低于合格线 {minimum} 分（不合格）",
                en=f"a score of {actual}, below the pass mark of {minimum} (failed)",
            ),
        )
    if match := _NOT_EQUALS.match(part):
        name, refused = match.group(1), match.group(2)
        zh, en = FACT_LABELS[name]
        return Unmet(
            f"{name}-refused",
            {name: refused},
            Text(zh=f"{zh}为“{refused}”，未达到合格", en=f"the {en} is '{refused}': not a pass"),
        )
    if match := _IN.match(part) or _EQUALS.match(part):
        name = match.group(1)
        accepted = _QUOTED.findall(match.group(2)) or [match.group(2)]
        zh, en = FACT_LABELS[name]
        actual = _fact(outcome, name)
        return Unmet(
            f"{name}-not-accepted",
            {name: actual, "accepted": accepted},
            Text(
                zh=f"{zh}“{actual}”不在本规则认可的范围内（{'、'.join(accepted)}）",
                en=f"the {en} '{actual}' is not one the rule accepts ({', '.join(accepted)})",
            ),
        )
    if match := _ATTRIBUTE.match(part):
        name = match.group(1)
        return Unmet(
            "attribute-missing",
            {"attribute": name},
            Text(zh=f"缺少附加属性 {name}", en=f"the attribute {name} is missing"),
        )
    return Unmet(
        "condition-not-met",
        {"condition": part},
        Text(zh=f"不满足条件 {part}", en=f"the condition {part} is not met"),
    )
