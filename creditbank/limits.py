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

How the heavy-request limit works: a caller (a token, or a browser session) may run at most
``heavy_requests_per_token`` heavy requests (batch and CSV uploads, exports) at once; one more is
answered 429 with ``Retry-After`` at once, before its body is read. The caller's N slots are

* on PostgreSQL (:class:`SharedSlots`), N session-level advisory locks per caller, so that the count
  holds across the worker processes of one server and across service instances on one database. Each
  process keeps one connection of its own (autocommit, outside the request pool) for its locks; a
  request takes the first free slot with ``pg_try_advisory_lock`` and gives it back with
  ``pg_advisory_unlock`` when its response has been sent. A process that dies loses its connection,
  and PostgreSQL releases its locks with it: a crashed holder's slots come back at once. If that
  connection breaks (a database restart), the slots of the requests still running in that process
  are lost with it; they are still counted in the process, and the next heavy request connects again.
* on SQLite (:class:`HeavySlots`), counted in the server process (one process serves SQLite).
"""

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, text
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditbank.auth.deps import SESSION_COOKIE
from creditbank.config import Settings
from creditbank.db import own_connection_engine
from creditbank.errors import TooManyRequests
from creditbank.i18n import msg

log = logging.getLogger(__name__)

DEFAULT = "default"
UPLOAD = "upload"
VERIFY = "verify"
APPLICATION = "application"


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
        APPLICATION: settings.application_max_bytes + 256 * 1024,
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

    def busy(self) -> TooManyRequests:
        return TooManyRequests(
            msg("detail.limits.heavy_busy", per_caller=self.per_caller),
            retry_after=self.retry_after,
        )

    @contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        """Hold one of ``caller``'s slots for the block.

        Raises:
            TooManyRequests: every slot of ``caller`` is taken.
        """
        with self._lock:
            taken = self._in_flight.get(caller, 0)
            if taken >= self.per_caller:
                raise self.busy()
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


def slot_key(caller: str, slot: int) -> int:
    """The advisory lock of ``caller``'s slot number ``slot``: a signed 64-bit number derived from
    both (the one-number form of the lock; the service's other advisory locks are fixed constants)."""
    digest = hashlib.sha256(f"creditbank/heavy-slot/{caller}/{slot}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SharedSlots(HeavySlots):
    """Heavy requests in flight per caller across processes: PostgreSQL advisory locks (see the
    module docstring)."""

    def __init__(self, engine: Engine, per_caller: int, retry_after: int) -> None:
        super().__init__(per_caller, retry_after)
        self._engine = engine
        self._own: Engine | None = None
        self._connection: Connection | None = None
        self._held: dict[str, set[int]] = {}  # caller -> slots this process holds

    def _connect(self) -> Connection:
        if self._connection is None:
            if self._own is None:
                self._own = own_connection_engine(self._engine)
            self._connection = self._own.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop(self) -> None:
        """Forget a broken connection (its locks are gone with it); the next request connects again."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # a connection to a server that is gone
                log.debug("closing the heavy-slot connection failed", exc_info=True)

    def _take(self, caller: str) -> int:
        """Take a free slot of ``caller``; return its number.

        Raises:
            TooManyRequests: every slot is taken (here or in another process).
            whatever the database raises (the connection is dropped first).
        """
        with self._lock:
            held = self._held.setdefault(caller, set())
            try:
                if len(held) < self.per_caller:
                    slot = self._try_slots(caller, held)
                    if slot is not None:
                        held.add(slot)
                        return slot
            finally:
                if not held:
                    del self._held[caller]
            raise self.busy()

    def _try_slots(self, caller: str, held: set[int]) -> int | None:
        """The first of ``caller``'s slots this process does not hold that no one else holds either.
        A connection kept from before a database restart fails on first use: one more try on a new one."""
        for attempt in (1, 2):
            fresh = self._connection is None
            try:
                connection = self._connect()
                for slot in range(self.per_caller):
                    if slot in held:  # a session's advisory locks are re-entrant: skip our own
                        continue
                    taken = connection.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": slot_key(caller, slot)}
                    ).scalar_one()
                    if taken:
                        return slot
                return None
            except Exception:
                self._drop()
                if fresh or attempt == 2:
                    raise
        return None  # pragma: no cover - the loop returns or raises

    def _give_back(self, caller: str, slot: int) -> None:
        with self._lock:
            held = self._held.get(caller, set())
            held.discard(slot)
            if not held:
                self._held.pop(caller, None)
            if self._connection is None:
                return  # the connection broke meanwhile: the lock went with it
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": slot_key(caller, slot)}
                )
            except Exception:  # the database went away: so did the lock
                log.warning("giving back a heavy-request slot failed", exc_info=True)
                self._drop()

    @contextmanager
    def hold(self, caller: str) -> Iterator[None]:
        """Hold one of ``caller``'s slots (across processes) for the block.

        Raises:
            TooManyRequests: every slot of ``caller`` is taken.
        """
        slot = self._take(caller)
        try:
            yield
        finally:
            self._give_back(caller, slot)

    def close(self) -> None:
        with self._lock:
            self._drop()
            if self._own is not None:
                self._own.dispose()
                self._own = None


def heavy_slots(engine: Engine, settings: Settings) -> HeavySlots:
    """The heavy-request slots for ``engine``'s database (see the module docstring)."""
    if engine.dialect.name == "postgresql":
        return SharedSlots(engine, settings.heavy_requests_per_token, settings.heavy_retry_after_seconds)
    return HeavySlots(settings.heavy_requests_per_token, settings.heavy_retry_after_seconds)


def _caller(request: Request) -> str:
    """Who is calling, as a digest of the bearer token or of the session cookie (never the secret)."""
    credential = request.headers.get("authorization") or request.cookies.get(SESSION_COOKIE, "")
    return hashlib.sha256(credential.encode()).hexdigest()


def heavy_slot(request: Request) -> Iterator[None]:
    """A heavy request's slot, held until its response has been sent (429 when none is free).
    A plain generator: FastAPI runs it in a worker thread, as taking a shared slot asks the database."""
    slots: HeavySlots = request.app.state.heavy_slots
    with slots.hold(_caller(request)):
        yield


Heavy = Depends(heavy_slot)
"""Declare a route heavy: ``dependencies=[Heavy]``."""
