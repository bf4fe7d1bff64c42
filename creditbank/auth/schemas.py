import datetime as dt

from pydantic import BaseModel, Field

from creditbank.auth.models import Role


class TokenCreate(BaseModel):
    role: Role = Field(description="the role the token acts in")
    subject: str | None = Field(
        None, max_length=40, description="institution, learner or reviewer account id the token acts for"
    )
    label: str = Field("", max_length=200, description="a note for whoever lists tokens")


class TokenPublic(BaseModel):
    id: str = Field(description="token id (not the secret)")
    role: Role
    subject: str | None
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="the bearer token; shown once and never stored")


class ReviewerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="the reviewer's name, e.g. 李审核")
    unit: str = Field("", max_length=100, description="e.g. 海淀区分中心 or 市级管理中心")
    district: str | None = Field(
        None,
        min_length=1,
        max_length=60,
        description="the district sub-centre the reviewer works at (name or GB/T 2260 code, e.g. 海淀区 "
        "or 110108): they see and decide only that district's first-stage reviews. Omitted: the city "
        "centre, which sees every review and decides the city stage",
    )


class ReviewerPublic(BaseModel):
    id: str = Field(description="rev_...: the subject of this reviewer's tokens")
    name: str
    unit: str
    district: str | None = Field(
        description="the district sub-centre (Chinese name), or null: the city centre"
    )
    created_at: dt.datetime
