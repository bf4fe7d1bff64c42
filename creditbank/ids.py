"""Typed identifiers. A learner id is not an institution id, even though both are strings."""

import secrets
from typing import NewType

LearnerId = NewType("LearnerId", str)
InstitutionId = NewType("InstitutionId", str)
OutcomeId = NewType("OutcomeId", str)
LotId = NewType("LotId", str)
TokenId = NewType("TokenId", str)
LogId = NewType("LogId", str)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def random_id(prefix: str, nbytes: int = 12) -> str:
    """Return ``<prefix>_<random base32>`` with ``nbytes`` of randomness."""
    value = int.from_bytes(secrets.token_bytes(nbytes), "big")
    chars = []
    for _ in range((nbytes * 8 + 4) // 5):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
