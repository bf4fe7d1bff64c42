"""The districts of the city, each with its sub-centre (区级分中心) of the credit bank.

How this works: the bank has three tiers. The city centre (市学分银行管理中心) sees everything and
decides the second (city) stage of every review; each district has a sub-centre whose reviewers
decide the first (district) stage of the reviews of their district; member institutions
(成员单位) belong to one district. A district is named by its GB/T 2260 code or its name, and
stored by its Chinese name (the form institutions have always been registered with).

A review belongs to the district of the institution that posted the outcome
(:func:`creditbank.outcomes.review.queue`).
"""

import unicodedata
from dataclasses import dataclass

from creditbank.errors import ValidationFailed
from creditbank.i18n import msg


@dataclass(frozen=True)
class District:
    code: str  # GB/T 2260 administrative division code
    name_zh: str
    name_en: str


DISTRICTS: tuple[District, ...] = (
    District("110101", "东城区", "Dongcheng"),
    District("110102", "西城区", "Xicheng"),
    District("110105", "朝阳区", "Chaoyang"),
    District("110106", "丰台区", "Fengtai"),
    District("110107", "石景山区", "Shijingshan"),
    District("110108", "海淀区", "Haidian"),
    District("110109", "门头沟区", "Mentougou"),
    District("110111", "房山区", "Fangshan"),
    District("110112", "通州区", "Tongzhou"),
    District("110113", "顺义区", "Shunyi"),
    District("110114", "昌平区", "Changping"),
    District("110115", "大兴区", "Daxing"),
    District("110116", "怀柔区", "Huairou"),
    District("110117", "平谷区", "Pinggu"),
    District("110118", "密云区", "Miyun"),
    District("110119", "延庆区", "Yanqing"),
)

_BY_NAME = {
    key: d
    for d in DISTRICTS
    for key in (d.code, d.name_zh, d.name_en.casefold(), f"{d.name_en} district".casefold())
}


class UnknownDistrict(ValidationFailed):
    slug = "unknown-district"
    title = "No such district"


def district(name: str) -> District:
    """The district named by its code, Chinese or English name (``海淀区``, ``110108``, ``Haidian``).

    Raises:
        UnknownDistrict: the name is none of the city's districts.
    """
    key = unicodedata.normalize("NFKC", name).strip()
    found = _BY_NAME.get(key) or _BY_NAME.get(key.casefold())
    if found is None:
        known = "、".join(d.name_zh for d in DISTRICTS)
        raise UnknownDistrict(
            msg("detail.institutions.districts.district_city_one", name=name, known=known), district=name
        )
    return found
