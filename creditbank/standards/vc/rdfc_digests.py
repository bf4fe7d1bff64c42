"""SHA-256 of the RDFC-1.0 canonical form of a JSON-LD value, remembered for values seen again.

An ``eddsa-rdfc-2022`` proof is checked against ``SHA-256(canonical proof config) ||
SHA-256(canonical document)``, and canonicalising is most of a verification's CPU (JSON-LD
expansion of the Open Badges context, then URDNA2015): about 20 ms of a 40 ms ``POST
/api/v1/verify`` (``bench/reads.py``). The same status list credential is checked for every
certificate of its issuer until it changes, and a verifier often checks one certificate again.

What is remembered is only a pure function of the value: the canonical form depends on nothing but
the value and the bundled contexts (:mod:`creditbank.standards.vc.contexts`, fixed in the code), so
a remembered digest is the one canonicalising again would give. No trust decision is remembered:
the key a proof names is resolved, and the signature checked over the digests, on every
verification; whether the key was valid, revoked or compromised, and what the status list says,
are read afresh each time. A status list re-signed after a revocation is another value (another
key here), never answered from an older one.

The key is SHA-256 of an exact serialisation of the value (insertion order kept, ``1`` and
``1.0`` and ``true`` told apart), made only for plain JSON values (``dict`` with ``str`` keys,
``list``, ``str``, ``int``, ``float``, ``bool``, ``None``, exactly those types); anything else is
canonicalised every time, as is a value that fails (an error is never remembered). At most
:data:`MAX_ENTRIES` digests are kept (64 bytes a key and value), the least recently used dropped
first.
"""

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_ENTRIES = 1024

_lock = threading.Lock()
_digests: OrderedDict[bytes, bytes] = OrderedDict()


def _plain(value: Any) -> bool:
    """Whether ``value`` is made of exactly the types JSON parsing gives (no subclasses)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return kind in (str, int, float, bool) or value is None


def exact_key(value: Any) -> bytes | None:
    """SHA-256 of an exact serialisation of a plain JSON value; None for anything else."""
    try:
        if not _plain(value):
            return None
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)  # ASCII: the rest as \u escapes
    except (ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode("ascii")).digest()


def digest(value: Any, canonicalize: Callable[[Any], bytes]) -> bytes:
    """SHA-256 of ``canonicalize(value)`` (the RDFC-1.0 canonicaliser), remembered by value.

    Raises:
        Whatever ``canonicalize`` raises (never remembered).
    """
    key = exact_key(value)
    if key is not None:
        with _lock:
            found = _digests.get(key)
            if found is not None:
                _digests.move_to_end(key)
                return found
    computed = hashlib.sha256(canonicalize(value)).digest()
    if key is not None:
        with _lock:
            _digests[key] = computed
            while len(_digests) > MAX_ENTRIES:
                _digests.popitem(last=False)
    return computed


def clear() -> None:
    """Forget every remembered digest (for tests)."""
    with _lock:
        _digests.clear()


def size() -> int:
    """How many digests are remembered."""
    with _lock:
        return len(_digests)
