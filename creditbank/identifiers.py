r"""National identifier checks.

* Resident identity numbers, GB 11643-1999: 17 digits and an ISO 7064 MOD 11-2 check character;
  digits 7-14 are a birth date that must exist. The input is NFKC-normalised first (full-width
  ``１１０…`` becomes ``110…``, so one person stays one learner); after that only the ASCII digits and
  ``X`` are accepted. Other Unicode digits (Arabic-Indic ``٠١٢``, Devanagari ``१२३`` …) are refused,
  although Python's ``int()`` and ``\d`` would take them. A lowercase ``x`` is accepted and normalised.
* Unified social credit codes, GB 32100-2015: 18 characters over a 31-letter alphabet, with a
  mod-31 check character (which may be ``0``).
"""

import datetime as dt
import re
import unicodedata

from creditbank.errors import ValidationFailed
from creditbank.i18n import Message, msg


class InvalidIdentityNumber(ValidationFailed):
    slug = "invalid-identity-number"
    title = "Not a valid resident identity number (GB 11643)"


class InvalidCreditCode(ValidationFailed):
    slug = "invalid-credit-code"
    title = "Not a valid unified social credit code (GB 32100)"


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"\A[0-9]{17}[0-9X]\Z", re.ASCII)


def normalise_identity_number(raw: str) -> str:
    """Return the canonical form of a resident identity number.

    Raises:
        InvalidIdentityNumber: wrong length or characters, a birth date that does not exist, or a wrong
            check character; the detail says which.
    """
    value = unicodedata.normalize("NFKC", raw).strip().upper()
    if len(value) != 18:
        raise InvalidIdentityNumber(
            msg("detail.identifiers.identity_number_has_characters", count=len(value))
        )
    if not _ID_SHAPE.match(value):
        raise InvalidIdentityNumber(msg("detail.identifiers.identity_number_ascii_digits"))
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidIdentityNumber(msg("detail.identifiers.birth_date_identity_number_2")) from exc
    if born > dt.datetime.now(dt.UTC).date() or born.year < 1900:
        raise InvalidIdentityNumber(msg("detail.identifiers.birth_date_identity_number"))
    if identity_check_character(value[:17]) != value[17]:
        raise InvalidIdentityNumber(msg("detail.identifiers.check_character_identity_number"))
    return value


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_problem(raw: str) -> Message | None:
    """Return why a unified social credit code fails its check, or None when it passes."""
    value = raw.strip().upper()
    if len(value) != 18:
        return msg("detail.identifiers.credit_code_length", count=len(value))
    bad = sorted({c for c in value if c not in _USCC_ALPHABET})
    if bad:
        return msg("detail.identifiers.credit_code_alphabet", characters="".join(bad))
    if credit_code_check_character(value[:17]) != value[17]:
        return msg("detail.identifiers.credit_code_check_character")
    return None


def normalise_credit_code(raw: str) -> str:
    """Return the canonical (upper-case) form of a valid unified social credit code.

    Raises:
        InvalidCreditCode: the code fails the GB 32100 check; the detail says why.
    """
    problem = uscc_problem(raw)
    if problem:
        raise InvalidCreditCode(problem)
    return raw.strip().upper()


def identity_check_character(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of an identity number."""
    total = sum(int(d) * w for d, w in zip(body17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def credit_code_check_character(body17: str) -> str:
    """The GB 32100 mod-31 check character of the first 17 characters of a credit code."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def with_identity_check(body17: str) -> str:
    """An identity number made of ``body17`` and its check character (demo data, tests)."""
    return body17 + identity_check_character(body17)


def with_credit_code_check(body17: str) -> str:
    """A unified social credit code made of ``body17`` and its check character (demo data, tests)."""
    return body17 + credit_code_check_character(body17)
