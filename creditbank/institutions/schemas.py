import datetime as dt

from pydantic import BaseModel, Field

from creditbank.institutions.models import InstitutionKind


class InstitutionCreate(BaseModel):
    name_zh: str = Field(
        min_length=1, max_length=200, description="name in Chinese, e.g. 北京市海淀区职业学校"
    )
    name_en: str = Field(min_length=1, max_length=200, description="name in English")
    credit_code: str = Field(min_length=1, max_length=40, description="unified social credit code (GB 32100)")
    kind: InstitutionKind = Field(description="what kind of institution")
    district: str = Field(
        min_length=1,
        max_length=60,
        description="the district it belongs to (name or GB/T 2260 code, e.g. 海淀区 or 110108); "
        "its sub-centre reviews the outcomes the institution posts",
    )
    credit_code_exception: str | None = Field(
        None,
        min_length=5,
        max_length=500,
        description="admin's recorded reason to accept a code that fails the GB 32100 check",
    )


class InstitutionPublic(BaseModel):
    id: str = Field(description="the bank's id of the institution")
    name_zh: str
    name_en: str
    credit_code: str
    credit_code_exception: str | None = Field(description="why a code failing its check was accepted, if so")
    kind: InstitutionKind
    district: str
    did: str = Field(description="the institution's did:web")
    created_at: dt.datetime
