"""Domain errors and their RFC 9457 problem+json rendering.

Every error a request can meet is a subclass of :class:`CreditBankError`. It carries its HTTP
status and a stable ``type`` slug; :func:`problem_response` renders it once, as
``application/problem+json``, with ``type`` = ``https://creditbank.example/problems/<slug>``.
Routes never raise ``HTTPException``.

The ``title`` people read comes from the message catalogues (``problem.<slug>``, in the reader's
language; the class's English ``title`` when the catalogues lack it), and so does the ``detail``:
raise with ``msg("detail.<what>", name=value)`` (a :class:`~creditbank.i18n.Message`), rendered in
the reader's language when the problem is answered; a detail left to its default is the title.
``exc.detail`` is the English text (logs, scripts); ``exc.said`` what to nest in another error's
detail so that it, too, is rendered in its reader's language. The ``type`` slug never changes
with the language.
"""

from typing import Any, ClassVar

from creditbank.i18n import DEFAULT_LANG, Lang, Message, Said, Translator

PROBLEM_BASE = "https://creditbank.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class CreditBankError(Exception):
    """Base of all domain errors. Subclasses set ``status``, ``slug`` and ``title``."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: Said | None = None, **extensions: Any) -> None:
        self.message = detail if isinstance(detail, Message) else None
        text = str(detail) if detail is not None else ""
        super().__init__(text or self.title)
        self.detail = text or self.title
        self.extensions = extensions

    @property
    def said(self) -> Said:
        """The detail as raised: a message to render in its reader's language, or a ready text."""
        return self.message if self.message is not None else self.detail

    def detail_in(self, lang: Lang) -> str:
        """The ``detail`` in ``lang``: the raised message rendered, else the title if left to its default."""
        if self.message is not None:
            return self.message.text(lang)
        if self.detail == self.title:
            return problem_title(self.slug, self.title, lang)
        return self.detail

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def to_problem(self, instance: str | None = None, lang: Lang = DEFAULT_LANG) -> dict[str, Any]:
        """The RFC 9457 problem document, its title (and a default detail) in ``lang``."""
        title = problem_title(self.slug, self.title, lang)
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": title,
            "status": self.status,
            "detail": self.detail_in(lang),
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def problem_title(slug: str, fallback: str, lang: Lang) -> str:
    """The title of problem ``slug`` in ``lang`` (catalogue id ``problem.<slug>``), else ``fallback``."""
    t = Translator(lang)
    key = f"problem.{slug}"
    return t(key) if t.has(key) else fallback


class ValidationFailed(CreditBankError):
    status = 422
    slug = "validation-failed"
    title = "The request is not valid"


class NotFound(CreditBankError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Unauthenticated(CreditBankError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class Forbidden(CreditBankError):
    status = 403
    slug = "forbidden"
    title = "Not allowed for this role or subject"


class Conflict(CreditBankError):
    status = 409
    slug = "conflict"
    title = "Conflict with the current state"


class IdempotencyKeyReused(Conflict):
    slug = "idempotency-key-reused"
    title = "Idempotency-Key was used for a different request"


class PayloadTooLarge(CreditBankError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class TooManyRequests(CreditBankError):
    """Too many requests of one kind at once; ``retry_after`` says when to try again (seconds)."""

    status = 429
    slug = "too-many-requests"
    title = "Too many requests at once"

    def __init__(self, detail: Said | None = None, *, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after = retry_after


class DatabaseUnavailable(CreditBankError):
    """The database cannot serve the request now (unreachable, restarting, read-only during a
    failover, every connection busy); nothing was written, and the same request may be retried."""

    status = 503
    slug = "database-unavailable"
    title = "The database is unavailable for a moment"

    def __init__(self, detail: Said | None = None, *, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after = retry_after


class InternalError(CreditBankError):
    status = 500
    slug = "internal-error"
    title = "Internal error"
