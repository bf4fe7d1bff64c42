"""Values as registrars write them: dates as Excel writes them and the common names of levels.

An outcome's ``achieved_on`` may come as ``2026-10-01``, ``2026/10/01``, ``2026.10.01``,
``2026年10月1日`` (one- or two-digit month and day), an Excel serial day number (``46296`` is
2026-10-01: days since 1899-12-30, the epoch Excel's 1900 date system effectively uses from March
1900 on) or a spreadsheet's date cell. Each becomes a :class:`datetime.date`; anything else is left
for the schema to refuse.

A certificate's or an award's ``level`` must be one its outcome type knows (:data:`LEVELS`), and the
names people use for them are read as the canonical one: 初级工/中级工/高级工/技师/高级技师 are the
skill levels 五级/四级/三级/二级/一级 (《国家职业技能标准》 names both), 国家级/省级 the competitions'
``national``/``provincial``. A level that matches none is refused with the accepted values, so a typo
never becomes a permanent 未予认定 record.
"""

import datetime as dt
import re
import unicodedata
from typing import Final

from pydantic_core import PydanticCustomError

EXCEL_EPOCH: Final = dt.date(1899, 12, 30)
#: Excel serials accepted as dates: 1950-01-01 (18264) to 9999-12-31 (2958465), five to seven digits.
EXCEL_SERIALS: Final = range(18264, 2958466)

_SEPARATED = re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})$")
_CHINESE = re.compile(r"^([0-9]{4})\s*年\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日?$")
_NUMBER = re.compile(r"^-?[0-9]+(?:\.[0-9]*)?$")
_TIME_PART = re.compile(  # a date cell exported with its (midnight) time: 2026/10/1 0:00
    r"^([0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2})[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?$"
)

#: outcome type -> canonical level -> the other names it is written as
LEVELS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "skill_level_certificate": {
        "五级": ("初级工", "5级", "五级/初级工", "初级工/五级"),
        "四级": ("中级工", "4级", "四级/中级工", "中级工/四级"),
        "三级": ("高级工", "3级", "三级/高级工", "高级工/三级"),
        "二级": ("技师", "2级", "二级/技师", "技师/二级"),
        "一级": ("高级技师", "1级", "一级/高级技师", "高级技师/一级"),
    },
    "one_plus_x_certificate": {
        "初级": ("初级证书", "elementary", "basic"),
        "中级": ("中级证书", "intermediate"),
        "高级": ("高级证书", "advanced"),
    },
    "competition_award": {
        "national": ("国家级", "全国", "国赛"),
        "provincial": ("省级", "省（市）级", "省(市)级", "省部级", "市级", "省赛"),
    },
    # the exam and its level: 全国计算机等级考试 (NCRE), 全国英语等级考试 (PETS), 大学英语四六级 (CET)
    "national_exam": {
        "NCRE-1": ("计算机一级", "全国计算机等级考试一级", "NCRE1"),
        "NCRE-2": ("计算机二级", "全国计算机等级考试二级", "NCRE2"),
        "NCRE-3": ("计算机三级", "全国计算机等级考试三级", "NCRE3"),
        "NCRE-4": ("计算机四级", "全国计算机等级考试四级", "NCRE4"),
        "PETS-1": ("全国英语等级考试一级", "PETS1"),
        "PETS-2": ("全国英语等级考试二级", "PETS2"),
        "PETS-3": ("全国英语等级考试三级", "PETS3"),
        "PETS-4": ("全国英语等级考试四级", "PETS4"),
        "PETS-5": ("全国英语等级考试五级", "PETS5"),
        "CET-4": ("大学英语四级", "CET4"),
        "CET-6": ("大学英语六级", "CET6"),
    },
    "diploma": {
        "中职": ("中专", "中等职业教育", "secondary vocational"),
        "专科": ("高职", "大专", "高职专科", "associate"),
        "本科": ("学士", "bachelor"),
        "硕士": ("研究生", "master"),
    },
}


def _key(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


_SYNONYMS: Final[dict[str, dict[str, str]]] = {
    kind: {_key(name): canonical for canonical, names in levels.items() for name in (canonical, *names)}
    for kind, levels in LEVELS.items()
}


def accepted_levels(outcome_type: str) -> list[str]:
    """The levels of this outcome type as a person reads them, each with its common other name
    (``五级/初级工``); empty when the type's level is free text."""
    return [
        f"{canonical}/{names[0]}" if names else canonical
        for canonical, names in LEVELS.get(outcome_type, {}).items()
    ]


def check_level(outcome_type: str, level: str | None) -> str | None:
    """``level`` by its canonical name.

    Raises:
        PydanticCustomError: ``level_unknown`` (context: ``level``, ``outcome_type``, ``accepted``)
            when the type has levels and ``level`` is missing or none of them.
    """
    if outcome_type not in LEVELS:
        return level
    canonical = canonical_level(outcome_type, level or "")
    if canonical is None:
        accepted = accepted_levels(outcome_type)
        raise PydanticCustomError(
            "level_unknown",
            "{level} is not a level of {outcome_type}; accepted: {accepted_text}",
            {
                "level": repr(level) if level else "no level",
                "outcome_type": outcome_type,
                "accepted": accepted,
                "accepted_text": ", ".join(accepted),
            },
        )
    return canonical


def canonical_level(outcome_type: str, level: str) -> str | None:
    """The canonical level ``level`` names for ``outcome_type``; the value itself for a type whose
    levels are free text; None when the type has levels and this is none of them."""
    synonyms = _SYNONYMS.get(outcome_type)
    if synonyms is None:
        return level
    return synonyms.get(_key(level))


def parse_date(value: object) -> object:
    """A date from what a registrar's file holds (see the module docstring); any other value as it is."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(value, str(value))
    if not isinstance(value, str):
        return value
    text = unicodedata.normalize("NFKC", value).strip()
    timed = _TIME_PART.match(text)
    if timed:
        text = timed.group(1)
    match = _SEPARATED.match(text) or _CHINESE.match(text)
    if match:
        year, month, day = (int(part) for part in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            return value
    if _NUMBER.match(text):
        return _serial(float(text), text)  # an Excel serial; raises for any other number
    return value


def _serial(number: float, shown: str) -> dt.date:
    """An Excel serial day number as a date.

    Raises:
        ValueError: not a whole number of days from 1950 to 9999 (so a number is never read as
            seconds since 1970, as pydantic would).
    """
    if not float(number).is_integer() or int(number) not in EXCEL_SERIALS:
        raise PydanticCustomError(
            "date_unreadable",
            "{value} is not a date: write YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日 or an Excel date",
            {"value": shown},
        )
    return EXCEL_EPOCH + dt.timedelta(days=int(number))
