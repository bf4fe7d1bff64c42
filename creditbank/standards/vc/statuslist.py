"""W3C Bitstring Status List v1.0: revocation and suspension bits for issued credentials.

A status list is a bitstring of at least 131,072 entries (16 KiB, so a single credential hides in
the crowd). Bit ``i`` is ``(byte[i // 8] >> (7 - i % 8)) & 1``: index 0 is the left-most (most
significant) bit of the first byte. ``encodedList`` is ``u`` (multibase base64url) followed by the
base64url encoding, without padding, of the GZIP-compressed bitstring.

Each credential carries a :func:`status_entry` (``BitstringStatusListEntry``) naming the list
credential's URL and its index; the list itself is published as a :func:`status_list_credential`
(``BitstringStatusListCredential``), signed by the same issuer with
:func:`creditbank.standards.vc.dataintegrity.sign`. A set bit means revoked (or suspended, for a
suspension list).
"""

import base64
import binascii
import gzip
import re
import zlib
from typing import Any, Literal

from creditbank.i18n import msg
from creditbank.standards.vc.errors import StatusIndexOutOfRange, StatusListInvalid

_DECIMAL = re.compile(r"[0-9]{1,12}")
"""ASCII digits only (``str.isdigit`` admits ``"¹"``), and short enough for any list."""

MIN_BITS = 131_072
MULTIBASE_BASE64URL = "u"
VC_V2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
# A 16 KiB list of zeros gzips to a few dozen bytes; cap what we inflate to stop a zip bomb.
MAX_BITS = 8 * 16 * 1024 * 1024

StatusPurpose = Literal["revocation", "suspension"]
STATUS_PURPOSES: tuple[str, ...] = ("revocation", "suspension")


class Bitstring:
    """A mutable bitstring with the Bitstring Status List bit order."""

    def __init__(self, size: int = MIN_BITS) -> None:
        """Create an all-zero list of ``size`` bits.

        Raises:
            StatusListInvalid: ``size`` is below 131,072 or not a multiple of 8.
        """
        if size < MIN_BITS or size % 8:
            raise StatusListInvalid(
                msg("detail.standards.vc.statuslist.status_list_has_least", MIN_BITS=MIN_BITS, size=size)
            )
        self._bytes = bytearray(size // 8)

    @property
    def size(self) -> int:
        """Number of bits (entries)."""
        return len(self._bytes) * 8

    def _check(self, index: int) -> None:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise StatusIndexOutOfRange(
                msg("detail.standards.vc.statuslist.index_outside", index=index, value=self.size - 1)
            )

    def get(self, index: int) -> bool:
        """Return bit ``index``.

        Raises:
            StatusIndexOutOfRange: the index is negative or past the end.
        """
        self._check(index)
        return bool((self._bytes[index // 8] >> (7 - index % 8)) & 1)

    def set(self, index: int, value: bool) -> None:
        """Set bit ``index`` to ``value``.

        Raises:
            StatusIndexOutOfRange: the index is negative or past the end.
        """
        self._check(index)
        mask = 1 << (7 - index % 8)
        if value:
            self._bytes[index // 8] |= mask
        else:
            self._bytes[index // 8] &= ~mask & 0xFF

    def to_bytes(self) -> bytes:
        """Return the raw (uncompressed) bitstring."""
        return bytes(self._bytes)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Bitstring":
        """Return the list whose raw (uncompressed) bitstring is ``raw``.

        Raises:
            StatusListInvalid: fewer than 131,072 bits.
        """
        bits = cls(len(raw) * 8)
        bits._bytes[:] = raw
        return bits

    def encode(self) -> str:
        """Return ``encodedList``: ``u`` + base64url-no-padding(GZIP(bitstring))."""
        packed = gzip.compress(bytes(self._bytes), mtime=0)
        return MULTIBASE_BASE64URL + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> "Bitstring":
        """Parse an ``encodedList`` value.

        Raises:
            StatusListInvalid: wrong multibase prefix, bad base64url, bad GZIP, or a list shorter
                than 131,072 bits (or absurdly long).
        """
        if not isinstance(encoded, str) or not encoded.startswith(MULTIBASE_BASE64URL):
            raise StatusListInvalid(msg("detail.standards.vc.statuslist.encodedlist_must_start_multibase"))
        body = encoded[1:]
        try:
            packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise StatusListInvalid(
                msg("detail.standards.vc.statuslist.encodedlist_base_url", exc=exc)
            ) from exc
        try:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            raw = inflater.decompress(packed, MAX_BITS // 8 + 1)
            if not inflater.eof:
                raise StatusListInvalid(msg("detail.standards.vc.statuslist.encodedlist_truncated_too_large"))
        except zlib.error as exc:
            raise StatusListInvalid(msg("detail.standards.vc.statuslist.encodedlist_gzip", exc=exc)) from exc
        if len(raw) * 8 < MIN_BITS:
            raise StatusListInvalid(
                msg(
                    "detail.standards.vc.statuslist.status_list_has_bits",
                    value=len(raw) * 8,
                    MIN_BITS=MIN_BITS,
                )
            )
        bits = cls(len(raw) * 8)
        bits._bytes[:] = raw
        return bits


def _check_purpose(purpose: str) -> None:
    if purpose not in STATUS_PURPOSES:
        raise StatusListInvalid(
            msg(
                "detail.standards.vc.statuslist.statuspurpose_must_one_got",
                STATUS_PURPOSES=STATUS_PURPOSES,
                purpose=purpose,
            )
        )


def status_entry(
    list_credential_url: str, index: int, purpose: StatusPurpose = "revocation"
) -> dict[str, Any]:
    """Return a ``BitstringStatusListEntry`` for a credential's ``credentialStatus``.

    ``statusListIndex`` is a string of the decimal index, as the specification requires.

    Raises:
        StatusListInvalid: unknown purpose.
        StatusIndexOutOfRange: negative index.
    """
    _check_purpose(purpose)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise StatusIndexOutOfRange(
            msg("detail.standards.vc.statuslist.index_non_negative_integer", index=index)
        )
    return {
        "id": f"{list_credential_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_credential_url,
    }


def status_list_credential(
    list_credential_url: str,
    issuer: str,
    bits: Bitstring,
    *,
    purpose: StatusPurpose = "revocation",
    valid_from: str | None = None,
    valid_until: str | None = None,
) -> dict[str, Any]:
    """Return the unsigned ``BitstringStatusListCredential`` publishing ``bits``.

    Sign it with :func:`creditbank.standards.vc.dataintegrity.sign` using the issuer's key.

    Raises:
        StatusListInvalid: unknown purpose.
    """
    _check_purpose(purpose)
    credential: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "id": list_credential_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
    }
    if valid_from is not None:
        credential["validFrom"] = valid_from
    if valid_until is not None:
        credential["validUntil"] = valid_until
    credential["credentialSubject"] = {
        "id": f"{list_credential_url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": bits.encode(),
    }
    return credential


def read_status(list_credential: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Return the bit that ``entry`` points at in an (already verified) list credential.

    Raises:
        StatusListInvalid: the entry does not name this list, the purposes differ, or the list
            credential is malformed.
        StatusIndexOutOfRange: the index is outside the list.
    """
    if entry.get("type") != "BitstringStatusListEntry":
        raise StatusListInvalid(
            msg("detail.standards.vc.statuslist.credentialstatus_bitstringstatuslistentry")
        )
    if entry.get("statusListCredential") != list_credential.get("id"):
        raise StatusListInvalid(msg("detail.standards.vc.statuslist.entry_points_another_status"))
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListInvalid(msg("detail.standards.vc.statuslist.credentialsubject_bitstringstatuslist"))
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise StatusListInvalid(msg("detail.standards.vc.statuslist.statuspurpose_entry_list_differ"))
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or _DECIMAL.fullmatch(raw_index) is None:
        raise StatusListInvalid(
            msg(
                "detail.standards.vc.statuslist.statuslistindex_must_decimal_string",
                value=str(raw_index)[:40],
            )
        )
    return Bitstring.decode(subject.get("encodedList", "")).get(int(raw_index))
