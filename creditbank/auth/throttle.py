"""Per-address limits on password sign-in and registration.

How this works: the per-account lockout (:mod:`creditbank.auth.accounts`) stops guessing one
account's password, but not a spray (one or two common passwords tried over many accounts from one
address) nor one address opening accounts by the hundred. So each refused password sign-in and each
registration tried is written to ``client_attempts`` under the HMAC of the client's address
(:func:`creditbank.deps.client_address`, which reads ``X-Forwarded-For`` only from configured proxies),
and before a sign-in or a registration does anything else, :func:`admit` counts that address's rows of
the kind in the sliding window: at the limit the request is refused with ``Retry-After`` (when the
oldest counted row leaves the window), before any password is hashed. On PostgreSQL a transaction-level
advisory lock per address and kind serialises concurrent requests of one address, so a burst cannot
all pass one free place. Rows older than their window are deleted as new rows come.
"""

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from sqlalchemy import delete, func, text
from sqlmodel import Session, col, select

from creditbank.auth.models import ClientAttempt
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import utcnow
from creditbank.errors import TooManyRequests
from creditbank.i18n import msg

SIGNIN = "signin"
REGISTER = "register"


class TooManySignins(TooManyRequests):
    slug = "too-many-signins"
    title = "Too many failed sign-ins from this address: wait before trying again"


class TooManyRegistrations(TooManyRequests):
    slug = "too-many-registrations"
    title = "Too many registrations from this address: wait before trying again"


@dataclass(frozen=True)
class Limit:
    """At most ``count`` rows of ``kind`` per address within ``window_seconds``."""

    kind: str
    count: int
    window_seconds: int


def _client_hmac(key: bytes, client: str) -> str:
    return hmac_sha256(key, b"creditbank/client-address\n" + client.encode()).hex()


def _lock(session: Session, kind: str, digest: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time already
    number = int.from_bytes(hashlib.sha256(f"{kind}/{digest}".encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})


def admit(session: Session, key: bytes, client: str, limit: Limit) -> None:
    """Refuse the request when ``client`` is at ``limit``; otherwise return (and hold the address's
    lock until the transaction ends, so that the caller's :func:`record` counts before the next).

    Raises:
        TooManySignins, TooManyRegistrations: at the limit; ``retry_after`` seconds until a place frees.
    """
    digest = _client_hmac(key, client)
    _lock(session, limit.kind, digest)
    since = utcnow() - dt.timedelta(seconds=limit.window_seconds)
    count, oldest = session.exec(
        select(func.count(), func.min(ClientAttempt.at)).where(
            col(ClientAttempt.kind) == limit.kind,
            col(ClientAttempt.client_hmac) == digest,
            col(ClientAttempt.at) > since,
        )
    ).one()
    if count < limit.count:
        return
    wait = limit.window_seconds if oldest is None else (oldest - since).total_seconds()
    retry_after = max(1, math.ceil(wait))
    minutes = (retry_after + 59) // 60
    if limit.kind == SIGNIN:
        raise TooManySignins(
            msg("detail.auth.throttle.signins", minutes=minutes), retry_after=retry_after, minutes=minutes
        )
    raise TooManyRegistrations(
        msg("detail.auth.throttle.registrations", minutes=minutes), retry_after=retry_after, minutes=minutes
    )


def record(session: Session, key: bytes, client: str, limit: Limit) -> None:
    """Count one attempt of ``limit.kind`` by ``client`` (and drop rows past the window)."""
    now = utcnow()
    session.execute(
        delete(ClientAttempt).where(
            col(ClientAttempt.kind) == limit.kind,
            col(ClientAttempt.at) <= now - dt.timedelta(seconds=limit.window_seconds),
        )
    )
    session.add(ClientAttempt(kind=limit.kind, client_hmac=_client_hmac(key, client), at=now))
    session.flush()
