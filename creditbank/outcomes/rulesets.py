"""The published rule sets, loaded once per process.

Every set under ``rules/`` is loaded (and so checked: a broken set stops the service from
starting). Several versions of one set may be present; the one in force on a date is the version
with the latest ``effective_from`` on or before it, so a new version applies from its effective
date and never rewrites what earlier versions recognised.
"""

import datetime as dt
import threading
from collections import defaultdict
from pathlib import Path

from creditbank.errors import NotFound
from creditbank.i18n import msg
from creditbank.rule_engine import RuleSet, load_rule_set
from creditbank.rule_engine.loader import find_rule_sets

DEFAULT_SET = "beijing-pilot"


class NoRuleSetInForce(NotFound):
    slug = "no-rule-set"
    title = "No rule set is in force for that date"


class RuleBook:
    def __init__(self, root: Path) -> None:
        by_id: dict[str, list[RuleSet]] = defaultdict(list)
        for set_dir in find_rule_sets(root):
            rule_set = load_rule_set(set_dir)
            by_id[rule_set.id].append(rule_set)
        self.sets = {k: sorted(v, key=lambda s: s.manifest.effective_from) for k, v in by_id.items()}

    def in_force(self, as_of: dt.date, set_id: str = DEFAULT_SET) -> RuleSet:
        """Raises: NoRuleSetInForce."""
        candidates = [s for s in self.sets.get(set_id, []) if s.manifest.effective_from <= as_of]
        if not candidates:
            raise NoRuleSetInForce(
                msg("detail.outcomes.rulesets.no_version_rule_set", set_id=set_id, as_of=as_of)
            )
        return candidates[-1]


_books: dict[Path, RuleBook] = {}
_lock = threading.Lock()


def rule_book(root: Path) -> RuleBook:
    """The rule book for a folder, loaded on first use."""
    found = _books.get(root)
    if found is not None:  # every posting asks: no path resolution on the way
        return found
    key = root.resolve()
    with _lock:
        if key not in _books:
            _books[key] = RuleBook(key)
        _books[root] = _books[key]
        return _books[key]
