"""Why a row of an upload failed, was not recognised or went to review: in Chinese first, then English.

A failed row's reason names the column and what is wrong with it (from the validation error's type,
so the wording does not depend on pydantic's English), or what the service refused (no such
learner, a reference used for other content …). A rejected or reviewed row's reason is the rule
engine's explanation, which names the condition that failed.
"""

from collections.abc import Sequence
from typing import Any

from creditbank.errors import CreditBankError, problem_title
from creditbank.i18n import N_, Lang, Translator
from creditbank.outcomes.dialect import COLUMN_NAMES
from creditbank.outcomes.models import Recognition
from creditbank.outcomes.schemas import RowReport

Pair = tuple[str, str]
ZH, EN = Translator("zh"), Translator("en")

#: validation error type -> message id (``{accepted_text}``, ``{value}``, ``{level}``: the error's context)
_VALIDATION: dict[str, str] = {
    "missing": N_("row.invalid.missing"),
    "string_too_short": N_("row.invalid.string_too_short"),
    "string_too_long": N_("row.invalid.string_too_long"),
    "string_pattern_mismatch": N_("row.invalid.string_pattern_mismatch"),
    "string_type": N_("row.invalid.string_type"),
    "date_from_datetime_parsing": N_("row.invalid.date_from_datetime_parsing"),
    "date_unreadable": N_("row.invalid.date_unreadable"),
    "date_type": N_("row.invalid.date_type"),
    "decimal_parsing": N_("row.invalid.decimal_parsing"),
    "decimal_type": N_("row.invalid.decimal_type"),
    "decimal_max_places": N_("row.invalid.decimal_max_places"),
    "decimal_max_digits": N_("row.invalid.decimal_max_digits"),
    "greater_than_equal": N_("row.invalid.greater_than_equal"),
    "greater_than": N_("row.invalid.greater_than"),
    "less_than_equal": N_("row.invalid.less_than_equal"),
    "less_than": N_("row.invalid.less_than"),
    "literal_error": N_("row.invalid.literal_error"),
    "bool_parsing": N_("row.invalid.bool_parsing"),
    "extra_forbidden": N_("row.invalid.extra_forbidden"),
    "level_unknown": N_("row.invalid.level_unknown"),
    "cell_count": N_("row.invalid.cell_count"),
}

#: whole-row validation messages (pydantic ``value_error`` without a field) -> message id
_ROW_RULES: dict[str, str] = {
    "exactly one of learner_id or identity_number": N_("row.rule.one_learner"),
    "achieved_on is in the future": N_("row.rule.future"),
    "achieved_on is before 1950": N_("row.rule.before_1950"),
}

#: problem slug -> message id, for what the service refuses
_REFUSED: dict[str, str] = {
    "learner-not-found": N_("row.refused.learner-not-found"),
    "learner-erased": N_("row.refused.learner-erased"),
    "invalid-identity-number": N_("row.refused.invalid-identity-number"),
    "reference-conflict": N_("row.refused.reference-conflict"),
    "counted-once": N_("row.refused.counted-once"),
    "unstorable-value": N_("row.refused.unstorable-value"),
    "json-too-deep": N_("row.refused.json-too-deep"),
    "row-invalid": N_("row.refused.row-invalid"),
}


def _say(message: str, /, **values: Any) -> Pair:
    """Message ``message`` in Chinese and English, filled from ``values`` (left as written when a
    placeholder has no value: an error's context may lack one)."""
    return _one(ZH, message, **values), _one(EN, message, **values)


def _one(t: Translator, message: str, /, **values: Any) -> str:
    return _fill(t.gettext(message), values)


def _label(loc: list[Any]) -> Pair:
    field = str(loc[0]) if loc else ""
    if field == "attributes" and len(loc) > 1:
        return _say(N_("row.label.attribute"), name=loc[1])
    names = COLUMN_NAMES.get(field)
    # English names the column by its field; Chinese by its Chinese name and the field
    return (_one(ZH, N_("row.label.column"), name=names[0], field=field), field) if names else (field, field)


def _fill(text: str, context: dict[str, Any]) -> str:
    try:
        return text.format(**context)
    except (KeyError, IndexError, ValueError):
        return text


def validation_reason(error: dict[str, Any]) -> Pair:
    """One validation error (``loc``, ``msg``, ``type``, ``ctx``) in Chinese and English."""
    kind = str(error.get("type", ""))
    message = str(error.get("msg", ""))
    context = error.get("ctx") if isinstance(error.get("ctx"), dict) else {}
    loc = list(error.get("loc") or [])
    if not loc or (kind == "value_error" and loc == []):
        for needle, rule in _ROW_RULES.items():
            if needle in message:
                return _say(rule)
    known = _VALIDATION.get(kind)
    zh, en = _say(known, **(context or {})) if known else _say(N_("row.invalid.other"), message=message)
    if not loc:
        return zh, en
    label_zh, label_en = _label(loc)
    labelled = N_("row.labelled")
    return _one(ZH, labelled, label=label_zh, reason=zh), _one(EN, labelled, label=label_en, reason=en)


def first_error(errors: Sequence[Any], lang: Lang) -> str:
    """The first validation error of a request as people read it, in ``lang``: the field and what is
    wrong with it, said from the error's type (the texts of upload reports), not pydantic's English."""
    if not errors:
        return problem_title("validation-failed", "The request is not valid", lang)
    first = dict(errors[0])
    loc = [str(p) for p in first.get("loc", ())]
    first["loc"] = loc[1:] if loc and loc[0] in _REQUEST_PARTS else loc
    zh, en = validation_reason(first)
    return zh if lang == "zh" else en


_REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie"})


def error_reason(problem: dict[str, Any], details: Pair | None = None) -> Pair:
    """A failed row's problem document in Chinese and English (every error it lists); ``details``
    is its ``detail`` in each language when the error is at hand (else the document's own)."""
    errors = problem.get("errors")
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        pairs = [validation_reason(e) for e in errors]
        between = N_("row.separator")
        return _one(ZH, between).join(p[0] for p in pairs), _one(EN, between).join(p[1] for p in pairs)
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    detail = str(problem.get("detail") or problem.get("title") or "")
    detail_zh, detail_en = details or (detail, detail)
    refused = _REFUSED.get(slug)
    if refused is None:
        return _one(ZH, N_("row.refused.other"), detail=detail_zh), _one(
            EN, N_("row.refused.other"), detail=detail_en
        )
    if not detail:
        return _say(refused)
    zh, en = _say(refused)
    with_detail = N_("row.with_detail")
    return _one(ZH, with_detail, reason=zh, detail=detail_zh), _one(
        EN, with_detail, reason=en, detail=detail_en
    )


def explained(
    report: RowReport, recognition: Recognition | None, error: CreditBankError | None = None
) -> RowReport:
    """``report`` with its reason: for a failed row its error (``error``, whose detail is said in
    each language), for a rejected or reviewed one the rule engine's explanation (a reviewed row:
    why it needs review)."""
    if report.error is not None:
        details = (error.detail_in("zh"), error.detail_in("en")) if error is not None else None
        report.reason_zh, report.reason_en = error_reason(report.error, details)
    elif recognition is not None and recognition.status == "rejected":
        report.reason_zh, report.reason_en = recognition.explanation_zh, recognition.explanation_en
    elif recognition is not None and recognition.status == "review":
        report.reason_zh = recognition.review_reason_zh or recognition.explanation_zh
        report.reason_en = recognition.review_reason_en or recognition.explanation_en
    return report
