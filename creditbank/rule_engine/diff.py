"""Pure comparison of two rule sets: the outcomes whose recognition would change."""

import datetime as dt
from collections.abc import Iterable

from creditbank.i18n import Both, Message, Translator, msg
from creditbank.rule_engine.engine import evaluate
from creditbank.rule_engine.loader import RuleSet
from creditbank.rule_engine.models import (
    Difference,
    OutcomeFacts,
    Recognition,
)

#: Recognition fields compared by :func:`diff` (the rule-set hash always differs and is left out).
DIFF_FIELDS: tuple[str, ...] = (
    "status",
    "credits",
    "level",
    "category",
    "field",
    "rule_id",
    "rule_version",
    "review_stages",
    "expires_on",
    "count_once_key",
)


def status_said(status: str) -> Both:
    """A recognition status for people, its coded value kept beside the Chinese (for scripts)."""
    return Both(f"{Translator('zh').label('status', status)}（{status}）", status)


def _side(rec: Recognition) -> Message:
    return msg(
        "rules.diff.side",
        status=status_said(rec.status),
        credits=rec.credits,
        rule=rec.rule_id,
        version=rec.rule_version,
    )


def said(difference: Difference) -> Message:
    """What changes for one outcome, said in the reader's language: the fields, then old -> new."""
    changed = ", ".join(difference.changed)
    return msg("rules.diff.change", changed=changed, old=_side(difference.old), new=_side(difference.new))


def diff(old: RuleSet, new: RuleSet, outcomes: Iterable[OutcomeFacts], as_of: dt.date) -> list[Difference]:
    """The outcomes that ``new`` would recognise differently from ``old`` on ``as_of``.

    Pure: nothing is stored. Raises nothing for valid inputs.
    """
    differences: list[Difference] = []
    for index, outcome in enumerate(outcomes):
        before = evaluate(old, outcome, as_of)
        after = evaluate(new, outcome, as_of)
        changed = tuple(name for name in DIFF_FIELDS if getattr(before, name) != getattr(after, name))
        if changed:
            differences.append(
                Difference(index=index, outcome_id=outcome.outcome_id, changed=changed, old=before, new=after)
            )
    return differences
