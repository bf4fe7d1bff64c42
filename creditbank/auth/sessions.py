"""Browser sessions: a random session id in the cookie, a row on the server.

How this works:

* Signing in with an API token creates a ``web_sessions`` row (the HMAC of a fresh random session
  id, the token's id, an expiry) and puts the session id, signed, in the ``cb_session`` cookie. The
  token itself never leaves the sign-in form.
* Signing in with a learner account's password (:mod:`creditbank.auth.accounts`) creates the same
  row naming the account instead of a token. Such a session is a learner of the account's learner
  once the account is verified, and of no one before; erasing the account ends it.
* A page request carrying the cookie is the principal of the session's token while the session has
  not expired, has not been ended (sign-out deletes the row) and its token is not revoked (revoking
  the token, by an admin or by erasure, ends every session opened with it).
* The cookie admits pages only. The ``/api/v1`` routes take bearer tokens only
  (:class:`creditbank.auth.deps.RoleGuard`), so a cross-site form riding on the cookie reaches no API.
"""

import datetime as dt
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import CursorResult, delete
from sqlmodel import Session, col, select

from creditbank.auth.models import ApiToken, LearnerAccount, Role, WebSession
from creditbank.auth.service import Principal, hash_token
from creditbank.db import utcnow

SESSION_MAX_AGE_SECONDS = 8 * 3600
SESSION_PREFIX = "cbs_"
_SALT = "creditbank-session-id"


def _serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def _hash(key: bytes, session_id: str) -> str:
    return hash_token(key, session_id)


def start(
    session: Session, key: bytes, cookie_secret: bytes, token_id: str | None, account_id: str | None = None
) -> str:
    """Open a session for a live token or a learner account (exactly one); return the cookie value
    (the signed session id). Expired sessions of anyone are deleted first, so the table holds live
    sessions only."""
    purge_expired(session)
    session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_hash(key, session_id),
            token_id=token_id,
            account_id=account_id,
            expires_at=utcnow() + dt.timedelta(seconds=SESSION_MAX_AGE_SECONDS),
        )
    )
    session.flush()
    return _serializer(cookie_secret).dumps(session_id)


def _session_id(cookie_secret: bytes, cookie: str) -> str | None:
    if len(cookie) > 400:
        return None
    try:
        value = _serializer(cookie_secret).loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    return value if isinstance(value, str) and value.startswith(SESSION_PREFIX) else None


def principal(session: Session, key: bytes, cookie_secret: bytes, cookie: str) -> Principal | None:
    """The principal of a live session named by the cookie, or None. A session opened with a
    learner account's password is a learner: of the account's learner once it is verified, of no
    one (``subject`` None) before."""
    session_id = _session_id(cookie_secret, cookie)
    if session_id is None:
        return None
    digest = _hash(key, session_id)
    found = session.exec(
        select(ApiToken.id, ApiToken.role, ApiToken.subject)
        .join(WebSession, col(WebSession.token_id) == col(ApiToken.id))
        .where(
            col(WebSession.id_hash) == digest,
            col(WebSession.expires_at) > utcnow(),
            col(ApiToken.revoked_at).is_(None),
        )
    ).first()
    if found is not None:
        token_id, role, subject = found
        return Principal(role=Role(role), subject=subject, token_id=token_id)
    account = session.exec(
        select(LearnerAccount.id, LearnerAccount.learner_id)
        .join(WebSession, col(WebSession.account_id) == col(LearnerAccount.id))
        .where(
            col(WebSession.id_hash) == digest,
            col(WebSession.expires_at) > utcnow(),
            col(LearnerAccount.erased_at).is_(None),
        )
    ).first()
    if account is None:
        return None
    account_id, learner_id = account
    return Principal(role=Role.learner, subject=learner_id, token_id=None, account_id=account_id)


def end(session: Session, key: bytes, cookie_secret: bytes, cookie: str) -> bool:
    """Sign out: delete the session the cookie names. True when there was one."""
    session_id = _session_id(cookie_secret, cookie)
    if session_id is None:
        return False
    result: CursorResult[tuple[()]] = session.execute(  # type: ignore[assignment]
        delete(WebSession).where(col(WebSession.id_hash) == _hash(key, session_id))
    )
    return bool(result.rowcount)


def end_for_tokens(session: Session, token_ids: list[str]) -> None:
    """Delete the sessions of these tokens (their revocation already refuses them; this tidies)."""
    if token_ids:
        session.execute(delete(WebSession).where(col(WebSession.token_id).in_(token_ids)))


def end_for_account(session: Session, account_id: str, keep: str | None = None) -> None:
    """Delete the sessions of a learner account (on password change all but the cookie ``keep``
    names, on erasure all of them)."""
    stmt = delete(WebSession).where(col(WebSession.account_id) == account_id)
    if keep is not None:
        stmt = stmt.where(col(WebSession.id_hash) != keep)
    session.execute(stmt)


def session_hash(key: bytes, cookie_secret: bytes, cookie: str) -> str | None:
    """The stored hash of the session the cookie names (None for a bad cookie)."""
    session_id = _session_id(cookie_secret, cookie)
    return None if session_id is None else _hash(key, session_id)


def purge_expired(session: Session) -> None:
    """Delete expired sessions (they admit nothing already; this keeps the table small)."""
    session.execute(delete(WebSession).where(col(WebSession.expires_at) <= utcnow()))
