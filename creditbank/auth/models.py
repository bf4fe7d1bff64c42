"""API tokens. Only an HMAC of each token is stored; the token itself is shown once."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, String
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
