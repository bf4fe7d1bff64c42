"""The YAML shapes of a rule set, as pydantic models (the authoring schema).

A rule set is a folder ``rules/<set-id>/``:

- ``ruleset.yaml``: the manifest (:class:`Manifest`): id, version, bilingual title, ``effective_from``,
  policy ``source``, ``credit_hours`` (16 study hours = 1 credit) and ``defaults`` for rules;
- one or more rule files ``*.yaml`` (:class:`RuleFile`): a mapping with one key ``rules``, a list of
  rules, each with a ``kind``: ``recognition`` (:class:`RecognitionRule`), ``conversion``
  (:class:`ConversionRule`) or ``cap`` (:class:`CapRule`);
- ``tests/*.yaml``: the set's own cases (:class:`CaseFile`), outcome in, decision out.

Expressions (conditions, credit formulas, levels, fields, review conditions, count-once keys) are CEL
text; a YAML number given where an expression is expected is taken as a CEL literal. They are
type-checked by the loader against the variables of :mod:`creditbank.rule_engine.cel_env`.
Amount fields (``max_credits``, ``max_share``, ...) are written as YAML numbers or text and become
``Decimal`` through :func:`creditbank.rule_engine.amounts.to_decimal` (YAML floats go through their
text, so ``0.5`` is exactly one half).
"""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from creditbank.i18n import Message, Said, msg
from creditbank.rule_engine.amounts import to_decimal
from creditbank.rule_engine.models import OutcomeType, ReviewStage, Text

_STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

RULE_ID_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"


def error_said(error: Mapping[str, Any]) -> Said:
    """What one pydantic error says: the message a validator of ours raised (``ValueError(msg(...))``),
    said in the reader's language, else pydantic's own text."""
    raised = error.get("ctx", {}).get("error")
    reason = raised.args[0] if isinstance(raised, ValueError) and raised.args else None
    return reason if isinstance(reason, Message) else str(error.get("msg", ""))


def _cel_text(value: Any) -> Any:
    """YAML numbers where an expression is expected become CEL literals (``4`` -> ``"4"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return value


def _amount(value: Any) -> Any:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return to_decimal(value)
    return value


def _non_empty(value: Any) -> Any:
    """Refuse an empty list before its items are validated (an empty all-of/any-of is invalid)."""
    if isinstance(value, list | tuple) and not value:
        raise ValueError(msg("rules.schema.empty"))
    return value


Cel = Annotated[str, BeforeValidator(_cel_text), Field(min_length=1)]
Amount = Annotated[Decimal, BeforeValidator(_amount)]


class Source(BaseModel):
    """The policy a rule (or rule set) implements."""

    model_config = _STRICT

    document: str = Field(min_length=1, description="Title of the policy document")
    clause: str | None = Field(default=None, description="Article, clause or point")
    issuer: str | None = Field(default=None, description="Issuing authority")
    url: str | None = None
    illustrative: bool = Field(
        default=False,
        description="True when the clause is this rule set's own illustration, not a published text",
    )


class Effective(BaseModel):
    """Dates a rule applies on: ``from`` and ``until`` are both inclusive; no ``until`` = open."""

    model_config = _STRICT

    from_: date = Field(alias="from")
    until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Effective":
        if self.until is not None and self.until < self.from_:
            raise ValueError(msg("rules.schema.until_before_from"))
        return self

    def covers(self, day: date) -> bool:
        return self.from_ <= day and (self.until is None or day <= self.until)

    def overlaps(self, other: "Effective") -> bool:
        return (other.until is None or self.from_ <= other.until) and (
            self.until is None or other.from_ <= self.until
        )


class Validity(BaseModel):
    """How old an outcome may be (at ``as_of``) and what happens beyond: review or reject."""

    model_config = _STRICT

    years: int = Field(ge=1, le=100)
    action: Literal["review", "reject"] = "review"


class Review(BaseModel):
    """Manual review routing: ``always``, ``never`` or ``when`` a CEL condition holds."""

    model_config = _STRICT

    mode: Literal["always", "when", "never"] = "never"
    condition: Cel | None = None
    stages: tuple[ReviewStage, ...] | None = Field(default=None, description="Default: the set's defaults")
    reason: Text | None = None

    @model_validator(mode="after")
    def _condition_iff_when(self) -> "Review":
        if self.mode == "when" and self.condition is None:
            raise ValueError(msg("rules.schema.when_needs_condition"))
        if self.mode != "when" and self.condition is not None:
            raise ValueError(msg("rules.schema.condition_only_when"))
        if self.mode != "never" and self.reason is None:
            raise ValueError(msg("rules.schema.reason_required"))
        if self.stages is not None and not self.stages:
            raise ValueError(msg("rules.schema.stages_empty"))
        return self


class _RuleBase(BaseModel):
    model_config = _STRICT

    id: str = Field(pattern=RULE_ID_PATTERN, max_length=64)
    version: int = Field(ge=1)
    title: Text
    effective: Effective
    source: Source
    priority: int = Field(default=0, description="Higher first; ties keep file order")


class RecognitionRule(_RuleBase):
    """Turns one outcome into a credit lot (or a rejection, with ``decision: reject``)."""

    kind: Literal["recognition"]
    applies_to: tuple[OutcomeType, ...] = Field(min_length=1)
    decision: Literal["recognise", "reject"] = "recognise"
    condition: Cel = "true"
    credits: Cel = "0"
    max_credits: Amount | None = Field(default=None, ge=0, description="Per-outcome maximum")
    rounding: Literal["down", "half_up"] = "down"
    level: Cel | None = Field(
        default=None,
        description="Framework level 1-7: an integer or a CEL int expression (required to recognise)",
    )
    category: str = Field(min_length=1)
    field: Cel = Field(default="field", description="CEL string; default: the outcome's field")
    validity: Validity | None = Field(default=None, description="Default: the set's defaults")
    review: Review = Review()
    explanation: Text
    count_once_key: Cel | None = Field(default=None, description="CEL string: lots sharing it count once")

    @model_validator(mode="after")
    def _level_to_recognise(self) -> "RecognitionRule":
        if self.decision == "recognise" and self.level is None:
            raise ValueError(msg("rules.schema.needs_level"))
        return self


class LotMatcher(BaseModel):
    """Matches one lot; every given criterion must hold (at least one must be given)."""

    model_config = _STRICT

    outcome_type: tuple[OutcomeType, ...] | None = None
    course_code: tuple[str, ...] | None = None
    field: tuple[str, ...] | None = None
    category: tuple[str, ...] | None = None
    outcome_level: tuple[str, ...] | None = None
    title_contains: str | None = None
    min_level: int | None = Field(default=None, ge=1, le=7)
    min_credits: Amount | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _listify(cls, data: Any) -> Any:
        if isinstance(data, dict):
            listy = ("outcome_type", "course_code", "field", "category", "outcome_level")
            return {k: ([v] if k in listy and isinstance(v, str) else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> "LotMatcher":
        if all(v is None for v in self.__dict__.values()):
            raise ValueError(msg("rules.schema.matcher_needs_criterion"))
        for name in ("outcome_type", "course_code", "field", "category", "outcome_level"):
            value = getattr(self, name)
            if value is not None and not value:
                raise ValueError(msg("rules.schema.empty_list", name=name))
        return self


class MatchLot(BaseModel):
    model_config = _STRICT
    lot: LotMatcher


class AllOf(BaseModel):
    model_config = _STRICT
    all_of: Annotated[tuple["SourceNode", ...], BeforeValidator(_non_empty)]


class AnyOf(BaseModel):
    model_config = _STRICT
    any_of: Annotated[tuple["SourceNode", ...], BeforeValidator(_non_empty)]


class NOfSpec(BaseModel):
    model_config = _STRICT
    n: int = Field(ge=1)
    items: Annotated[tuple["SourceNode", ...], BeforeValidator(_non_empty)]

    @model_validator(mode="after")
    def _n_fits(self) -> "NOfSpec":
        if self.n > len(self.items):
            raise ValueError(msg("rules.schema.n_of_too_many", n=self.n, count=len(self.items)))
        return self


class NOf(BaseModel):
    model_config = _STRICT
    n_of: NOfSpec


def _source_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        for tag in ("all_of", "any_of", "n_of", "lot"):
            if tag in value:
                return tag
        return None
    if isinstance(value, AllOf):
        return "all_of"
    if isinstance(value, AnyOf):
        return "any_of"
    if isinstance(value, NOf):
        return "n_of"
    if isinstance(value, MatchLot):
        return "lot"
    return None


SourceNode = Annotated[
    Annotated[AllOf, Tag("all_of")]
    | Annotated[AnyOf, Tag("any_of")]
    | Annotated[NOf, Tag("n_of")]
    | Annotated[MatchLot, Tag("lot")],
    Discriminator(
        _source_tag,
        custom_error_type="source_node",
        custom_error_message="expected one of all_of, any_of, n_of or lot",
    ),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NOfSpec.model_rebuild()


class Destination(BaseModel):
    """Where converted credits go: a course, a generic course, or an elective bucket."""

    model_config = _STRICT

    kind: Literal["course", "generic_course", "elective_bucket"]
    code: str = Field(min_length=1)
    title: Text
    credits: Amount | None = Field(default=None, gt=0, description="Fixed credits (course, generic course)")
    max_credits: Amount | None = Field(default=None, gt=0, description="Bucket maximum per application")

    @model_validator(mode="after")
    def _credits_by_kind(self) -> "Destination":
        if self.kind != "elective_bucket" and self.credits is None:
            raise ValueError(msg("rules.schema.destination_needs_credits", kind=self.kind))
        if self.kind == "elective_bucket" and self.credits is not None:
            raise ValueError(msg("rules.schema.elective_bucket_credits"))
        return self


class GradeEntry(BaseModel):
    model_config = _STRICT
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


class ScoreBand(BaseModel):
    model_config = _STRICT
    min_score: Amount
    destination: str = Field(min_length=1)


class GradeMapping(BaseModel):
    """Source grade or score band -> destination grade; ``scale`` orders destination grades, best first.

    A lot is mapped by its grade first, then by its score. An ungraded lot (neither grade nor score,
    as most certificates) gets ``default``; a lot whose grade or score maps to nothing cannot be used
    by the rule. Every mapping states its ``default`` or says in ``no_default`` why there is none.
    The grade of a multi-lot item is the worst of its lots' grades.
    """

    model_config = _STRICT

    scale: tuple[str, ...] = Field(min_length=1)
    grades: tuple[GradeEntry, ...] = ()
    score_bands: tuple[ScoreBand, ...] = ()
    default: str | None = Field(default=None, description="Grade of an ungraded lot (no grade, no score)")
    no_default: Text | None = Field(
        default=None, description="Why ungraded lots cannot be used (instead of a default)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "GradeMapping":
        if not self.grades and not self.score_bands:
            raise ValueError(msg("rules.schema.grades_or_bands"))
        if (self.default is None) == (self.no_default is None):
            raise ValueError(msg("rules.schema.default_or_no_default"))
        used = [g.destination for g in self.grades] + [b.destination for b in self.score_bands]
        if self.default is not None:
            used.append(self.default)
        unknown = sorted({g for g in used if g not in self.scale})
        if unknown:
            raise ValueError(msg("rules.schema.grades_not_in_scale", grades=", ".join(unknown)))
        mins = [b.min_score for b in self.score_bands]
        if mins != sorted(mins, reverse=True):
            raise ValueError(msg("rules.schema.bands_order"))
        return self


class ConversionRule(_RuleBase):
    """Course equivalence: lots matching ``requires`` are converted to ``destination``."""

    kind: Literal["conversion"]
    requires: SourceNode
    destination: Destination
    grade_mapping: GradeMapping | None = None
    institutions: tuple[str, ...] = Field(default=(), description="Only for these institutions; empty = any")
    programmes: tuple[str, ...] = Field(default=(), description="Only for these programmes; empty = any")
    max_applications: int = Field(default=1, ge=1, description="Times the rule may apply in one plan")
    explanation: Text | None = None


class Caps(BaseModel):
    """Per-programme caps."""

    model_config = _STRICT

    max_share: Amount | None = Field(default=None, description="Share of graduation credits, 0 < x <= 1")
    max_certificates: int | None = Field(default=None, ge=0)
    certificate_types: tuple[OutcomeType, ...] = ("skill_level_certificate", "one_plus_x_certificate")
    count_once: bool = Field(default=True, description="Lots sharing a count_once_key count once")

    @model_validator(mode="after")
    def _sane(self) -> "Caps":
        if self.max_share is not None and not (Decimal(0) < self.max_share <= Decimal(1)):
            raise ValueError(msg("rules.schema.max_share", value=self.max_share))
        if self.max_certificates is not None and not self.certificate_types:
            raise ValueError(msg("rules.schema.certificates_need_types"))
        if self.max_share is None and self.max_certificates is None and not self.count_once:
            raise ValueError(msg("rules.schema.no_cap"))
        return self


class CapRule(_RuleBase):
    """Caps applied by ``convert`` to every programme while the rule is effective."""

    kind: Literal["cap"]
    caps: Caps
    explanation: Text | None = None


Rule = Annotated[RecognitionRule | ConversionRule | CapRule, Field(discriminator="kind")]


class CategoryValidity(BaseModel):
    """How long outcomes of one credit category stay convertible; ``years: null`` = no expiry."""

    model_config = _STRICT

    years: int | None = Field(ge=1, le=100, description="null: outcomes of this category never expire")
    action: Literal["review", "reject"] = "review"
    source: Source

    def as_validity(self) -> Validity | None:
        return None if self.years is None else Validity(years=self.years, action=self.action)


class Defaults(BaseModel):
    model_config = _STRICT
    validity: Validity | None = None
    validity_by_category: dict[str, CategoryValidity] = Field(
        default_factory=dict,
        description="Validity per credit category, each with its source; a rule's own validity wins",
    )
    review_stages: tuple[ReviewStage, ...] = ("district", "city")
    conversion_remainder: Literal["forfeit"] | None = Field(
        default=None,
        description=(
            "What happens to the credits of lots beyond the course they fill. forfeit: a lot is never "
            "split; it is converted whole and its credits beyond the item's are counted nowhere. "
            "Required when the set has conversion rules."
        ),
    )
    conversion_remainder_source: Source | None = None


class Manifest(BaseModel):
    """``ruleset.yaml``."""

    model_config = _STRICT

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: str = Field(min_length=1)
    title: Text
    effective_from: date
    source: tuple[Source, ...] = Field(min_length=1)
    credit_hours: int = Field(default=16, ge=1, description="Study hours per credit")
    defaults: Defaults = Defaults()
    files: tuple[str, ...] | None = Field(
        default=None, description="Rule files in order; default: every *.yaml beside the manifest, sorted"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("source"), dict):
            return {**data, "source": [data["source"]]}
        return data


class RuleFile(BaseModel):
    model_config = _STRICT
    rules: list[Any] = Field(min_length=1)


# -- test cases ---------------------------------------------------------------------------------


class ExpectRecognition(BaseModel):
    model_config = _STRICT

    status: Literal["recognised", "review", "rejected"]
    credits: Amount | None = None
    rule_id: str | None = None
    rule_version: int | None = None
    level: int | None = None
    category: str | None = None
    field: str | None = None
    needs_review: bool | None = None
    review_stages: tuple[ReviewStage, ...] | None = None
    count_once_key: str | None = None
    explanation_contains: str | None = None


class ExpectItem(BaseModel):
    model_config = _STRICT

    rule_id: str
    destination_code: str | None = None
    lots: tuple[str, ...] | None = None
    credits: Amount | None = None
    grade: str | None = None
    capped: bool | None = None


class ExpectSkip(BaseModel):
    model_config = _STRICT

    lot: str
    reason: str
    rule_id: str | None = None


class ExpectPlan(BaseModel):
    model_config = _STRICT

    total_credits: Amount
    items: tuple[ExpectItem, ...] = ()
    skipped: tuple[ExpectSkip, ...] = ()


class ConvertInput(BaseModel):
    model_config = _STRICT
    programme: dict[str, Any]
    lots: list[dict[str, Any]]


class Case(BaseModel):
    """One scenario: ``outcome`` + ``expect`` (a recognition) or ``convert`` + ``expect`` (a plan).

    ``rule`` names the rule under test. A case is *positive* for that rule when the expected result
    cites it (the recognition's rule id, a conversion item, or a cap's skip), otherwise *negative*.
    """

    model_config = _STRICT

    name: str = Field(min_length=1)
    rule: str
    as_of: date
    outcome: dict[str, Any] | None = None
    convert: ConvertInput | None = None
    expect: dict[str, Any]

    @model_validator(mode="after")
    def _one_input(self) -> "Case":
        if (self.outcome is None) == (self.convert is None):
            raise ValueError(msg("rules.schema.case_outcome_or_convert"))
        return self


class CaseFile(BaseModel):
    model_config = _STRICT
    cases: list[Any] = Field(min_length=1)
