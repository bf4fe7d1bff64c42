import datetime as dt

from pydantic import BaseModel, Field


class LearnerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="full name, e.g. 张三")
    identity_number: str = Field(
        min_length=1, max_length=40, description="resident identity number (GB 11643); lowercase x accepted"
    )
    contact: str | None = Field(None, max_length=200, description="phone or e-mail, kept in the vault")


class LearnerLookup(BaseModel):
    identity_number: str = Field(min_length=1, max_length=40, description="resident identity number")


class LearnerRef(BaseModel):
    id: str = Field(description="the bank's random learner id (lrn_...)")
    created: bool = Field(description="false when the person was already registered")


class LearnerPublic(BaseModel):
    id: str = Field(description="the bank's random learner id")
    created_at: dt.datetime
    erased: bool = Field(description="true after erasure: personal data destroyed")
    name: str | None = Field(None, description="name from the vault (null after erasure)")
    identity_number_masked: str | None = Field(None, description="e.g. 110105********002X")


class GrantCreate(BaseModel):
    institution_id: str = Field(min_length=1, max_length=40, description="the institution that may read")
    days: int = Field(30, ge=1, le=365, description="how long the grant lasts, 1 to 365 days")
    purpose: str = Field("", max_length=200, description="why, in the learner's words (shown in the archive)")


class GrantPublic(BaseModel):
    id: str = Field(description="grt_...")
    learner_id: str
    institution_id: str = Field(description="the institution that may read the whole archive")
    purpose: str
    created_at: dt.datetime
    expires_at: dt.datetime = Field(description="the grant ends at this time")
    revoked_at: dt.datetime | None = Field(description="set when the learner revoked it")
    live: bool = Field(description="true while neither expired nor revoked")


class AccountVerification(BaseModel):
    documents: str = Field(
        "",
        max_length=200,
        description="reviewers: the documents seen at the sub-centre (e.g. 居民身份证原件); "
        "institutions leave it empty",
    )


class AccountPublic(BaseModel):
    id: str = Field(description="acc_...: the code the person shows to have the account verified")
    state: str = Field(description="unverified or verified")
    learner_id: str | None = Field(None, description="the learner the account acts for, once verified")
    verified_at: dt.datetime | None = None
    verified_by: str | None = Field(None, description="the institution or reviewer account that verified it")
    verified_how: str | None = Field(None, description="institution or sub-centre")
    district: str | None = Field(
        None, description="the district the person registered in: its sub-centre verifies the account"
    )
    created_at: dt.datetime


class AccountReview(AccountPublic):
    name: str = Field(description="the name the person registered with")
    identity_number: str = Field(description="the identity number the person registered with")
    contact: str = Field(description="the phone number or e-mail address the person signs in with")
