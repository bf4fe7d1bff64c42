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

from creditbank.i18n import Both, Message, msg
from creditbank.rule_engine.amounts import format_amount
from creditbank.rule_engine.cel_env import award_tier
from creditbank.rule_engine.models import OutcomeFacts, Text

FACTS = ("hours", "score", "grade", "level", "field", "issuer_kind", "award_tier")
"""The facts a condition names; each is called ``fact.<name>`` in the catalogues."""


def _label(name: str) -> Message:
    return Message(f"fact.{name}", {})


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
_IN = re.compile(r"^(issuer_kind|level|grade|field|award_tier)\s+in\s+\[(.*)\]$")
_EQUALS = re.compile(r"^(issuer_kind|level|grade|field)\s*==\s*'([^']*)'$")
_NOT_EQUALS = re.compile(r"^(grade|level)\s*!=\s*'([^']*)'$")
_ATTRIBUTE = re.compile(r"^has\(attributes\.(\w+)\)$")
_QUOTED = re.compile(r"'([^']*)'")


def _amount(value: Decimal | None) -> str:
    return format_amount(value) if value is not None else "—"


def _fact(outcome: OutcomeFacts, name: str) -> str:
    value = award_tier(outcome) if name == "award_tier" else getattr(outcome, name, None)
    if isinstance(value, Decimal):
        return format_amount(value)
    return str(value) if value not in (None, "") else "—"


def describe(part: str, outcome: OutcomeFacts) -> Unmet:
    """``part`` (a conjunct that was not true for ``outcome``) as a reason a person understands."""
    if match := _HAS.match(part):
        said = msg("unmet.missing", fact=_label(match.group(1)))
        return Unmet(f"{match.group(1)}-missing", {}, Text.of(said))
    if part == "identity_verified":
        return Unmet(
            "identity-not-verified",
            {},
            Text.of(msg("unmet.identity_not_verified")),
        )
    if match := _COMPARE.match(part):
        name, minimum = match.group(1), format_amount(Decimal(match.group(3)))
        actual = _amount(getattr(outcome, name))
        if name == "hours":
            return Unmet(
                "hours-below",
                {"hours": actual, "minimum": minimum},
                Text.of(msg("unmet.hours_below", actual=actual, minimum=minimum)),
            )
        return Unmet(
            "score-below",
            {"score": actual, "minimum": minimum},
            Text.of(msg("unmet.score_below", actual=actual, minimum=minimum)),
        )
    if match := _OPTIONAL_SCORE.match(part):
        actual, minimum = _amount(outcome.score), format_amount(Decimal(match.group(2)))
        return Unmet(
            "score-below",
            {"score": actual, "minimum": minimum},
            Text.of(msg("unmet.score_below", actual=actual, minimum=minimum)),
        )
    if match := _NOT_EQUALS.match(part):
        name, refused = match.group(1), match.group(2)
        return Unmet(
            f"{name}-refused",
            {name: refused},
            Text.of(msg("unmet.refused", fact=_label(name), refused=refused)),
        )
    if match := _IN.match(part) or _EQUALS.match(part):
        name = match.group(1)
        accepted = _QUOTED.findall(match.group(2)) or [match.group(2)]
        actual = _fact(outcome, name)
        listed = Both("、".join(accepted), ", ".join(accepted))
        return Unmet(
            f"{name}-not-accepted",
            {name: actual, "accepted": accepted},
            Text.of(msg("unmet.not_accepted", fact=_label(name), actual=actual, accepted=listed)),
        )
    if match := _ATTRIBUTE.match(part):
        name = match.group(1)
        return Unmet(
            "attribute-missing",
            {"attribute": name},
            Text.of(msg("unmet.attribute_missing", name=name)),
        )
    return Unmet(
        "condition-not-met",
        {"condition": part},
        Text.of(msg("unmet.condition_not_met", part=part)),
    )
