"""Errors of the rule engine, rendered as RFC 9457 problems by the service.

Problems in a rule set itself are not raised one by one: :func:`creditbank.rule_engine.loader.check`
returns every :class:`~creditbank.rule_engine.models.Finding`, and :class:`RuleSetInvalid` carries
them all when a caller asks for a rule set that cannot be used.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from creditbank.errors import CreditBankError

if TYPE_CHECKING:
    from creditbank.rule_engine.models import Finding


class RuleEngineError(CreditBankError):
    """Base of the rule engine's errors."""

    status = 422
    slug = "rule-engine-error"
    title = "The rule engine could not do this"


class RuleSetNotFound(RuleEngineError):
    status = 404
    slug = "rule-set-not-found"
    title = "No rule set at this path"


class RuleSetInvalid(RuleEngineError):
    """A rule set (or its test cases) has problems; ``findings`` lists every one of them."""

    status = 422
    slug = "rule-set-invalid"
    title = "The rule set is not valid"

    def __init__(self, findings: Sequence["Finding"], detail: str | None = None) -> None:
        self.findings = list(findings)
        shown = "; ".join(str(f) for f in self.findings[:5])
        more = f" (and {len(self.findings) - 5} more)" if len(self.findings) > 5 else ""
        super().__init__(
            detail or f"{len(self.findings)} problem(s): {shown}{more}",
            findings=[f.as_dict() for f in self.findings],
        )


class OutcomeFactsInvalid(RuleEngineError):
    status = 422
    slug = "outcome-facts-invalid"
    title = "The outcome facts are not valid"
