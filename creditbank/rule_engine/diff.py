"""Pure comparison of two rule sets: the outcomes whose recognition would change."""

import datetime as dt
from collections.abc import Iterable

from creditbank.rule_engine.engine import evaluate
from creditbank.rule_engine.loader import RuleSet
from creditbank.rule_engine.models import (
    Difference,
    OutcomeFacts,
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
