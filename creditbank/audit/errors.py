"""Errors of :mod:`creditbank.audit`.

A failed *check* is not an error: it is a :class:`~creditbank.audit.findings.Finding` in the report.
These errors mean the audit could not be set up (an unreadable state file, a malformed key).
"""

from creditbank.errors import CreditBankError


class AuditError(CreditBankError):
    """Base of every error this package raises."""

    status = 400
    slug = "audit-error"
    title = "The audit could not run"


class StateFileInvalid(AuditError):
    """The audit state file cannot be read, is not ours, or its checkpoint does not verify with the key."""

    status = 422
    slug = "audit-state-invalid"
    title = "The audit state file is not valid"
