"""The catalogue of recognised outcomes (学习成果名录) and each institution's accreditation scope."""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlmodel import Field, SQLModel

from creditbank.db import UTCDateTime, utcnow


class CatalogueVersion(SQLModel, table=True):
    """One version of the catalogue: every change (an entry added or retired) makes the next one."""

    __tablename__ = "recognised_outcome_versions"

    version: int = Field(primary_key=True, description="1, 2, ...: the catalogue after this change")
    digest: str = Field(
        sa_type=String(64), description="SHA-256 hex of the canonical JSON of the entries in force"
    )
    change: str = Field(max_length=300, description="what changed, e.g. 'added 1X-WEB-FRONT'")
    by: str | None = Field(default=None, max_length=40, description="the admin token that changed it")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CatalogueEntry(SQLModel, table=True):
    """A recognised certificate, competition, MOOC platform or exam, with the rule that credits it."""

    __tablename__ = "recognised_outcomes"

    code: str = Field(primary_key=True, max_length=60, description="e.g. 1X-WEB-FRONT, NVSC, NCRE")
    outcome_type: str = Field(sa_type=String(32), max_length=32, index=True)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    levels: list[str] = Field(
        default_factory=list, sa_type=JSON, description="levels or award tiers it is recognised at"
    )
    rule_id: str = Field(max_length=60, description="the recognition rule that credits it")
    added_in: int = Field(
        sa_column_args=[ForeignKey("recognised_outcome_versions.version")], description="catalogue version"
    )
    retired_in: int | None = Field(
        default=None,
        sa_column_args=[ForeignKey("recognised_outcome_versions.version")],
        description="catalogue version that retired it (None: in force)",
    )


class CatalogueEdit(SQLModel, table=True):
    """An entry's names, levels or rule changed by catalogue ``version``: what they were before, so
    the catalogue at any earlier version can be read back (entries are edited in place)."""

    __tablename__ = "recognised_outcome_edits"

    version: int = Field(
        primary_key=True,
        sa_column_args=[ForeignKey("recognised_outcome_versions.version")],
        description="the catalogue version the edit made",
    )
    code: str = Field(sa_column_args=[ForeignKey("recognised_outcomes.code")], max_length=60, index=True)
    before: dict[str, Any] = Field(
        sa_type=JSON, description="name_zh, name_en, levels and rule_id before the edit"
    )


class AccreditationScope(SQLModel, table=True):
    """One line of an institution's accreditation scope: an outcome type it may post, and (when
    ``catalogue_code`` is set) one catalogue entry of that type it may post. An institution with no
    lines has the default scope of its kind (:data:`creditbank.accreditation.service.DEFAULT_SCOPE`)."""

    __tablename__ = "accreditation_scopes"

    id: int | None = Field(default=None, primary_key=True)
    institution_id: str = Field(sa_column_args=[ForeignKey("institutions.id")], max_length=40, index=True)
    outcome_type: str = Field(sa_type=String(32), max_length=32)
    catalogue_code: str | None = Field(
        default=None,
        sa_column_args=[ForeignKey("recognised_outcomes.code")],
        max_length=60,
        description="one catalogue entry; None: every entry of the type",
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


EDITABLE = ("name_zh", "name_en", "levels", "rule_id")
"""What an edit may change (the code and the outcome type stay: scopes and postings name them)."""


def entry_json(entry: CatalogueEntry) -> dict[str, Any]:
    """An entry as the catalogue's digest and its diff see it."""
    return {
        "code": entry.code,
        "outcome_type": entry.outcome_type,
        "name_zh": entry.name_zh,
        "name_en": entry.name_en,
        "levels": list(entry.levels),
        "rule_id": entry.rule_id,
    }
