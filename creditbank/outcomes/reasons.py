"""Why a row of an upload failed, was not recognised or went to review: in Chinese first, then English.

A failed row's reason names the column and what is wrong with it (from the validation error's type,
so the wording does not depend on pydantic's English), or what the service refused (no such
learner, a reference used for other content …). A rejected or reviewed row's reason is the rule
engine's explanation, which names the condition that failed.
"""

from typing import Any

from creditbank.outcomes.dialect import COLUMN_NAMES
from creditbank.outcomes.models import Recognition
from creditbank.outcomes.schemas import RowReport

Pair = tuple[str, str]

#: validation error type -> (zh, en); ``{accepted}`` and ``{value}`` come from the error's context
_VALIDATION: dict[str, Pair] = {
    "missing": ("必填，不能缺少", "is required"),
    "string_too_short": ("不能为空", "must not be empty"),
    "string_too_long": ("过长", "is too long"),
    "string_pattern_mismatch": ("格式不正确", "has the wrong format"),
    "string_type": ("应为文字", "must be text"),
    "date_from_datetime_parsing": (
        "日期无法识别（可写 2026-10-01、2026/10/01、2026年10月1日、2026.10.01 或 Excel 日期）",
        "is not a date (write 2026-10-01, 2026/10/01, 2026年10月1日, 2026.10.01 or an Excel date)",
    ),
    "date_unreadable": (
        "“{value}”不是日期（可写 2026-10-01、2026/10/01、2026年10月1日、2026.10.01 或 Excel 日期）",
        "'{value}' is not a date (write 2026-10-01, 2026/10/01, 2026年10月1日, 2026.10.01 or an Excel date)",
    ),
    "date_type": ("应为日期", "must be a date"),
    "decimal_parsing": ("应为数字", "must be a number"),
    "decimal_type": ("应为数字", "must be a number"),
    "decimal_max_places": ("小数位过多", "has too many decimal places"),
    "decimal_max_digits": ("数字过长", "has too many digits"),
    "greater_than_equal": ("数值过小", "is too small"),
    "greater_than": ("数值过小", "is too small"),
    "less_than_equal": ("数值过大", "is too large"),
    "less_than": ("数值过大", "is too large"),
    "literal_error": ("不是可接受的值", "is not one of the accepted values"),
    "bool_parsing": ("应为 是/否", "must be yes or no"),
    "extra_forbidden": ("不是成果的字段", "is not a field of an outcome"),
    "level_unknown": (
        "{level} 不是此类成果的等级；可接受：{accepted_text}",
        "{level} is not a level of this outcome type; accepted: {accepted_text}",
    ),
    "cell_count": ("该行单元格数与表头不一致", "the row has more or fewer cells than the header"),
}

#: whole-row validation messages (pydantic ``value_error`` without a field) -> (zh, en)
_ROW_RULES: dict[str, Pair] = {
    "exactly one of learner_id or identity_number": (
        "学习者编号与身份证号须且只能填一项",
        "give exactly one of learner id or identity number",
    ),
    "achieved_on is in the future": ("取得日期晚于今天", "the date achieved is in the future"),
    "achieved_on is before 1950": ("取得日期早于 1950 年", "the date achieved is before 1950"),
}

#: problem slug -> (zh, en) for what the service refuses
_REFUSED: dict[str, Pair] = {
    "learner-not-found": (
        "找不到该学习者（请先登记，或同时填写身份证号与姓名）",
        "no such learner (register them first, or give the identity number with the name)",
    ),
    "learner-erased": ("该学习者的档案已注销", "the learner's record was erased"),
    "invalid-identity-number": ("身份证号无效（校验位或出生日期不符）", "not a valid identity number"),
    "reference-conflict": (
        "该机构编号已用于内容不同的成果（更正请用更正功能）",
        "this reference was used for an outcome with other content (use a correction)",
    ),
    "counted-once": ("同一赛项已计过学分，只计一次", "this competition was already counted once"),
    "unstorable-value": ("数据库无法保存该行的某个值", "the database refused a value of this row"),
    "json-too-deep": ("嵌套层数过多", "nested too deeply"),
    "row-invalid": ("该行无效", "the row is not valid"),
}


def _label(loc: list[Any]) -> Pair:
    field = str(loc[0]) if loc else ""
    if field == "attributes" and len(loc) > 1:
        return f"属性 {loc[1]}", f"attribute {loc[1]}"
    names = COLUMN_NAMES.get(field)
    return (f"{names[0]}（{field}）", field) if names else (field, field)


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
                return rule
    pair = _VALIDATION.get(kind)
    if pair is None:
        zh, en = f"不符合要求：{message}", message
    else:
        zh, en = _fill(pair[0], context or {}), _fill(pair[1], context or {})
    if not loc:
        return zh, en
    label_zh, label_en = _label(loc)
    return f"{label_zh}：{zh}", f"{label_en}: {en}"


def error_reason(problem: dict[str, Any]) -> Pair:
    """A failed row's problem document in Chinese and English (every error it lists)."""
    errors = problem.get("errors")
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        pairs = [validation_reason(e) for e in errors]
        return "；".join(p[0] for p in pairs), "; ".join(p[1] for p in pairs)
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    detail = str(problem.get("detail") or problem.get("title") or "")
    pair = _REFUSED.get(slug)
    if pair is None:
        return f"出错：{detail}", detail
    if not detail:
        return pair
    return f"{pair[0]}（{detail}）", f"{pair[1]} ({detail})"


def explained(report: RowReport, recognition: Recognition | None) -> RowReport:
    """``report`` with its reason: for a failed row its error, for a rejected or reviewed one the
    rule engine's explanation (a reviewed row: why it needs review)."""
    if report.error is not None:
        report.reason_zh, report.reason_en = error_reason(report.error)
    elif recognition is not None and recognition.status == "rejected":
        report.reason_zh, report.reason_en = recognition.explanation_zh, recognition.explanation_en
    elif recognition is not None and recognition.status == "review":
        report.reason_zh = recognition.review_reason_zh or recognition.explanation_zh
        report.reason_en = recognition.review_reason_en or recognition.explanation_en
    return report
