"""What a learner states about each kind of outcome when applying (the form adapts to the type).

Every application asks for the title, the date, who issued it and the evidence. Beyond those, each
outcome type has its own facts, the ones the pilot's rules read for it (``rules/beijing-pilot``):
hours for courses, whether a MOOC's platform verified the learner's identity, the level for
certificates, awards and exams, the competition for an award, the years for work experience, the
course code, score and credits for a self-study exam, and so on.
:data:`FIELDS` lists them per type, each marked required or optional; the form shows only the chosen
type's, and :func:`facts_of` keeps only those (a field of another type sent anyway is dropped) and
refuses an application that lacks a required one, whichever way it came (page or API).

A field is stored where the rules read it: the outcome's own columns (hours, level, score, grade,
field, course code, the identity check) or its attributes (credits, competition, award tier, years,
certificate number).
"""

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from creditbank.outcomes.registrar import LEVELS
from creditbank.rule_engine.models import AWARD_TIERS

COLUMNS: Final = ("hours", "level", "score", "grade", "field", "course_code", "identity_verified")
"""Fields stored in the outcome's columns; the others go to its attributes."""


@dataclass(frozen=True)
class ClaimField:
    """One fact of an outcome type as the form asks for it."""

    name: str
    required: bool = False
    kind: str = "text"  # text | number | choice
    choices: tuple[str, ...] = ()
    max_length: int = 120
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    step: str = "any"
    labelled: bool = False  # the choices are said through the catalogue (applications.choice.<name>.<value>)


def _required(field: ClaimField) -> ClaimField:
    return replace(field, required=True)


def _levels(outcome_type: str) -> ClaimField:
    return ClaimField("level", required=True, kind="choice", choices=tuple(LEVELS[outcome_type]))


HOURS = ClaimField("hours", kind="number", minimum=Decimal("0.5"), maximum=Decimal(10000), step="0.5")
SCORE = ClaimField("score", kind="number", minimum=Decimal(0), maximum=Decimal(1000), step="0.5")
CREDITS = ClaimField("credits", kind="number", minimum=Decimal("0.5"), maximum=Decimal(60), step="0.5")
YEARS = ClaimField("years", kind="number", minimum=Decimal("0.5"), maximum=Decimal(60), step="0.5")
FIELD = ClaimField("field")
GRADE = ClaimField("grade", max_length=40)
COURSE_CODE = ClaimField("course_code", max_length=60)
COMPETITION = ClaimField("competition_id", max_length=120)
AWARD_TIER = ClaimField("award_tier", kind="choice", choices=AWARD_TIERS)
CERTIFICATE_NUMBER = ClaimField("certificate_number", max_length=60)
# a MOOC counts only if the platform verified the learner's identity at the assessment (实名认证): the
# learner says so, the evidence shows it, and the reviewers check it (a learner's claim is always reviewed)
IDENTITY_VERIFIED = ClaimField(
    "identity_verified", required=True, kind="choice", choices=("yes", "no"), max_length=3, labelled=True
)

FIELDS: Final[dict[str, tuple[ClaimField, ...]]] = {
    "degree_course": (_required(CREDITS), COURSE_CODE, SCORE, GRADE, FIELD),
    "training_course": (_required(HOURS), FIELD),
    "skill_level_certificate": (_levels("skill_level_certificate"), FIELD, CERTIFICATE_NUMBER),
    "one_plus_x_certificate": (_levels("one_plus_x_certificate"), FIELD, CERTIFICATE_NUMBER),
    "mooc": (_required(HOURS), _required(SCORE), IDENTITY_VERIFIED, FIELD),
    "community_course": (_required(HOURS), FIELD),
    "competition_award": (_levels("competition_award"), _required(COMPETITION), AWARD_TIER, FIELD),
    "work_experience": (_required(YEARS), FIELD),
    "self_study_exam": (_required(COURSE_CODE), _required(SCORE), _required(CREDITS)),
    "national_exam": (_levels("national_exam"), SCORE),
    "vocational_qualification": (_required(CERTIFICATE_NUMBER), FIELD),
    "diploma": (_levels("diploma"), _required(CREDITS), FIELD),
    "volunteer_service": (_required(HOURS),),
}
"""Each outcome type's own fields, in the order the form shows them."""
NAMES: Final = tuple(sorted({f.name for fields in FIELDS.values() for f in fields}))
"""Every type-specific field name (the form and the API accept each)."""


def fields_of(outcome_type: str) -> tuple[ClaimField, ...]:
    """The type's own fields (none for a type the rules do not know)."""
    return FIELDS.get(outcome_type, ())


def _number(field: ClaimField, text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if field.minimum is not None and value < field.minimum:
        return None
    if field.maximum is not None and value > field.maximum:
        return None
    return value


def facts_of(outcome_type: str, given: dict[str, str]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The type's own facts from what was sent (stripped; empty ones left out; fields of other
    types dropped), and the problems found, one per field, shaped like pydantic's errors:
    ``missing`` (a required field left empty), ``decimal_parsing`` or ``number_range`` (a number that
    is not one, or out of range), ``enum`` (a value not among the choices), ``string_too_long``."""
    facts: dict[str, str] = {}
    errors: list[dict[str, Any]] = []

    def problem(name: str, kind: str, value: str) -> None:
        errors.append({"loc": ("body", name), "msg": kind, "type": kind, "input": value})

    for field in fields_of(outcome_type):
        value = given.get(field.name, "").strip()
        if not value:
            if field.required:
                problem(field.name, "missing", value)
            continue
        if len(value) > field.max_length:
            problem(field.name, "string_too_long", value)
        elif field.kind == "number" and _number(field, value) is None:
            problem(field.name, "decimal_parsing", value)
        elif field.kind == "choice" and field.name != "level" and value not in field.choices:
            problem(field.name, "enum", value)  # a level is read by its other names too (registrar)
        else:
            facts[field.name] = value
    return facts, errors
