import datetime as dt

from pydantic import BaseModel, Field

from creditbank.rule_engine.models import OutcomeType as OutcomeTypeName


class CatalogueEntryCreate(BaseModel):
    code: str = Field(
        min_length=2, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="e.g. 1X-WEB-FRONT"
    )
    outcome_type: OutcomeTypeName = Field(description="the outcome type the entry is of")
    name_zh: str = Field(
        min_length=1, max_length=200, description="name in Chinese, e.g. Web前端开发职业技能等级证书"
    )
    name_en: str = Field(min_length=1, max_length=200, description="name in English")
    levels: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="levels or award tiers it is recognised at (初级/中级/高级, 一等奖/二等奖/三等奖, ...)",
    )
    rule_id: str = Field(min_length=2, max_length=60, description="the recognition rule that credits it")


class CatalogueEntryEdit(BaseModel):
    name_zh: str = Field(min_length=1, max_length=200, description="name in Chinese")
    name_en: str = Field(min_length=1, max_length=200, description="name in English")
    levels: list[str] = Field(
        default_factory=list, max_length=20, description="levels or award tiers it is recognised at"
    )
    rule_id: str = Field(min_length=2, max_length=60, description="the recognition rule that credits it")


class CatalogueEntryPublic(BaseModel):
    code: str
    outcome_type: str
    name_zh: str
    name_en: str
    levels: list[str]
    rule_id: str = Field(description="the recognition rule that credits it")
    added_in: int = Field(description="the catalogue version that added it")
    retired_in: int | None = Field(description="the catalogue version that retired it; null while in force")


class CatalogueVersionPublic(BaseModel):
    version: int
    digest: str = Field(
        description="SHA-256 hex of the RFC 8785 JSON of the entries in force at this version"
    )
    change: str
    created_at: dt.datetime


class CataloguePublic(BaseModel):
    version: int = Field(description="the catalogue version in force (0: no entry yet)")
    digest: str | None = Field(description="its SHA-256 hex")
    entries: list[CatalogueEntryPublic] = Field(description="the entries in force")


class CatalogueDiffPublic(BaseModel):
    first: int
    second: int
    added: list[dict[str, object]] = Field(description="entries in force at second, not at first")
    retired: list[dict[str, object]] = Field(description="entries in force at first, not at second")
    changed: list[dict[str, object]] = Field(
        default_factory=list,
        description="entries in force at both whose names, levels or rule were edited: code, before, after",
    )


class ScopeUpdate(BaseModel):
    outcome_types: list[OutcomeTypeName] = Field(
        default_factory=list, max_length=20, description="outcome types the institution may post, any entry"
    )
    catalogue_codes: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="single catalogue entries it may post (its type is then limited to the listed entries)",
    )


class ScopePublic(BaseModel):
    institution_id: str
    default: bool = Field(
        description="true: the default scope of the institution's kind (never set by an admin)"
    )
    outcome_types: dict[str, list[str]] = Field(
        description="outcome type -> the catalogue entries it is limited to (empty: every entry)"
    )
