"""Errors of the ledger; each carries its HTTP status."""

from creditbank.errors import Conflict, NotFound, ValidationFailed


class LedgerError(Conflict):
    slug = "ledger-error"
    title = "The ledger refused the entry"


class UnbalancedTransaction(ValidationFailed):
    slug = "unbalanced-transaction"
    title = "Postings of a transaction must sum to zero"


class InsufficientCredits(LedgerError):
    slug = "insufficient-credits"
    title = "A learner's available credits would go negative"


class LotAlreadyConverted(LedgerError):
    slug = "lot-already-converted"
    title = "A credit lot has already been converted"


class LotNotAvailable(LedgerError):
    slug = "lot-not-available"
    title = "A credit lot is not available (reversed, expired or not the learner's)"


class AlreadyReversed(LedgerError):
    slug = "already-reversed"
    title = "That journal transaction has already been reversed"


class TransactionNotFound(NotFound):
    slug = "transaction-not-found"
    title = "No such journal transaction"


class LotNotFound(NotFound):
    slug = "lot-not-found"
    title = "No such credit lot"


class CannotReverseReversal(LedgerError):
    slug = "cannot-reverse-reversal"
    title = "A reversal is not reversed; post the original entry again"
