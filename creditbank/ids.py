"""Typed identifiers. A learner id is not an institution id, even though both are strings."""

import os
import secrets
import threading
from typing import NewType

LearnerId = NewType("LearnerId", str)
InstitutionId = NewType("InstitutionId", str)
OutcomeId = NewType("OutcomeId", str)
LotId = NewType("LotId", str)
TokenId = NewType("TokenId", str)
LogId = NewType("LogId", str)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


class _RandomPool(threading.local):
    """Bytes from the OS's CSPRNG, drawn 4 KiB at a time per thread (one system call per ~300 ids).

    Emptied in a forked child (``os.register_at_fork``), so forked workers never share a pool.
    """

    def __init__(self) -> None:
        self.generation = -1
        self.buffer = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.generation != _forks[0] or self.pos + n > len(self.buffer):
            self.generation = _forks[0]
            self.buffer = secrets.token_bytes(max(4096, n))
            self.pos = 0
        chunk = self.buffer[self.pos : self.pos + n]
        self.pos += n
        return chunk


_forks = [0]  # how many forks this process descends from: a pool of another generation is stale


def _forked() -> None:
    _forks[0] += 1


os.register_at_fork(after_in_child=_forked)
_POOL = _RandomPool()


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # every 10-bit value as two characters


def random_id(prefix: str, nbytes: int = 12) -> str:
    """Return ``<prefix>_<random base32>`` with ``nbytes`` of randomness (most significant first)."""
    value = int.from_bytes(_POOL.take(nbytes), "big")
    pairs = (nbytes * 8 + 9) // 10
    text = "".join([_PAIRS[(value >> shift) & 1023] for shift in range(10 * (pairs - 1), -1, -10)])
    return f"{prefix}_{text[len(text) - (nbytes * 8 + 4) // 5 :]}"
