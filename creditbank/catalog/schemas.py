import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from creditbank.request_models import REQUEST_BODY
from creditbank.rule_engine.models import ConversionPlan, PlanLine


class ProgrammeCreate(BaseModel):
    model_config = REQUEST_BODY

    code: str = Field(min_length=1, max_length=60, description="programme code, e.g. 510201")
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    graduation_credits: Decimal = Field(gt=0, le=1000, max_digits=7, decimal_places=1)


class ProgrammePublic(ProgrammeCreate):
    id: str
    institution_id: str
    created_at: dt.datetime


class SharedCourseCreate(BaseModel):
    model_config = REQUEST_BODY

    code: str = Field(min_length=1, max_length=60)
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    credits: Decimal = Field(gt=0, le=60, max_digits=5, decimal_places=1)
    level: int = Field(ge=1, le=7, description="framework level 1-7")
    field: str = Field("", max_length=120)
    open_to_other_schools: bool = Field(
        True, description="课程跨校共享: learners of other schools may take it"
    )
    term: str = Field("", max_length=40, description="the term it runs, e.g. 2027春")
    seats: int = Field(30, ge=0, le=100000, description="places open to learners")
    mode: Literal["online", "offline", "blended"] = Field("offline", description="how it is taught")
    enrolment_deadline: dt.date | None = Field(
        None, description="the last day a learner may ask to enrol (none: no deadline)"
    )


class SharedCoursePublic(SharedCourseCreate):
    id: str
    institution_id: str = Field(description="the host institution")
    seats_taken: int = Field(description="places held by live enrolments")
    created_at: dt.datetime


class ProgrammeLearnerCreate(BaseModel):
    model_config = REQUEST_BODY

    learner_id: str = Field(min_length=1, max_length=40, description="a learner whose record you hold")


class ProgrammeLearnerPublic(BaseModel):
    programme_id: str
    learner_id: str
    admitted_at: dt.datetime


class EnrolmentCreate(BaseModel):
    model_config = REQUEST_BODY

    programme_id: str = Field(
        min_length=1,
        max_length=40,
        description="your programme at your home institution (the result counts there)",
    )
    learner_id: str | None = Field(None, max_length=40, description="yourself (may be omitted)")


class EnrolmentApprove(BaseModel):
    model_config = REQUEST_BODY

    equivalence_id: str = Field(
        min_length=1, max_length=40, description="your course equivalence that will convert the result"
    )


class EnrolmentDecline(BaseModel):
    model_config = REQUEST_BODY

    reason: str = Field(min_length=1, max_length=500)


class EnrolmentResult(BaseModel):
    model_config = REQUEST_BODY

    achieved_on: dt.date = Field(description="the day the course was completed")
    score: Decimal | None = Field(
        None, ge=0, le=100, max_digits=5, decimal_places=2, description="score of 100"
    )
    grade: str | None = Field(None, max_length=40, description="grade as issued, e.g. 优秀/良好/合格/不合格")


class EnrolmentPublic(BaseModel):
    """One enrolment and the chain it left: request, approval, acceptance, result, conversion."""

    id: str
    course_id: str
    learner_id: str
    programme_id: str
    home_institution_id: str
    host_institution_id: str
    status: str = Field(description="requested, approved, accepted, completed or declined")
    consent_id: str = Field(description="the learner's consent given at enrolment")
    equivalence_id: str | None = Field(description="the home institution's equivalence named at approval")
    outcome_id: str | None = Field(description="the result the host posted")
    lot_id: str | None = Field(description="the credit lot the result became")
    conversion_id: str | None = Field(description="the conversion into the programme")
    result: str | None = Field(
        description="converted, not_recognised, in_review, consent_revoked or not_converted"
    )
    reason: str | None
    created_at: dt.datetime
    approved_at: dt.datetime | None
    accepted_at: dt.datetime | None
    completed_at: dt.datetime | None
    declined_at: dt.datetime | None


class EquivalenceCreate(BaseModel):
    model_config = REQUEST_BODY

    source_institution_id: str | None = Field(None, max_length=40, description="only lots from this issuer")
    requires: dict[str, Any] = Field(
        description=(
            "which lots count: {lot: {...}} or {all_of|any_of: [...]} or {n_of: {n, items}}, as in rules/"
        )
    )
    destination_kind: Literal["course", "generic_course", "elective_bucket"]
    destination_code: str = Field(min_length=1, max_length=60)
    destination_title_zh: str = Field(min_length=1, max_length=200)
    destination_title_en: str = Field(min_length=1, max_length=200)
    credits: Decimal = Field(gt=0, le=60, max_digits=5, decimal_places=1)
    grade_mapping: dict[str, Any] | None = Field(None, description="scale, grades, score_bands, default")


class EquivalencePublic(EquivalenceCreate):
    id: str
    institution_id: str
    version: int
    created_at: dt.datetime


class TransferCreate(BaseModel):
    model_config = REQUEST_BODY

    learner_id: str | None = Field(
        None, max_length=40, description="whose lots (an institution must say; a learner may omit)"
    )
    lot_ids: list[str] = Field(min_length=1, max_length=50, description="the credit lots to transfer")
    destination_institution_id: str = Field(min_length=1, max_length=40)
    programme_id: str = Field(min_length=1, max_length=40, description="the destination's programme")
    learner_consent: str | None = Field(
        None,
        min_length=4,
        max_length=40,
        description=(
            "required when an institution asks: the id (cns_...) of the consent the learner gave "
            "naming the destination and every lot"
        ),
    )


class TransferPublic(BaseModel):
    id: str
    learner_id: str
    destination_institution_id: str
    programme_id: str
    lot_ids: list[str]
    certificate_ids: list[str]
    status: str = Field(description="issued, accepted, rejected or withdrawn")
    conversion_id: str | None
    reason: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class TransferIssued(TransferPublic):
    certificates: list[dict[str, Any]] = Field(description="the signed certificates, one per lot")


class AcceptCertificates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    programme_id: str = Field(min_length=1, max_length=40, description="your programme to convert into")
    certificates: list[dict[str, Any]] = Field(min_length=1, max_length=50, description="signed certificates")
    consent_id: str | None = Field(
        None,
        min_length=4,
        max_length=40,
        description=(
            "the learner's consent (cns_...) naming your institution and every lot; "
            "when omitted, an unused one that fits is used"
        ),
    )


class RejectTransfer(BaseModel):
    reason: str = Field(min_length=2, max_length=500)


class ConversionPublic(BaseModel):
    id: str
    learner_id: str
    institution_id: str
    programme_id: str
    transfer_id: str | None
    credential_ids: list[str]
    lot_ids: list[str]
    credits: Decimal = Field(description="credits counted towards the programme")
    plan: dict[str, Any] = Field(description="converted items and skipped lots, each with its explanation")
    ledger_tx_id: str
    consent_id: str | None = Field(description="the learner's consent the conversion used")
    created_at: dt.datetime


class ConsentCreate(BaseModel):
    model_config = REQUEST_BODY

    destination_institution_id: str = Field(
        min_length=1, max_length=40, description="the institution that may convert the lots"
    )
    lot_ids: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=50, description="your credit lots it may convert"
    )


class ConsentPublic(BaseModel):
    id: str = Field(description="the consent's id (cns_...)")
    learner_id: str
    destination_institution_id: str = Field(description="the institution that may convert the lots")
    lot_ids: list[str] = Field(description="the credit lots it may convert")
    given_via: Literal["api", "archive", "transfer", "enrolment"] = Field(
        description=(
            "how the learner gave it: the API, the archive page, their own transfer request, or an "
            "enrolment in a shared course (its lot is named when the result is posted)"
        )
    )
    transfer_id: str | None = Field(description="the transfer it is bound to, if any")
    state: Literal["active", "used", "revoked"] = Field(description="active until used or revoked")
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    used_at: dt.datetime | None
    conversion_id: str | None = Field(description="the conversion that used it")

    @classmethod
    def of(cls, row: Any, state: str) -> "ConsentPublic":
        return cls.model_validate({**row.model_dump(), "state": state})


class TransferPreviewRequest(BaseModel):
    """The lots a learner (or their issuing institution) thinks of sending, and where."""

    model_config = REQUEST_BODY

    learner_id: str | None = Field(
        None, max_length=40, description="whose lots (an institution must say; a learner may omit)"
    )
    lot_ids: list[str] = Field(min_length=1, max_length=50, description="the credit lots to convert")
    destination_institution_id: str = Field(min_length=1, max_length=40)
    programme_id: str = Field(min_length=1, max_length=40, description="the destination's programme")


class ConversionPreview(BaseModel):
    """A conversion plan, lot by lot: before sending, before accepting, and in the archive after."""

    programme_id: str
    programme_code: str
    programme_title_zh: str
    programme_title_en: str
    graduation_credits: Decimal = Field(description="credits needed to graduate")
    max_convertible_credits: Decimal | None = Field(
        description="the share cap for one learner in this programme (credits), null without one"
    )
    already_converted_credits: Decimal = Field(
        description="credits this learner's earlier conversions count towards the programme"
    )
    total_credits: Decimal = Field(description="credits this plan counts towards the programme")
    lot_credits: Decimal = Field(description="credits of the lots the plan converts (they leave the account)")
    forfeited_credits: Decimal = Field(
        description="credits of those lots beyond the courses they fill, counted nowhere (remainder policy)"
    )
    remainder_policy: str = Field(description="the rule set's remainder policy (forfeit)")
    lines: list[PlanLine] = Field(description="every lot: what it becomes, or why it is skipped")
    rule_set_id: str
    rule_set_version: str
    rule_set_hash: str
    as_of: dt.date


def preview_of(programme: Any, plan: ConversionPlan) -> ConversionPreview:
    """The preview shape of a plan for a programme row."""
    return ConversionPreview(
        programme_id=programme.id,
        programme_code=programme.code,
        programme_title_zh=programme.title_zh,
        programme_title_en=programme.title_en,
        graduation_credits=programme.graduation_credits,
        max_convertible_credits=plan.max_convertible_credits,
        already_converted_credits=plan.already_converted_credits,
        total_credits=plan.total_credits,
        lot_credits=plan.lot_credits,
        forfeited_credits=plan.forfeited_credits,
        remainder_policy=plan.remainder_policy,
        lines=list(plan.lines),
        rule_set_id=plan.rule_set_id,
        rule_set_version=plan.rule_set_version,
        rule_set_hash=plan.rule_set_hash,
        as_of=plan.as_of,
    )


CreditCategory = Literal["required", "major", "general", "elective"]


class CurriculumCourseIn(BaseModel):
    model_config = REQUEST_BODY

    code: str = Field(
        min_length=1, max_length=60, description="course code (an equivalence's destination code counts here)"
    )
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(min_length=1, max_length=200)
    category: CreditCategory = Field(
        description="required (必修), major (专业), general (通识), elective (选修)"
    )
    credits: Decimal = Field(gt=0, le=60, max_digits=5, decimal_places=1)


class CurriculumIn(BaseModel):
    """A programme's whole curriculum and graduation requirements (it replaces the previous one)."""

    model_config = ConfigDict(extra="forbid")

    courses: list[CurriculumCourseIn] = Field(max_length=300)
    requirements: dict[
        CreditCategory, Annotated[Decimal, Field(ge=0, le=1000, max_digits=7, decimal_places=1)]
    ] = Field(
        description='credits needed to graduate in each category, e.g. {"required": 30, "elective": 10}'
    )


class CurriculumPublic(CurriculumIn):
    programme_id: str
    graduation_credits: Decimal


class CategoryProgressPublic(BaseModel):
    category: CreditCategory
    needed: Decimal = Field(description="the graduation requirement in this category")
    earned: Decimal = Field(
        description="credits of the home school's own curriculum courses the learner passed"
    )
    converted: Decimal = Field(description="credits converted into the programme in this category")
    planned: Decimal = Field(description="credits live shared-course enrolments would convert here")
    missing: Decimal = Field(description="needed - earned - converted - planned, at least 0")


class CourseProgressPublic(BaseModel):
    code: str
    title_zh: str
    title_en: str
    category: CreditCategory
    credits: Decimal
    state: Literal["earned", "converted", "planned", "open"]


class SuggestionPublic(BaseModel):
    """Something that would fill a gap, as the rule engine's equivalences plan it."""

    kind: Literal["lot", "shared_course", "certificate"]
    ref: str = Field(description="the lot id, the shared course id, or the recognised outcome's code")
    title: str
    category: CreditCategory
    destination_code: str
    destination_title_zh: str
    destination_title_en: str
    credits: Decimal = Field(description="credits it would count towards the programme")
    rule_id: str


class ProgressPublic(BaseModel):
    """学业进度: where a learner stands in a programme."""

    programme_id: str
    learner_id: str
    graduation_credits: Decimal
    categories: list[CategoryProgressPublic]
    courses: list[CourseProgressPublic]
    suggestions: list[SuggestionPublic]
    lots_hidden: bool = Field(
        description="true when the caller may not read the learner's other lots (no grant): none suggested"
    )
