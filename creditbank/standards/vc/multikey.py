"""Ed25519 keys as Multikey ``publicKeyMultibase`` strings.

A Multikey value is multibase base58btc (prefix ``z``) of the multicodec header followed by the
raw key. For an Ed25519 public key the header is ``0xed 0x01`` (varint of 0xed, ``ed25519-pub``);
for an Ed25519 private key (seed) it is ``0x80 0x26`` (``ed25519-priv``), as used by the W3C test
vectors' ``secretKeyMultibase``/``privateKeyMultibase``. Anything else (another multibase, another
codec, a key of the wrong length) is refused: a verifier that forgets to check the header ends up
verifying with two wrong bytes in its key.
"""

import base58

from creditbank.i18n import msg
from creditbank.standards.vc.errors import MultikeyInvalid

ED25519_PUB_HEADER = b"\xed\x01"
ED25519_PRIV_HEADER = b"\x80\x26"
ED25519_KEY_SIZE = 32
BASE58BTC_PREFIX = "z"


def encode_base58btc(data: bytes) -> str:
    """Return multibase base58btc of ``data`` (``z`` + base58 with the Bitcoin alphabet)."""
    return BASE58BTC_PREFIX + base58.b58encode(data).decode("ascii")


def decode_base58btc(value: str) -> bytes:
    """Decode a multibase base58btc string.

    Raises:
        MultikeyInvalid: not a string, no ``z`` prefix, or not valid base58.
    """
    if not isinstance(value, str) or not value.startswith(BASE58BTC_PREFIX) or len(value) < 2:
        raise MultikeyInvalid(msg("detail.standards.vc.multikey.expected_multibase_base_btc"))
    try:
        return bytes(base58.b58decode(value[1:]))
    except ValueError as exc:
        raise MultikeyInvalid(msg("detail.standards.vc.multikey.valid_base_btc", exc=exc)) from exc


def _encode(header: bytes, key: bytes) -> str:
    if len(key) != ED25519_KEY_SIZE:
        raise MultikeyInvalid(
            msg(
                "detail.standards.vc.multikey.ed_key_bytes_got",
                ED25519_KEY_SIZE=ED25519_KEY_SIZE,
                key_count=len(key),
            )
        )
    return encode_base58btc(header + key)


def _decode(header: bytes, value: str, what: str) -> bytes:
    raw = decode_base58btc(value)
    if raw[: len(header)] != header:
        raise MultikeyInvalid(
            msg("detail.standards.vc.multikey.multikey_multicodec_header", what=what, value=raw[:2].hex())
        )
    key = raw[len(header) :]
    if len(key) != ED25519_KEY_SIZE:
        raise MultikeyInvalid(
            msg(
                "detail.standards.vc.multikey.ed_key_bytes_got",
                ED25519_KEY_SIZE=ED25519_KEY_SIZE,
                key_count=len(key),
            )
        )
    return key


def encode_public_key(public_key: bytes) -> str:
    """Return ``publicKeyMultibase`` for a raw 32-byte Ed25519 public key.

    Raises:
        MultikeyInvalid: the key is not 32 bytes.
    """
    return _encode(ED25519_PUB_HEADER, public_key)


def decode_public_key(value: str) -> bytes:
    """Return the raw 32-byte Ed25519 public key of a ``publicKeyMultibase`` value.

    Raises:
        MultikeyInvalid: not ``z`` base58btc, not the ``0xed01`` header, or not 32 key bytes.
    """
    return _decode(ED25519_PUB_HEADER, value, "Ed25519 public")


def encode_private_key(seed: bytes) -> str:
    """Return ``secretKeyMultibase`` for a 32-byte Ed25519 seed (header ``0x8026``).

    Raises:
        MultikeyInvalid: the seed is not 32 bytes.
    """
    return _encode(ED25519_PRIV_HEADER, seed)


def decode_private_key(value: str) -> bytes:
    """Return the 32-byte Ed25519 seed of a ``secretKeyMultibase`` value.

    Raises:
        MultikeyInvalid: not ``z`` base58btc, not the ``0x8026`` header, or not 32 key bytes.
    """
    return _decode(ED25519_PRIV_HEADER, value, "Ed25519 private")
