"""Facts that go into the rule engine and the results that come out of it.

These are plain, immutable values (frozen pydantic models): the engine never touches a database.
The outcomes service builds an :class:`OutcomeFacts` from a posted outcome, calls
:func:`~creditbank.rule_engine.engine.evaluate` and stores the :class:`Recognition` (citing rule id,
rule version and rule-set hash) as a credit lot; the catalogue service builds :class:`LotFacts` and a
:class:`ProgrammeFacts` and calls :func:`~creditbank.rule_engine.conversion.convert`.

Credits are ``Decimal`` in half-credit steps; framework levels are 1..7 on the pilot's
qualification framework. The YAML shapes of rule sets are in :mod:`creditbank.rule_engine.schemas`.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, NewType, get_args

from pydantic import BaseModel, ConfigDict, Field

from creditbank.i18n import Both, Lang, Message, Said, text_of

RuleId = NewType("RuleId", str)
LotId = NewType("LotId", str)
OutcomeId = NewType("OutcomeId", str)

OutcomeType = Literal[
    "degree_course",
    "training_course",
    "skill_level_certificate",
    "one_plus_x_certificate",
    "mooc",
    "community_course",
    "competition_award",
    "work_experience",
    "self_study_exam",
    "national_exam",
    "vocational_qualification",
    "diploma",
    "volunteer_service",
]
#: The outcome types, in order (the one list: everything else takes it from here).
OUTCOME_TYPES: tuple[OutcomeType, ...] = get_args(OutcomeType)
#: Outcome types that count as certificates under a programme's ``max_certificates`` cap by default.
CERTIFICATE_TYPES: tuple[OutcomeType, ...] = ("skill_level_certificate", "one_plus_x_certificate")

OUTCOME_TYPE_LABELS: dict[str, tuple[str, str]] = {
    "degree_course": ("学历教育课程", "degree course"),
    "training_course": ("非学历培训课程", "training course"),
    "skill_level_certificate": ("职业技能等级证书", "vocational skill level certificate"),
    "one_plus_x_certificate": ("1+X 职业技能等级证书", "1+X certificate"),
    "mooc": ("在线开放课程（慕课）", "MOOC"),
    "community_course": ("社区与老年教育课程", "community or elderly education course"),
    "competition_award": ("技能竞赛获奖", "skills competition award"),
    "work_experience": ("工作经历", "work experience"),
    "self_study_exam": ("自学考试单科合格", "self-study examination course pass"),
    "national_exam": ("全国性考试证书", "national examination certificate"),
    "vocational_qualification": ("职业资格证书（准入类）", "vocational qualification (licensing)"),
    "diploma": ("学历证书", "diploma"),
    "volunteer_service": ("志愿服务与社区服务", "volunteer and community service"),
}
#: Competition award tiers (一/二/三等奖), as the ``award_tier`` variable of the rules reads them.
AWARD_TIERS: tuple[str, ...] = ("一等奖", "二等奖", "三等奖")

Status = Literal["recognised", "review", "rejected"]
ReviewStage = Literal["district", "city"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Text(BaseModel):
    """A text in Chinese and English."""

    model_config = _FROZEN

    zh: str = Field(min_length=1, description="Chinese text")
    en: str = Field(min_length=1, description="English text")

    @classmethod
    def of(cls, message: Message) -> "Text":
        """A catalogue message in both languages (the texts are written once, in the catalogues)."""
        zh, en = message.pair()
        return cls(zh=zh, en=en)

    @property
    def both(self) -> Both:
        """This text as a value inside a catalogue message, said in the message's language."""
        return Both(self.zh, self.en)


class OutcomeFacts(BaseModel):
    """What the rules may look at in one learning outcome (the input of ``evaluate``)."""

    model_config = _FROZEN

    outcome_id: OutcomeId | None = Field(default=None, description="The archive's id, to name the outcome")
    outcome_type: OutcomeType = Field(description="Kind of outcome")
    title: str = Field(min_length=1, description="Course, certificate or award title as issued")
    achieved_on: date = Field(description="Date the outcome was achieved (certificate or completion date)")
    hours: Decimal | None = Field(
        default=None, ge=0, description="Study hours (学时), when the outcome has them"
    )
    level: str | None = Field(
        default=None, description="Level as issued: 初级/中级/高级, 五级..一级, national/provincial, ..."
    )
    score: Decimal | None = Field(default=None, description="Numeric score (usually 0-100)")
    grade: str | None = Field(default=None, description="Grade as issued: 优秀/良好/合格, A/B/C, ...")
    identity_verified: bool = Field(default=False, description="Learner's identity verified at assessment")
    issuer_kind: str = Field(
        default="training_body",
        description=(
            "Kind of issuing institution: university, vocational_school, training_body, "
            "community_college, open_university, skill_assessment_body, mooc_platform, "
            "competition_organiser, employer"
        ),
    )
    field: str | None = Field(default=None, description="Field of study or trade (专业/工种)")
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Further facts (JSON scalars): credits, competition_id, years, ..."
    )


class Recognition(BaseModel):
    """The engine's decision on one outcome: a proposed credit lot and why."""

    model_config = _FROZEN

    outcome_id: OutcomeId | None = Field(description="Copied from the outcome")
    status: Status = Field(description="recognised, review (needs a reviewer) or rejected")
    credits: Decimal = Field(description="Credits (0.5 steps, >= 0); proposed credits when status is review")
    raw_credits: Decimal = Field(description="Formula result before the per-rule maximum and rounding")
    level: int | None = Field(description="Framework level 1-7; None when no rule applied")
    category: str | None = Field(description="Credit category (e.g. vocational_skill)")
    field: str | None = Field(description="Field of study of the lot")
    rule_id: RuleId | None = Field(description="Rule that decided; None when no rule applied")
    rule_version: int | None = Field(description="Version of that rule")
    rule_set_id: str = Field(description="Rule set id")
    rule_set_version: str = Field(description="Rule set version")
    rule_set_hash: str = Field(description="SHA-256 hex of the whole rule set (see loader)")
    needs_review: bool = Field(description="True when a reviewer must decide")
    review_reason: Text | None = Field(description="Why a reviewer must decide")
    review_stages: tuple[ReviewStage, ...] = Field(description="Review stages in order: district, city")
    explanation: Text = Field(description="Why, in words, in Chinese and English")
    expires_on: date | None = Field(
        description="Last day the outcome is within the rule's validity (older outcomes go to review)"
    )
    count_once_key: str | None = Field(description="Lots sharing this key count once (e.g. one competition)")
    as_of: date = Field(description="Date of the evaluation")


class LotFacts(BaseModel):
    """A recognised credit lot offered for conversion to a programme."""

    model_config = _FROZEN

    lot_id: LotId = Field(description="Ledger lot id")
    outcome_type: OutcomeType = Field(description="Kind of the outcome the lot came from")
    title: str = Field(description="Title of the outcome")
    credits: Decimal = Field(ge=0, description="Credits of the lot")
    level: int = Field(ge=1, le=7, description="Framework level of the lot")
    outcome_level: str | None = Field(
        default=None, description="Level as issued (初级/中级/高级, 五级..一级)"
    )
    category: str | None = Field(default=None, description="Credit category")
    field: str | None = Field(default=None, description="Field of study")
    course_code: str | None = Field(default=None, description="Course code, for degree course lots")
    grade: str | None = Field(default=None, description="Grade as issued")
    score: Decimal | None = Field(default=None, description="Numeric score")
    achieved_on: date | None = Field(default=None, description="Date of the outcome")
    count_once_key: str | None = Field(default=None, description="From the recognition")
    already_converted: bool = Field(default=False, description="True when the ledger shows a live conversion")
    expires_on: date | None = Field(
        default=None,
        description="Day the lot's validity ends: from then on it stays in the archive but cannot convert",
    )


class ProgrammeFacts(BaseModel):
    """The programme (专业) the lots are converted into."""

    model_config = _FROZEN

    programme_id: str = Field(description="Programme id or code")
    institution_id: str = Field(description="Institution offering the programme")
    title: str = Field(default="", description="Programme title")
    graduation_credits: Decimal = Field(gt=0, description="Credits needed to graduate")
    already_converted_credits: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description="Credits this learner's earlier conversions count towards this programme",
    )
    already_converted_certificates: int = Field(
        default=0,
        ge=0,
        description="Certificate lots (of the caps' certificate types) this learner already converted here",
    )


SkipReason = Literal[
    "duplicate_lot",
    "already_converted",
    "expired",
    "counted_once",
    "cap_certificates",
    "cap_share",
    "no_equivalence",
]


class ConversionItem(BaseModel):
    """One destination credited from one or more lots."""

    model_config = _FROZEN

    rule_id: RuleId
    rule_version: int
    destination_kind: Literal["course", "generic_course", "elective_bucket"]
    destination_code: str
    destination_title: Text
    lot_ids: tuple[LotId, ...]
    credits: Decimal
    grade: str | None
    capped: bool = Field(description="True when the share cap cut the credits of this item")
    explanation: Text
    source_credits: Decimal = Field(
        default=Decimal(0), description="Credits of the lots the item uses (all of them leave the account)"
    )
    remainder: Decimal = Field(
        default=Decimal(0),
        description="Credits of those lots beyond the item's credits, forfeited (the set's remainder policy)",
    )


class SkippedLot(BaseModel):
    """A lot not used by the plan, and why."""

    model_config = _FROZEN

    lot_id: LotId
    reason: SkipReason
    rule_id: RuleId | None = Field(description="Cap rule that excluded the lot, when one did")
    explanation: Text


PlanOutcome = Literal["converted", "skipped"]


class PlanLine(BaseModel):
    """One lot of a plan, as a person reads it: what it becomes, or why it is left out."""

    model_config = _FROZEN

    lot_id: LotId
    title: str = Field(description="Title of the lot's outcome")
    outcome_type: OutcomeType
    lot_credits: Decimal = Field(description="Credits of the lot")
    outcome: PlanOutcome = Field(description="converted, or skipped (see reason)")
    rule_id: RuleId | None = Field(
        description="Conversion rule that uses the lot, or the cap rule that excluded it"
    )
    destination_kind: Literal["course", "generic_course", "elective_bucket"] | None = None
    destination_code: str | None = None
    destination_title: Text | None = None
    grade: str | None = Field(default=None, description="Destination grade of the item")
    credits: Decimal = Field(
        description="Credits this lot counts towards the programme (an item's credits, allotted lot by lot)"
    )
    remainder: Decimal = Field(description="Credits of this lot not counted anywhere (remainder policy)")
    reason: SkipReason | None = Field(default=None, description="Why the lot is skipped")
    explanation: Text


class ConversionPlan(BaseModel):
    """What ``convert`` proposes: items, skipped lots, totals and the caps it applied."""

    model_config = _FROZEN

    programme_id: str
    items: tuple[ConversionItem, ...]
    skipped: tuple[SkippedLot, ...]
    lines: tuple[PlanLine, ...] = Field(default=(), description="Every lot given, in order, converted or not")
    total_credits: Decimal = Field(description="Credits converted by this plan")
    lot_credits: Decimal = Field(
        default=Decimal(0), description="Credits of the lots the plan converts (what leaves the account)"
    )
    forfeited_credits: Decimal = Field(
        default=Decimal(0), description="lot_credits beyond the items' credits, forfeited (remainder policy)"
    )
    remainder_policy: str = Field(default="forfeit", description="The rule set's remainder policy")
    max_convertible_credits: Decimal | None = Field(
        description="Share cap in credits for this programme (graduation credits x share), None if no cap"
    )
    already_converted_credits: Decimal = Field(
        default=Decimal(0),
        description="What this learner's earlier conversions counted towards the programme",
    )
    certificates_used: int
    rule_set_id: str
    rule_set_version: str
    rule_set_hash: str
    as_of: date

    @property
    def used_lot_ids(self) -> tuple[LotId, ...]:
        return tuple(lot for item in self.items for lot in item.lot_ids)


class Difference(BaseModel):
    """One outcome that a new rule set would credit differently (``diff``)."""

    model_config = _FROZEN

    index: int = Field(description="Position of the outcome in the input")
    outcome_id: OutcomeId | None
    changed: tuple[str, ...] = Field(description="Names of the Recognition fields that differ")
    old: Recognition
    new: Recognition


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a rule set or its cases, located by file, line and rule id.

    ``said`` is what is wrong, a catalogue message (``finding.*``; a library's own words, such as a
    YAML parser's or pydantic's, are a value inside it): ``message`` is its English text (JSON,
    scripts), :meth:`text` the whole line in a language (the command line).
    """

    code: str
    said: Said
    file: str | None = None
    line: int | None = None
    rule_id: str | None = None
    severity: Severity = "error"

    @property
    def message(self) -> str:
        return text_of(self.said, "en")

    def text(self, lang: Lang) -> str:
        """``file:line: error [RULE-ID] code: message``, the message in ``lang`` (the severity and the
        code stay as they are, for scripts)."""
        where = self.file or "<rule set>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{where}: {self.severity}{rule} {self.code}: {text_of(self.said, lang)}"

    def __str__(self) -> str:
        return self.text("en")

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "rule_id": self.rule_id,
            "severity": self.severity,
        }
