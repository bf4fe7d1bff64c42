from datetime import UTC, datetime, timedelta

import pytest

from creditbank.standards.vc.did import (
    KeyInfo,
    build_did_document,
    build_jwks,
    did_web_for,
    did_web_to_url,
    key_for_proof,
)
from creditbank.standards.vc.errors import (
    DidInvalid,
    KeyNotAuthorized,
    KeyNotValidAtSigningTime,
    KeyUnresolvable,
)
from creditbank.standards.vc.multikey import decode_public_key

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DID = "did:web:bank.example:institutions:42"


def _keys() -> list[KeyInfo]:
    return [
        KeyInfo("key-1", b"\x01" * 32, created=T0, retired_at=T0 + timedelta(days=100)),
        KeyInfo("key-2", b"\x02" * 32, created=T0 + timedelta(days=100)),
        KeyInfo("key-3", b"\x03" * 32, created=T0, compromised_at=T0 + timedelta(days=50)),
    ]


class TestDidWeb:
    @pytest.mark.parametrize(
        ("base", "segments", "did"),
        [
            ("https://bank.example", ["institutions", "42"], DID),
            ("http://127.0.0.1:8000", ["institutions", "42"], "did:web:127.0.0.1%3A8000:institutions:42"),
            ("https://Bank.Example/", [], "did:web:bank.example"),
            (
                "https://bank.example/pilot",
                ["institutions", "a b"],
                "did:web:bank.example:pilot:institutions:a%20b",
            ),
        ],
    )
    def test_for(self, base: str, segments: list[str], did: str) -> None:
        assert did_web_for(base, segments) == did

    @pytest.mark.parametrize(
        ("did", "url"),
        [
            (DID, "https://bank.example/institutions/42/did.json"),
            ("did:web:bank.example", "https://bank.example/.well-known/did.json"),
            ("did:web:127.0.0.1%3A8000:institutions:42", "http://127.0.0.1:8000/institutions/42/did.json"),
            ("did:web:localhost%3A8000:institutions:42", "http://localhost:8000/institutions/42/did.json"),
            ("did:web:example.com%3A8443:a", "https://example.com:8443/a/did.json"),
        ],
    )
    def test_to_url(self, did: str, url: str) -> None:
        assert did_web_to_url(did) == url

    @pytest.mark.parametrize("did", ["did:key:z6Mk", "did:web:", "did:web:a::b", "did:web:a#k", "web:a"])
    def test_to_url_rejects(self, did: str) -> None:
        with pytest.raises(DidInvalid):
            did_web_to_url(did)

    @pytest.mark.parametrize("base", ["ftp://a.example", "bank.example", "https://"])
    def test_for_rejects(self, base: str) -> None:
        with pytest.raises(DidInvalid):
            did_web_for(base, ["x"])


class TestDocument:
    def test_shape(self) -> None:
        doc = build_did_document(DID, _keys())
        assert doc["@context"][:2] == [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
        ]
        assert doc["id"] == DID
        ids = [f"{DID}#key-{i}" for i in (1, 2, 3)]
        assert [m["id"] for m in doc["verificationMethod"]] == ids
        # retired keys stay assertion methods; a compromised key leaves at once (no third-party
        # verifier knows its compromise time) but stays a verification method, with that time
        assert doc["assertionMethod"] == ids[:2]
        first = doc["verificationMethod"][0]
        assert first["type"] == "Multikey"
        assert first["controller"] == DID
        assert decode_public_key(first["publicKeyMultibase"]) == b"\x01" * 32
        assert first["created"] == "2024-01-01T00:00:00Z"
        assert first["retired"] == "2024-04-10T00:00:00Z"
        assert "revoked" not in first
        assert doc["verificationMethod"][2]["revoked"] == "2024-02-20T00:00:00Z"

    def test_duplicate_key_ids(self) -> None:
        with pytest.raises(DidInvalid):
            build_did_document(DID, [_keys()[0], _keys()[0]])

    def test_jwks(self) -> None:
        jwks = build_jwks(DID, _keys())
        assert [k["kid"] for k in jwks["keys"]] == [f"{DID}#key-1", f"{DID}#key-2"]
        key = jwks["keys"][0]
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA"
        assert key["x"] == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"


class TestKeyForProof:
    def test_valid_keys(self) -> None:
        doc = build_did_document(DID, _keys())
        assert key_for_proof(doc, f"{DID}#key-1", T0 + timedelta(days=1)) == b"\x01" * 32
        assert key_for_proof(doc, f"{DID}#key-2", T0 + timedelta(days=200)) == b"\x02" * 32

    @pytest.mark.parametrize("days", [49, 50, 51])
    def test_compromised_key_authorises_nothing_even_before_its_compromise(self, days: int) -> None:
        # a proof's created is chosen by whoever holds the key: the thief can backdate it
        doc = build_did_document(DID, _keys())
        with pytest.raises(KeyNotAuthorized, match="compromised at 2024-02-20T00:00:00Z"):
            key_for_proof(doc, f"{DID}#key-3", T0 + timedelta(days=days))

    @pytest.mark.parametrize(
        ("key", "days"),
        [("key-1", 100), ("key-1", 300), ("key-2", 99)],
    )
    def test_outside_validity(self, key: str, days: int) -> None:
        doc = build_did_document(DID, _keys())
        with pytest.raises(KeyNotValidAtSigningTime):
            key_for_proof(doc, f"{DID}#{key}", T0 + timedelta(days=days))

    def test_no_created(self) -> None:
        with pytest.raises(KeyNotValidAtSigningTime):
            key_for_proof(build_did_document(DID, _keys()), f"{DID}#key-2", None)

    def test_not_listed_or_other_did(self) -> None:
        doc = build_did_document(DID, _keys())
        with pytest.raises(KeyNotAuthorized):
            key_for_proof(doc, "did:web:evil.example#key-1", T0)
        doc["assertionMethod"] = doc["assertionMethod"][1:]
        with pytest.raises(KeyNotAuthorized):
            key_for_proof(doc, f"{DID}#key-1", T0 + timedelta(days=1))

    def test_unknown_or_bad_method(self) -> None:
        doc = build_did_document(DID, _keys())
        doc["assertionMethod"].append(f"{DID}#key-9")
        with pytest.raises(KeyUnresolvable):
            key_for_proof(doc, f"{DID}#key-9", T0)
        doc["verificationMethod"][1]["publicKeyMultibase"] = "zabc"
        with pytest.raises(KeyUnresolvable):
            key_for_proof(doc, f"{DID}#key-2", T0 + timedelta(days=200))
