"""Reading JSON text that anyone may send, with its nesting bounded.

The standard library's parser recurses once per level of nesting: a few thousand ``[`` raise
``RecursionError`` (not ``ValueError``), and a value nested a few hundred levels deep parses but
breaks the next recursive step (validation, canonical JSON, templates). Every parse of outside
text goes through :func:`loads`, which refuses text nested deeper than :data:`MAX_DEPTH` before
parsing it, and every value decoded another way is checked with :func:`check_depth`.
"""

import json
import re
from typing import Any

from creditbank.errors import ValidationFailed
from creditbank.i18n import msg

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (a certificate nests about 8 levels)."""

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JsonInvalid(ValidationFailed):
    slug = "json-invalid"
    title = "The JSON text cannot be read"


class JsonTooDeep(JsonInvalid):
    slug = "json-too-deep"
    title = "The JSON text is nested too deeply"


def text_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count)."""
    brackets = text.count("[") + text.count("{")
    if brackets <= MAX_DEPTH:
        return brackets  # an upper bound, and cheap: most texts stop here
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def loads(text: str | bytes) -> Any:
    """Parse JSON text sent from outside.

    Raises:
        JsonTooDeep: arrays and objects nested deeper than :data:`MAX_DEPTH`.
        JsonInvalid: the text is not JSON (the message says where).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInvalid(msg("detail.jsontext.text_utf")) from exc
    if text_depth(text) > MAX_DEPTH:
        raise JsonTooDeep(msg("detail.jsontext.arrays_objects_nested_more", MAX_DEPTH=MAX_DEPTH))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonInvalid(
            msg("detail.jsontext.json_line_column", msg=exc.msg, lineno=exc.lineno, colno=exc.colno)
        ) from exc
    except RecursionError as exc:  # pragma: no cover - the depth check comes first
        raise JsonTooDeep(msg("detail.jsontext.arrays_objects_nested_more", MAX_DEPTH=MAX_DEPTH)) from exc


def check_depth(value: Any) -> None:
    """Refuse a decoded value nested deeper than :data:`MAX_DEPTH` (iteratively: no recursion).

    Raises:
        JsonTooDeep: it is.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise JsonTooDeep(msg("detail.jsontext.arrays_objects_nested_more", MAX_DEPTH=MAX_DEPTH))
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
