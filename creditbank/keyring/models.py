"""Key-check values: proof, kept in the database, of which master key and pepper it was written with."""

import datetime as dt

from sqlalchemy import LargeBinary, String
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow


class SecretCheck(SQLModel, table=True):
    """One row per secret: a value only the right secret reproduces or opens."""

    __tablename__ = "secret_checks"

    name: str = Field(primary_key=True, sa_type=String(20), description="master-key or pepper")
    value: bytes = Field(
        sa_type=LargeBinary,
        description="master-key: a constant sealed under the key (AES-GCM); pepper: an HMAC of a constant",
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
