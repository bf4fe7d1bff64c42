"""The one place that uses `cryptography`.

Domains call these functions and never see a library exception: every failure is one of the
errors below, each a subclass of :class:`CryptoError`.
"""

from creditbank.crypto.errors import CryptoError, DecryptionFailed, KeyFormatError, SignatureInvalid

__all__ = ["CryptoError", "DecryptionFailed", "KeyFormatError", "SignatureInvalid"]
