import pytest

from creditbank.crypto import DecryptionFailed, KeyFormatError, SignatureInvalid, signing
from creditbank.crypto.symmetric import generate_key, open_sealed, seal


class TestSeal:
    def test_round_trip(self) -> None:
        key = generate_key()
        assert open_sealed(key, seal(key, "王芳".encode(), "ctx"), "ctx") == "王芳".encode()

    def test_other_context_fails(self) -> None:
        key = generate_key()
        with pytest.raises(DecryptionFailed):
            open_sealed(key, seal(key, b"x", "learner-a"), "learner-b")

    def test_tampered_fails(self) -> None:
        key = generate_key()
        blob = bytearray(seal(key, b"secret", "c"))
        blob[-1] ^= 1
        with pytest.raises(DecryptionFailed):
            open_sealed(key, bytes(blob), "c")

    def test_wrong_key_size(self) -> None:
        with pytest.raises(KeyFormatError):
            seal(b"short", b"x", "c")


class TestSigning:
    def test_sign_verify(self) -> None:
        seed = signing.generate_private_key()
        sig = signing.sign(seed, b"msg")
        signing.verify(signing.public_key(seed), b"msg", sig)
        with pytest.raises(SignatureInvalid):
            signing.verify(signing.public_key(seed), b"msg2", sig)
        assert not signing.is_valid(signing.public_key(seed), b"msg", sig[:10])
