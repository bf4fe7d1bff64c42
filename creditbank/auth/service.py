"""Minting, checking and revoking API tokens."""

import secrets
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from creditbank.auth.models import ApiToken, ReviewerAccount, Role
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import autocommit_connection, pg_connection, transaction, translated_errors, utcnow
from creditbank.errors import NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.institutions import districts

TOKEN_PREFIX = "cbt_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and, for institutions and learners, the subject they act for.

    A learner signed in with their account's password has ``account_id`` and no token; until the
    account is verified its ``subject`` is None, and the role guards admit it nowhere but the
    account's own pages (:class:`creditbank.auth.deps.AccountGuard`)."""

    role: Role
    subject: str | None
    token_id: str | None
    account_id: str | None = None


class TokenNotFound(NotFound):
    slug = "token-not-found"
    title = "No such token"


class SubjectRequired(ValidationFailed):
    slug = "token-subject-required"
    title = "Institution, learner and reviewer tokens need a subject"


class ReviewerAccountUnknown(ValidationFailed):
    slug = "reviewer-account-unknown"
    title = "A reviewer token must name an existing reviewer account"


def hash_token(key: bytes, token: str) -> str:
    return hmac_sha256(key, token.encode()).hex()


def create_token(
    session: Session, key: bytes, role: Role, subject: str | None = None, label: str = ""
) -> tuple[ApiToken, str]:
    """Mint a token; return the stored row and the plaintext token (shown once, never stored).

    Raises:
        SubjectRequired: an institution, learner or reviewer token without a subject.
        ReviewerAccountUnknown: a reviewer token whose subject is not a reviewer account.
    """
    if role in (Role.institution, Role.learner, Role.reviewer) and not subject:
        what = "reviewer account" if role is Role.reviewer else role.value
        raise SubjectRequired(msg("detail.auth.token_must_name_acts", value=role.value, what=what))
    if role is Role.reviewer and session.get(ReviewerAccount, subject) is None:
        raise ReviewerAccountUnknown(msg("detail.auth.no_reviewer_account_create", subject=subject))
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        id=random_id("tok"),
        token_hash=hash_token(key, plaintext),
        role=role.value,
        subject=subject,
        label=label,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def authenticate(
    session: Session, key: bytes, token: str, previous_key: bytes | None = None
) -> Principal | None:
    """Return the principal of a live token, or None.

    ``previous_key`` is the token key under the pepper before the last rotation, while that pepper
    is live: a token found only under it is re-hashed under ``key`` now, in the caller's transaction
    (the plaintext token is in hand only here).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    found = _live_token(session, hash_token(key, token))
    if found is None and previous_key is not None:
        old = hash_token(previous_key, token)
        found = _live_token(session, old)
        if found is not None:
            session.execute(
                update(ApiToken)
                .where(col(ApiToken.id) == found.token_id, col(ApiToken.token_hash) == old)
                .values(token_hash=hash_token(key, token), pepper_previous=False)
            )
    return found


def authenticate_alone(
    sessions: sessionmaker[Session],
    key: bytes,
    token: str,
    previous_key: bytes | None = None,
) -> Principal | None:
    """:func:`authenticate` for a caller without a transaction of its own: on PostgreSQL one
    statement on a pooled connection in autocommit (one round trip, no session); a token found only
    under ``previous_key`` is re-hashed in a transaction of its own, as :func:`authenticate` does.

    What this answers holds when it is read: a route that acts later in a transaction of its own
    checks there that the token is still live (a revocation meanwhile is then refused, not honoured).
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with autocommit_connection(sessions) as driver:
        if driver is not None:
            with translated_errors(_PG_LIVE_TOKEN_BY_HASH), driver.cursor() as cursor:
                found = cursor.execute(_PG_LIVE_TOKEN_BY_HASH, (hash_token(key, token),)).fetchone()
            if found is not None:
                token_id, role, subject = found
                return Principal(role=Role(role), subject=subject, token_id=token_id)
            if previous_key is None:
                return None
    with contextmanager(transaction)(sessions) as session:
        return authenticate(session, key, token, previous_key)


def _live_token(session: Session, digest: str) -> Principal | None:
    driver = pg_connection(session)
    if driver is not None:  # every API call runs this: one prepared statement
        with translated_errors(_PG_LIVE_TOKEN_BY_HASH), driver.cursor() as cursor:
            cursor.execute(_PG_LIVE_TOKEN_BY_HASH, (digest,))
            found = cursor.fetchone()
        if found is None:
            return None
        token_id, role, subject = found
        return Principal(role=Role(role), subject=subject, token_id=token_id)
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(role=Role(row.role), subject=row.subject, token_id=row.id)


_PG_LIVE_TOKEN_BY_HASH = (
    "SELECT id, role, subject FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL"  # noqa: S105
)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.created_at))).all())


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token (idempotent).

    Raises:
        TokenNotFound: no token has that id.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenNotFound(msg("detail.auth.no_token", token_id=token_id))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def create_reviewer(
    session: Session, name: str, unit: str = "", district: str | None = None
) -> ReviewerAccount:
    """Create a named reviewer account (a person) at a district sub-centre, or at the city centre
    when ``district`` is None; reviewer tokens are then minted for it.

    Raises:
        UnknownDistrict: ``district`` names none of the city's districts.
    """
    place = districts.district(district).name_zh if district is not None else None
    row = ReviewerAccount(id=random_id("rev"), name=name.strip(), unit=unit.strip(), district=place)
    session.add(row)
    session.flush()
    return row


def list_reviewers(session: Session) -> list[ReviewerAccount]:
    return list(session.exec(select(ReviewerAccount).order_by(col(ReviewerAccount.created_at))).all())
