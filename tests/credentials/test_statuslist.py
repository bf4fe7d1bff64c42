import base64
import gzip
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditbank.standards.vc.errors import StatusIndexOutOfRange, StatusListInvalid
from creditbank.standards.vc.statuslist import (
    MIN_BITS,
    Bitstring,
    read_status,
    status_entry,
    status_list_credential,
)

LIST_URL = "https://bank.example/status-lists/rev-1"


def _raw(encoded: str) -> bytes:
    body = encoded[1:]
    return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


class TestBitstring:
    def test_default_size_and_all_clear(self) -> None:
        bits = Bitstring()
        assert bits.size == MIN_BITS == 131_072
        assert not any(bits.get(i) for i in (0, 1, 7, 8, MIN_BITS - 1))

    def test_index_zero_is_leftmost_bit_of_first_byte(self) -> None:
        bits = Bitstring()
        bits.set(0, True)
        assert bits.to_bytes()[0] == 0x80
        bits.set(0, False)
        bits.set(7, True)
        assert bits.to_bytes()[0] == 0x01
        bits.set(9, True)
        assert bits.to_bytes()[1] == 0x40

    def test_known_position_in_encoded_list(self) -> None:
        bits = Bitstring()
        bits.set(12345, True)
        raw = _raw(bits.encode())
        assert len(raw) == MIN_BITS // 8
        assert raw[12345 // 8] == 1 << (7 - 12345 % 8)
        assert sum(raw) == raw[12345 // 8]

    def test_encoding_shape(self) -> None:
        encoded = Bitstring().encode()
        assert encoded.startswith("u")
        assert "=" not in encoded
        assert "+" not in encoded
        assert "/" not in encoded

    @given(st.sets(st.integers(min_value=0, max_value=MIN_BITS - 1), max_size=50))
    def test_round_trip(self, indices: set[int]) -> None:
        bits = Bitstring()
        for i in indices:
            bits.set(i, True)
        decoded = Bitstring.decode(bits.encode())
        assert decoded.to_bytes() == bits.to_bytes()
        assert {i for i in indices if decoded.get(i)} == indices

    def test_decodes_an_independently_made_list(self) -> None:
        raw = bytearray(MIN_BITS // 8)
        raw[0] = 0b1010_0000
        encoded = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(raw))).decode().rstrip("=")
        bits = Bitstring.decode(encoded)
        assert [bits.get(i) for i in range(4)] == [True, False, True, False]

    @pytest.mark.parametrize("index", [-1, MIN_BITS, True])
    def test_out_of_range(self, index: int) -> None:
        with pytest.raises(StatusIndexOutOfRange):
            Bitstring().get(index)
        with pytest.raises(StatusIndexOutOfRange):
            Bitstring().set(index, True)

    def test_too_small(self) -> None:
        with pytest.raises(StatusListInvalid):
            Bitstring(1024)
        short = "u" + base64.urlsafe_b64encode(gzip.compress(b"\x00" * 1024)).decode().rstrip("=")
        with pytest.raises(StatusListInvalid):
            Bitstring.decode(short)

    @pytest.mark.parametrize(
        "value", ["", "zabc", "u!!!", "u" + base64.urlsafe_b64encode(b"not gzip").decode()]
    )
    def test_decode_rejects(self, value: str) -> None:
        with pytest.raises(StatusListInvalid):
            Bitstring.decode(value)


class TestCredentials:
    def test_entry(self) -> None:
        entry = status_entry(LIST_URL, 94567)
        assert entry == {
            "id": f"{LIST_URL}#94567",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "94567",
            "statusListCredential": LIST_URL,
        }

    def test_entry_rejects(self) -> None:
        with pytest.raises(StatusListInvalid):
            status_entry(LIST_URL, 1, "refresh")  # type: ignore[arg-type]
        with pytest.raises(StatusIndexOutOfRange):
            status_entry(LIST_URL, -1)

    @pytest.mark.parametrize("purpose", ["revocation", "suspension"])
    def test_list_credential_and_read(self, purpose: Any) -> None:
        bits = Bitstring()
        bits.set(5, True)
        cred = status_list_credential(LIST_URL, "did:web:bank.example", bits, purpose=purpose)
        assert cred["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
        assert cred["credentialSubject"]["type"] == "BitstringStatusList"
        assert cred["credentialSubject"]["statusPurpose"] == purpose
        assert read_status(cred, status_entry(LIST_URL, 5, purpose)) is True
        assert read_status(cred, status_entry(LIST_URL, 6, purpose)) is False

    @pytest.mark.parametrize("index", ["\u00b9", "\u0665", "\uff15", "9" * 5000, "+5", " 5", "-1", ""])
    def test_read_rejects_an_index_that_is_not_ascii_decimal(self, index: str) -> None:
        """Unicode digits, a number too long for int() and signs are refused as malformed (a crafted
        certificate must not crash the verifier with ValueError)."""
        cred = status_list_credential(LIST_URL, "did:web:bank.example", Bitstring())
        entry = {**status_entry(LIST_URL, 5), "statusListIndex": index}
        with pytest.raises(StatusListInvalid):
            read_status(cred, entry)

    def test_read_rejects_mismatch(self) -> None:
        cred = status_list_credential(LIST_URL, "did:web:bank.example", Bitstring())
        with pytest.raises(StatusListInvalid):
            read_status(cred, status_entry(LIST_URL + "x", 5))
        with pytest.raises(StatusListInvalid):
            read_status(cred, status_entry(LIST_URL, 5, "suspension"))
        with pytest.raises(StatusIndexOutOfRange):
            read_status(cred, status_entry(LIST_URL, MIN_BITS))
