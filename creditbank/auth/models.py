"""API tokens. Only an HMAC of each token is stored; the token itself is shown once."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, false
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


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random session id; only its HMAC is stored here.
    A session ends at ``expires_at``, on sign-out (the row is deleted) or when its token is revoked."""

    __tablename__ = "web_sessions"

    id_hash: str = Field(
        sa_type=String(64), primary_key=True, description="hex HMAC-SHA-256(pepper, session id)"
    )
    token_id: str = Field(sa_column_args=[ForeignKey("api_tokens.id")], max_length=40, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
