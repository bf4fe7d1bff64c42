"""Ed25519 signatures over raw 32-byte keys."""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from creditbank.crypto.errors import KeyFormatError, SignatureInvalid
from creditbank.i18n import msg

ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64


def generate_private_key() -> bytes:
    """Return a fresh Ed25519 private key as its 32-byte seed."""
    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _private(seed: bytes) -> Ed25519PrivateKey:
    if len(seed) != ED25519_KEY_SIZE:
        raise KeyFormatError(f"an Ed25519 private key is {ED25519_KEY_SIZE} bytes, got {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def _public(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != ED25519_KEY_SIZE:
        raise KeyFormatError(f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes, got {len(raw)}")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:  # pragma: no cover - every 32-byte string is accepted today
        raise KeyFormatError(str(exc)) from exc


def public_key(seed: bytes) -> bytes:
    """Return the 32-byte public key of a private key seed.

    Raises:
        KeyFormatError: the seed is not 32 bytes.
    """
    return _private(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(seed: bytes, message: bytes) -> bytes:
    """Sign ``message`` and return the 64-byte signature.

    Raises:
        KeyFormatError: the seed is not 32 bytes.
    """
    return _private(seed).sign(message)


def verify(public: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature.

    Raises:
        KeyFormatError: the public key is not 32 bytes.
        SignatureInvalid: the signature does not verify (including a signature of the wrong length).
    """
    key = _public(public)
    if len(signature) != ED25519_SIGNATURE_SIZE:
        raise SignatureInvalid(
            msg(
                "detail.crypto.signing.ed_signature_bytes_got",
                ED25519_SIGNATURE_SIZE=ED25519_SIGNATURE_SIZE,
                signature_count=len(signature),
            )
        )
    try:
        key.verify(signature, message)
    except InvalidSignature as exc:
        raise SignatureInvalid(msg("detail.crypto.signing.ed_signature_does_verify")) from exc


def is_valid(public: bytes, message: bytes, signature: bytes) -> bool:
    """Return whether the signature verifies; never raises for bad input."""
    try:
        verify(public, message, signature)
    except (SignatureInvalid, KeyFormatError):
        return False
    return True
