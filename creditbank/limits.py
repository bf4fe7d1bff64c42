"""Limits that keep one client from taking the service down: request body sizes, and heavy
requests in flight per token.

How the body limit works: :class:`BodyLimitMiddleware` wraps every HTTP request's ``receive``. The
first time the application asks for body bytes, routing has already chosen the route, so the
limit is the route's: a route names its kind of body in its OpenAPI extension ``x-body-limit``
(:data:`UPLOAD` for batch and CSV uploads, :data:`VERIFY` for the public verification form and
API), and every other route gets :data:`DEFAULT` (JSON writes). A ``Content-Length`` over the
limit is refused before a byte is read; a body without one (chunked) is counted as it arrives and
refused as soon as it passes the limit. Either way the request ends in :class:`BodyTooLarge`, which
the app renders as a 413 problem, and nothing of the body is kept in memory or on disk beyond the
limit. A route that answers without reading its body (a 401) reads nothing at all.

How the heavy-request limit works: :class:`HeavySlots` counts, per token (or session cookie), the
heavy requests (batch and CSV uploads, exports) in flight in this server process; one more than
``heavy_requests_per_token`` is answered 429 with ``Retry-After`` at once, before its body is read.
"""

import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbank.auth.deps import SESSION_COOKIE
from creditbank.config import Settings
from creditbank.errors import TooManyRequests

DEFAULT = "default"
UPLOAD = "upload"
VERIFY = "verify"


def body_limit(kind: str) -> dict[str, Any]:
    """The ``openapi_extra`` of a route whose body limit is ``kind`` (documented in the schema too)."""
    return {"x-body-limit": kind}


class BodyTooLarge(HTTPException):
    """The request body is over its route's limit (``limit`` bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than this route's limit of {limit} bytes")
        self.limit = limit


def limits_of(settings: Settings) -> dict[str, int]:
    return {
        DEFAULT: settings.max_body_bytes,
        UPLOAD: settings.max_upload_bytes,
        VERIFY: settings.max_verify_bytes,
    }


class BodyLimitMiddleware:
    """Pure ASGI middleware: refuse request bodies over their route's limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, limits: dict[str, int]) -> None:
        self.app = app
        self.limits = limits

    def limit_for(self, scope: Scope) -> int:
        extra = getattr(scope.get("route"), "openapi_extra", None) or {}
        return self.limits.get(extra.get("x-body-limit", DEFAULT), self.limits[DEFAULT])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        limit = -1
        received = 0

        async def limited_receive() -> Message:
            nonlocal limit, received
            if limit < 0:  # the first read: routing has chosen the route by now
                limit = self.limit_for(scope)
                if declared is not None and declared > limit:
                    raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class HeavySlots:
    """Heavy requests in flight per caller in this process (see the module docstring)."""

    def __init__(self, per_caller: int, retry_after: int) -> None:
        self.per_caller = per_caller
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}

    @contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        """Hold one of ``caller``'s slots for the block.

        Raises:
            TooManyRequests: every slot of ``caller`` is taken.
        """
        with self._lock:
            taken = self._in_flight.get(caller, 0)
            if taken >= self.per_caller:
                raise TooManyRequests(
                    f"at most {self.per_caller} uploads or exports at once per token; wait for one to finish",
                    retry_after=self.retry_after,
                )
            self._in_flight[caller] = taken + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight[caller] - 1
                if left:
                    self._in_flight[caller] = left
                else:
                    del self._in_flight[caller]


def _caller(request: Request) -> str:
    """Who is calling, as a digest of the bearer token or of the session cookie (never the secret)."""
    credential = request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE, "")
    return hashlib.sha256(credential.encode()).hexdigest()


async def heavy_slot(request: Request) -> AsyncIterator[None]:
    """A heavy request's slot, held until its response has been sent (429 when none is free)."""
    slots: HeavySlots = request.app.state.heavy_slots
    with slots.hold(_caller(request)):
        yield


Heavy = Depends(heavy_slot)
"""Declare a route heavy: ``dependencies=[Heavy]``."""
