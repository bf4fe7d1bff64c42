"""Password hashing: argon2id (RFC 9106) through ``argon2-cffi``.

The stored form is the PHC string argon2 writes (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``),
so the parameters travel with each hash and can be raised later (:func:`needs_rehash`).
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile

_DUMMY = _HASHER.hash("creditbank: a password nobody has")


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` (a fresh random salt each call)."""
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash. A malformed stored hash matches nothing."""
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def burn_time(password: str) -> None:
    """Spend the time of one verification, for a sign-in naming no account (no timing oracle)."""
    verify_password(_DUMMY, password)


def needs_rehash(stored: str) -> bool:
    """Whether the stored hash was made with weaker parameters than the current ones."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True
