import base58
import pytest

from creditbank.crypto import signing
from creditbank.standards.vc.errors import MultikeyInvalid
from creditbank.standards.vc.multikey import (
    decode_private_key,
    decode_public_key,
    encode_private_key,
    encode_public_key,
)
from tests.credentials.vectors import vector_json


class TestPublicKey:
    def test_round_trip(self) -> None:
        key = signing.public_key(signing.generate_private_key())
        encoded = encode_public_key(key)
        assert encoded.startswith("z6Mk")
        assert decode_public_key(encoded) == key

    def test_vector_key_pair_matches(self) -> None:
        pair = vector_json("keyPair.json")
        seed = decode_private_key(pair["privateKeyMultibase"])
        assert signing.public_key(seed) == decode_public_key(pair["publicKeyMultibase"])
        assert encode_public_key(signing.public_key(seed)) == pair["publicKeyMultibase"]
        assert encode_private_key(seed) == pair["privateKeyMultibase"]

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "z",
            "f" + "00" * 34,  # base16 multibase
            "z" + base58.b58encode(b"\xe7\x01" + b"\x02" * 33).decode(),  # secp256k1-pub header
            "z" + base58.b58encode(b"\xed\x01" + b"\x01" * 31).decode(),  # short key
            "z" + base58.b58encode(b"\xed\x01" + b"\x01" * 33).decode(),  # long key
            "z" + base58.b58encode(b"\x01" * 32).decode(),  # raw key, header forgotten
            "z0OIl",  # not base58
        ],
    )
    def test_rejects(self, value: str) -> None:
        with pytest.raises(MultikeyInvalid):
            decode_public_key(value)

    def test_private_key_is_not_a_public_key(self) -> None:
        with pytest.raises(MultikeyInvalid):
            decode_public_key(encode_private_key(b"\x01" * 32))

    def test_encode_rejects_wrong_length(self) -> None:
        with pytest.raises(MultikeyInvalid):
            encode_public_key(b"\x01" * 31)
