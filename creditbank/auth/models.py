"""API tokens. Only an HMAC of each token is stored; the token itself is shown once."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, false
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow


class Role(StrEnum):
    admin = "admin"
    reviewer = "reviewer"
    institution = "institution"
    learner = "learner"
    auditor = "auditor"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("role IN ('admin','reviewer','institution','learner','auditor')", name="role"),
    )

    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(sa_type=String(64), unique=True, description="hex HMAC-SHA-256(pepper, token)")
    role: str = Field(sa_type=String(20), max_length=20)
    subject: str | None = Field(default=None, max_length=40, description="institution or learner id")
    label: str = Field(default="", max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    pepper_previous: bool = Field(
        default=False,
        sa_column_kwargs={"server_default": false()},
        description="token_hash is still keyed by the pepper before the last rotation (re-hashed on the "
        "token's next use; revoked when that pepper is retired)",
    )


class ReviewerAccount(SQLModel, table=True):
    """A named reviewer (a person at a district sub-centre or the city centre). Reviewer tokens act
    for one account; four eyes compares accounts, never tokens."""

    __tablename__ = "reviewer_accounts"

    id: str = Field(primary_key=True, max_length=40, description="rev_...")
    name: str = Field(max_length=100, description="the person's name, e.g. 李审核")
    unit: str = Field(default="", max_length=100, description="sub-centre or centre the person works at")
    district: str | None = Field(
        default=None,
        max_length=60,
        description="the district whose sub-centre the person works at (e.g. 海淀区); NULL: the city centre",
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LearnerAccount(SQLModel, table=True):
    """A person's own account, opened on the web with a password (``/register``).

    What the person submitted (name, identity number, contact) is sealed under a data key of the
    account's own, itself sealed under the master key: nothing of it is readable in the table. The
    account is *unverified* (``learner_id`` empty) until an institution holding the person's record,
    or a reviewer who saw the documents at a sub-centre, confirms it; only then does it act for a
    learner. Sign-in looks the account up by the HMAC of its contact (phone or e-mail)."""

    __tablename__ = "learner_accounts"
    __table_args__ = (
        CheckConstraint("verified_how IS NULL OR verified_how IN ('institution','sub-centre')", name="how"),
        CheckConstraint("failed_signins >= 0", name="failed_signins"),
    )

    id: str = Field(
        primary_key=True, max_length=40, description="acc_... (the code the person shows to verify)"
    )
    login_hmac: str | None = Field(
        default=None,
        sa_type=String(64),
        unique=True,
        description="hex HMAC-SHA-256(pepper, normalised phone or e-mail); cleared on erasure",
    )
    password_hash: str = Field(
        default="", max_length=200, description="argon2id PHC string; empty after erasure"
    )
    wrapped_key: bytes | None = Field(
        default=None, sa_type=LargeBinary, description="the account's data key sealed under the master key"
    )
    sealed: bytes | None = Field(
        default=None,
        sa_type=LargeBinary,
        description="JSON of what the person submitted, sealed under the data key",
    )
    learner_id: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("learners.id")],
        unique=True,
        max_length=40,
        description="the learner the account acts for, once verified",
    )
    district: str | None = Field(
        default=None,
        max_length=60,
        description="the district the person registered in (its Chinese name, e.g. 海淀区): only that "
        "district's sub-centre (or the city centre) verifies the account at the counter; NULL for "
        "accounts opened before districts were asked (the city centre verifies them)",
    )
    verified_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_by: str | None = Field(
        default=None, max_length=40, description="the institution or reviewer account that verified it"
    )
    verified_how: str | None = Field(default=None, max_length=20, description="institution or sub-centre")
    verified_note: str = Field(default="", max_length=200, description="the documents the reviewer saw")
    failed_signins: int = Field(
        default=0,
        sa_type=Integer,
        sa_column_kwargs={"server_default": "0"},
        description="wrong passwords in a row",
    )
    locked_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    password_changed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random session id; only its HMAC is stored here.
    A session is opened with an API token or with a learner account's password (exactly one of the
    two). It ends at ``expires_at``, on sign-out (the row is deleted), when its token is revoked or
    its account erased."""

    __tablename__ = "web_sessions"
    __table_args__ = (CheckConstraint("(token_id IS NULL) <> (account_id IS NULL)", name="one_principal"),)

    id_hash: str = Field(
        sa_type=String(64), primary_key=True, description="hex HMAC-SHA-256(pepper, session id)"
    )
    token_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("api_tokens.id")], max_length=40, index=True
    )
    account_id: str | None = Field(
        default=None, sa_column_args=[ForeignKey("learner_accounts.id")], max_length=40, index=True
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)


class ClientAttempt(SQLModel, table=True):
    """One sign-in refused or one registration tried, by client address: the window of the per-address
    limits (:mod:`creditbank.auth.throttle`). The address is stored as an HMAC under a pepper-derived
    key (an IPv6 address by its /64), and rows older than the longest window are deleted as new ones come."""

    __tablename__ = "client_attempts"
    __table_args__ = (
        CheckConstraint("kind IN ('signin','register')", name="kind"),
        Index("ix_client_attempts_kind_client_at", "kind", "client_hmac", "at"),
        Index("ix_client_attempts_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20, description="signin (a refused password sign-in) or register")
    client_hmac: str = Field(sa_type=String(64), description="hex HMAC-SHA-256(pepper, client address)")
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Passkey(SQLModel, table=True):
    """A WebAuthn credential (passkey) of a learner account: signs the account in without a password.
    Only the public key is here; the private key never leaves the person's authenticator."""

    __tablename__ = "passkeys"
    __table_args__ = (CheckConstraint("sign_count >= 0", name="sign_count"),)

    id: str = Field(primary_key=True, max_length=40, description="pk_...")
    account_id: str = Field(sa_column_args=[ForeignKey("learner_accounts.id")], max_length=40, index=True)
    credential_id: str = Field(
        sa_type=String(1400), unique=True, description="base64url of the authenticator's credential id"
    )
    public_key: bytes = Field(sa_type=LargeBinary, description="the credential's COSE public key")
    sign_count: int = Field(
        default=0,
        sa_type=BigInteger,
        description="the authenticator's signature counter at its last use (0: it keeps none)",
    )
    aaguid: str = Field(default="", max_length=40, description="the authenticator model, as it says")
    label: str = Field(default="", max_length=100, description="the person's name for it")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasskeyChallenge(SQLModel, table=True):
    """A WebAuthn challenge, kept on the server until it is used (once) or expires. Bound to the
    browser that asked for it: the signed-in session (registering a passkey) or the sign-in form's
    pre-session (signing in), by the HMAC of that cookie."""

    __tablename__ = "passkey_challenges"
    __table_args__ = (CheckConstraint("purpose IN ('register','signin')", name="purpose"),)

    binding: str = Field(
        sa_type=String(64), primary_key=True, description="hex HMAC of the session or pre-session cookie"
    )
    purpose: str = Field(sa_type=String(20), primary_key=True, description="register or signin")
    challenge: bytes = Field(sa_type=LargeBinary, description="32 random bytes")
    account_id: str | None = Field(
        default=None, max_length=40, description="registering: the account the passkey is for"
    )
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
