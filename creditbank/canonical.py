"""RFC 8785 (JCS) canonical JSON, fast for the shapes the ledger writes.

For JSON made only of strings without characters beyond U+FFFF, integers within ±2**53, booleans,
null, arrays and objects with string keys, Python's encoder with sorted keys, compact separators and
``ensure_ascii=False`` produces exactly the RFC 8785 form: the same string escapes, integers printed
alike, and code-point key order equal to UTF-16 order below U+10000. Anything else (floats, larger
integers, astral characters) goes through the ``rfc8785`` package. ``tests/test_canonical.py`` checks
the two agree on generated values.
"""

import json
from typing import Any

import rfc8785

_MAX_SAFE_INTEGER = 2**53
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii() or all(ord(c) < 0x10000 for c in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(k) and _plain(v) for k, v in value.items())
    return False


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``.

    Raises:
        rfc8785.CanonicalizationError: ``value`` cannot be canonicalised (e.g. NaN, a Decimal).
    """
    if _plain(value):
        return _ENCODER.encode(value).encode("utf-8")
    return bytes(rfc8785.dumps(value))
