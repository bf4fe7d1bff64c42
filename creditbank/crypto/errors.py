"""Errors raised by :mod:`creditbank.crypto`."""


class CryptoError(Exception):
    """Base class of every error this package raises."""


class SignatureInvalid(CryptoError):
    """A signature does not verify under the given public key."""


class DecryptionFailed(CryptoError):
    """Ciphertext could not be authenticated (wrong key, wrong context or tampered bytes)."""


class KeyFormatError(CryptoError):
    """Key material has the wrong length or encoding."""
