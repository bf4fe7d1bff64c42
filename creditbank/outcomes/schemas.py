import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from creditbank.outcomes import registrar
from creditbank.request_models import REQUEST_BODY
from creditbank.rule_engine.models import OutcomeType

OutcomeTypeName = OutcomeType  # the one list of outcome types is in the rule engine's models

#: facts an outcome type cannot be posted without (its level, where it has levels, is checked too)
REQUIRED_FACTS: dict[str, tuple[str, ...]] = {
    "self_study_exam": ("course_code", "score"),  # the exam date is achieved_on
    "volunteer_service": ("hours",),
}


class OutcomeCreate(BaseModel):
    """One learning outcome as an institution posts it."""

    model_config = REQUEST_BODY

    learner_id: str | None = Field(None, max_length=40, description="the bank's learner id (lrn_...)")
    identity_number: str | None = Field(
        None, max_length=40, description="or the learner's resident identity number (looked up by keyed HMAC)"
    )
    learner_name: str | None = Field(
        None, max_length=100, description="with identity_number: register the learner if not yet known"
    )
    reference: str = Field(
        min_length=1,
        max_length=120,
        description="your own reference for this outcome, unique within your institution",
    )
    outcome_type: OutcomeTypeName = Field(description="kind of outcome")
    title: str = Field(
        min_length=1, max_length=300, description="course, certificate or award title as issued"
    )
    achieved_on: dt.date = Field(
        description="date achieved: YYYY-MM-DD; also YYYY/MM/DD, YYYY.MM.DD, YYYY年M月D日 or an Excel serial"
    )
    hours: Decimal | None = Field(
        None, ge=0, le=10000, max_digits=8, decimal_places=2, description="study hours (学时)"
    )
    level: str | None = Field(
        None,
        max_length=40,
        validate_default=True,
        description="certificates, awards, exams and diplomas: one of the levels of their type "
        "(五级..一级 or 初级工..高级技师; 初级/中级/高级; national/provincial or 国家级/省级; "
        "NCRE-1..NCRE-4, PETS-1..PETS-5, CET-4, CET-6; 中职/专科/本科/硕士), stored by its canonical name",
    )
    score: Decimal | None = Field(
        None, ge=0, le=1000, max_digits=7, decimal_places=2, description="numeric score"
    )
    grade: str | None = Field(None, max_length=40, description="grade as issued, e.g. 优秀/良好/合格")
    field: str | None = Field(None, max_length=120, description="field of study or trade (专业/工种)")
    course_code: str | None = Field(
        None, max_length=60, description="course code (degree courses; required for self-study exam courses)"
    )
    identity_verified: bool = Field(False, description="the learner's identity was verified at assessment")
    evidence_hash: str | None = Field(
        None, pattern=r"^sha256:[0-9a-f]{64}$", description="sha256:<hex> of the evidence document"
    )
    attributes: dict[str, str | int | bool] = Field(
        default_factory=dict,
        max_length=20,
        description="further facts the rules may read: credits (degree and self-study exam courses, "
        "diplomas), competition_id and award_tier (一等奖/二等奖/三等奖) for awards, certificate_number "
        "for vocational qualifications, years for work experience, ...",
    )

    @field_validator("achieved_on", mode="before")
    @classmethod
    def _registrar_date(cls, value: object) -> object:
        return registrar.parse_date(value)

    @field_validator("level", mode="after")
    @classmethod
    def _known_level(cls, value: str | None, info: ValidationInfo) -> str | None:
        outcome_type = info.data.get("outcome_type")
        return registrar.check_level(outcome_type, value) if isinstance(outcome_type, str) else value

    @model_validator(mode="after")
    def _one_learner(self) -> "OutcomeCreate":
        if bool(self.learner_id) == bool(self.identity_number):
            raise ValueError("give exactly one of learner_id or identity_number")

        if self.achieved_on > dt.date.today() + dt.timedelta(days=1):
            raise ValueError("achieved_on is in the future")
        if self.achieved_on.year < 1950:
            raise ValueError("achieved_on is before 1950")
        missing = [name for name in REQUIRED_FACTS.get(self.outcome_type, ()) if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.outcome_type} needs {' and '.join(missing)}")
        return self


class LedgerRef(BaseModel):
    log: str = Field(description="log id")
    index: int = Field(description="sequence number = leaf index in the log")
    leaf_hash: str | None = Field(None, description="SHA-256(0x00 || leaf), standard base64")
    transaction_id: str


class RecognitionPublic(BaseModel):
    status: str = Field(description="recognised, review, rejected, revoked or superseded")
    stage: str | None = Field(description="review stage while in review: district or city")
    credits: Decimal = Field(description="credits (proposed, while in review)")
    level: int | None = Field(description="framework level 1-7")
    category: str | None
    field: str | None
    rule_id: str | None
    rule_version: str | None
    rule_set_id: str
    rule_set_version: str
    rule_set_hash: str
    explanation_zh: str
    explanation_en: str
    review_reason_zh: str | None
    review_reason_en: str | None
    expires_on: dt.date | None
    lot_id: str | None


class OutcomePublic(BaseModel):
    id: str
    learner_id: str
    institution_id: str
    reference: str
    outcome_type: str
    title: str
    achieved_on: dt.date
    hours: Decimal | None
    level: str | None
    score: Decimal | None
    grade: str | None
    field: str | None
    course_code: str | None
    identity_verified: bool
    evidence_hash: str | None
    attributes: dict[str, Any]
    supersedes_id: str | None
    created_at: dt.datetime
    recognition: RecognitionPublic
    ledger: LedgerRef | None = Field(None, description="the journal entry that created the lot, if any")


class RowReport(BaseModel):
    row: int = Field(description="1-based row number in the upload")
    reference: str | None
    status: Literal["created", "duplicate", "error"]
    outcome_id: str | None = None
    recognition: str | None = Field(None, description="recognised, review or rejected")
    credits: Decimal | None = None
    error: dict[str, Any] | None = Field(None, description="problem details for a failed row")
    reason_zh: str | None = Field(
        None, description="why the row failed, was not recognised or went to review (Chinese)"
    )
    reason_en: str | None = Field(None, description="the same reason in English")


class BatchSummary(BaseModel):
    rows: int
    created: int
    duplicate: int
    errors: int
    recognised: int
    review: int
    rejected: int

    def add(self, status: str, recognition: str | None) -> None:
        """Count one row's report."""
        self.rows += 1
        if status == "created":
            self.created += 1
            if recognition in ("recognised", "review", "rejected"):
                setattr(self, recognition, getattr(self, recognition) + 1)
        elif status == "duplicate":
            self.duplicate += 1
        else:
            self.errors += 1


class RevokeRequest(BaseModel):
    reason: str = Field(min_length=2, max_length=500, description="why the outcome is revoked")


class ReviewDecision(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=2, max_length=500)
    credits: Decimal | None = Field(
        None,
        ge=0,
        le=100,
        max_digits=6,
        decimal_places=1,
        description="credits to grant, if not the proposed",
    )
