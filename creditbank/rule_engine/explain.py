"""Explanation templates: the words the archive shows for "why these credits".

A rule's ``explanation`` has a Chinese and an English template in ``str.format`` syntax, e.g.
``"{hours} 学时 ÷ {credit_hours} = {raw_credits}，按半学分向下取整为 {credits} 学分"``. The loader checks
that every placeholder is one of :data:`TEMPLATE_NAMES` (a typo is a finding with its line); the
engine fills them with the values below, formatted for people (``48``, not ``48.0``). The final
explanation is the rule's title, id and version, then the filled template, then any notes (validity,
review, per-rule maximum).
"""

from string import Formatter

#: Placeholders a template may use (``attributes`` may be indexed: ``{attributes[competition]}``).
TEMPLATE_NAMES: frozenset[str] = frozenset(
    {
        "title",
        "outcome_type",
        "outcome_type_label",
        "outcome_type_label_en",
        "achieved_on",
        "as_of",
        "age_years",
        "hours",
        "level",
        "score",
        "grade",
        "field",
        "issuer_kind",
        "award_tier",
        "attributes",
        "credit_hours",
        "raw_credits",
        "credits",
        "max_credits",
        "framework_level",
        "category",
        "validity_years",
        "rule_id",
        "rule_version",
    }
)


def placeholder_roots(template: str) -> list[str]:
    """Root names of the placeholders in ``template`` (``attributes[x]`` -> ``attributes``).

    Raises:
        ValueError: when the template is not valid ``str.format`` syntax.
    """
    roots: list[str] = []
    for _literal, name, _spec, _conversion in Formatter().parse(template):
        if name is None:
            continue
        root = name.split(".", 1)[0].split("[", 1)[0]
        roots.append(root)
    return roots


class _Lenient(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: dict[str, object]) -> str:
    """Fill ``template``; a value that cannot be found (say a missing attribute) is left as written."""
    try:
        return template.format_map(_Lenient(values))
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        return template
