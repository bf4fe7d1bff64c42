"""Symmetric encryption: AES-256-GCM for vault records, data-key wrapping and private keys at rest.

A sealed blob is ``version byte (0x01) || 12-byte nonce || ciphertext+tag``. Every call names a
``context`` (bound in as associated data) so that a blob sealed for one purpose or one learner
cannot be replayed as another.
"""

import hashlib
import hmac as _hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _chmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from creditbank.crypto.errors import DecryptionFailed, KeyFormatError

KEY_SIZE = 32
_NONCE_SIZE = 12
_VERSION = b"\x01"


def generate_key() -> bytes:
    """Return a fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def _aead(key: bytes) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise KeyFormatError(f"an AES-256 key is {KEY_SIZE} bytes, got {len(key)}")
    return AESGCM(key)


def seal(key: bytes, plaintext: bytes, context: str) -> bytes:
    """Encrypt and authenticate ``plaintext`` bound to ``context``.

    Raises:
        KeyFormatError: the key is not 32 bytes.
    """
    nonce = os.urandom(_NONCE_SIZE)
    return _VERSION + nonce + _aead(key).encrypt(nonce, plaintext, context.encode())


def open_sealed(key: bytes, blob: bytes, context: str) -> bytes:
    """Decrypt a blob made by :func:`seal` with the same key and context.

    Raises:
        KeyFormatError: the key is not 32 bytes.
        DecryptionFailed: wrong key, wrong context, unknown version or tampered bytes.
    """
    aead = _aead(key)
    if len(blob) < 1 + _NONCE_SIZE + 16 or blob[:1] != _VERSION:
        raise DecryptionFailed("not a sealed blob of a known version")
    try:
        return aead.decrypt(blob[1 : 1 + _NONCE_SIZE], blob[1 + _NONCE_SIZE :], context.encode())
    except InvalidTag as exc:
        raise DecryptionFailed("authentication failed") from exc


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """Return HMAC-SHA-256(key, message)."""
    mac = _chmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings in constant time."""
    return _hmac.compare_digest(a, b)


def sha256(data: bytes) -> bytes:
    """Return SHA-256(data)."""
    return hashlib.sha256(data).digest()
