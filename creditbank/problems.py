"""What a failed request answers: the one mapping from exceptions to domain errors.

The app's exception handlers (``creditbank.main``) use it, and so do streamed answers that have
already sent their status when something fails (the batch report ends with the problem instead).
"""

import logging
from collections.abc import Mapping
from typing import Any

from creditbank.config import Settings
from creditbank.db import unavailability
from creditbank.errors import CreditBankError, DatabaseUnavailable, InternalError, PayloadTooLarge
from creditbank.i18n import msg
from creditbank.limits import BodyTooLarge

log = logging.getLogger("creditbank")


def domain_error_of(exc: BaseException, settings: Settings) -> CreditBankError | None:
    """The domain error that ``exc`` stands for, or None when it is a bug (answered 500).

    A body over its limit is a :class:`PayloadTooLarge`; a database that is down, restarting or
    read-only a :class:`DatabaseUnavailable` with the configured ``Retry-After``.
    """
    if isinstance(exc, CreditBankError):
        return exc
    if isinstance(exc, BodyTooLarge):
        return PayloadTooLarge(str(exc.detail), limit_bytes=exc.limit)
    reason = unavailability(exc)
    if reason is not None:
        return DatabaseUnavailable(reason, retry_after=settings.unavailable_retry_after_seconds)
    return None


def streamed_problem(exc: BaseException, settings: Settings, instance: str) -> dict[str, object]:
    """The problem document for an error met after an answer has started (logged when it is a bug)."""
    error = domain_error_of(exc, settings)
    if error is None:
        log.error("unhandled error in a streamed answer", exc_info=exc)
        error = InternalError(msg("problem_detail.internal-error"))
    return error.to_problem(instance=instance)


def accepted_values(error: Mapping[str, Any]) -> dict[str, Any]:
    """``{"accepted": [...]}`` for a validation error that lists the values it accepts (a level
    outside its outcome type's levels), else nothing: the client can show the choices."""
    context = error.get("ctx")
    accepted = context.get("accepted") if isinstance(context, Mapping) else None
    return {"accepted": list(accepted)} if isinstance(accepted, list) else {}
