"""Institutions: schools, universities, training bodies, community colleges, open universities."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import CheckConstraint, String
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow


class InstitutionKind(StrEnum):
    vocational_school = "vocational_school"
    university = "university"
    training_body = "training_body"
    community_college = "community_college"
    open_university = "open_university"


class Institution(SQLModel, table=True):
    """A registered institution. ``id`` is the bank's own id (``ins_...``)."""

    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('vocational_school', 'university', 'training_body', 'community_college', "
            "'open_university')",
            name="kind",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    credit_code: str = Field(sa_type=String(18), unique=True, max_length=18)
    credit_code_exception: str | None = Field(
        default=None, max_length=500, description="why an admin accepted a code that fails the GB 32100 check"
    )
    credit_code_exception_by: str | None = Field(default=None, max_length=40)
    kind: str = Field(sa_type=String(32), max_length=32)
    district: str = Field(max_length=60, index=True, description="the district (Chinese name, e.g. 海淀区)")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
