"""RFC 8785 (JCS) canonical JSON, fast for the shapes the ledger writes.

For JSON made only of strings, integers within ±2**53, booleans, null, arrays and objects whose keys
are strings without characters beyond U+FFFF, Python's encoder with sorted keys, compact separators
and ``ensure_ascii=False`` produces exactly the RFC 8785 form: the same string escapes (both write
every other character as it is, astral ones included), integers printed alike, and code-point key
order equal to UTF-16 order below U+10000. Anything else (floats, larger integers, keys with astral
characters) goes through the ``rfc8785`` package. ``tests/test_canonical.py`` checks the two agree on
generated values.
"""

import json
from typing import Any

import rfc8785

_MAX_SAFE_INTEGER = 2**53
_ASTRAL = "\U00010000"
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _plain_str(value: str) -> bool:
    return value.isascii() or max(value) < _ASTRAL


def _plain(value: Any) -> bool:
    """Whether the standard encoder writes ``value`` exactly as RFC 8785 does (see above).

    Iterative, with exact-type checks first: it runs for every leaf the ledger writes.
    """
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            continue  # values: any character (see above)
        if kind is dict:
            for key, inner in item.items():
                if type(key) is not str or not _plain_str(key):
                    return False
                if type(inner) is not str:
                    push(inner)
        elif kind is int:
            if not -_MAX_SAFE_INTEGER <= item <= _MAX_SAFE_INTEGER:
                return False
        elif kind is list or kind is tuple:
            extend(item)
        elif item is None or kind is bool or isinstance(item, str):  # str subclasses: their value
            continue
        else:
            return False  # floats, Decimals, int subclasses, anything else: the rfc8785 package
    return True


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises:
        rfc8785.CanonicalizationError: ``value`` cannot be canonicalised (e.g. NaN, a Decimal).
    """
    if _plain(value):
        return _ENCODER.encode(value).encode("utf-8")
    return bytes(rfc8785.dumps(value))
