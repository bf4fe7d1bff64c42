import copy
import hashlib
from decimal import Decimal
from typing import Any

import pytest

from creditbank.errors import CreditBankError
from creditbank.standards.vc import dataintegrity as di
from creditbank.standards.vc.errors import (
    CanonicalizationFailed,
    ContextMismatch,
    CredentialError,
    CryptosuiteUnsupported,
    IssuerMismatch,
    KeyUnresolvable,
    ProofMalformed,
    ProofMissing,
    ProofPurposeMismatch,
    SignatureInvalid,
)
from creditbank.standards.vc.multikey import (
    decode_base58btc,
    decode_private_key,
    decode_public_key,
    encode_base58btc,
)
from tests.credentials.vectors import vector_json, vector_text

JCS = di.CRYPTOSUITE_JCS


def _seed() -> bytes:
    return decode_private_key(vector_json("keyPair.json")["privateKeyMultibase"])


def _public() -> bytes:
    return decode_public_key(vector_json("keyPair.json")["publicKeyMultibase"])


def _resolve(_vm: str) -> bytes:
    return _public()


def _config() -> dict[str, Any]:
    config: dict[str, Any] = vector_json("proofConfigJCS.json")
    return config


class TestSignerReproducesVectors:
    def test_proof_config(self) -> None:
        cfg = _config()
        built = di.proof_config(
            vector_json("unsigned.json"),
            cfg["verificationMethod"],
            cfg["created"],
            cryptosuite=di.CRYPTOSUITE_JCS,
        )
        assert built == cfg

    def test_canonical_proof_config(self) -> None:
        assert di.canonical_proof_config(_config()) == vector_text("proofCanonJCS.txt").strip().encode()

    def test_canonical_document(self) -> None:
        canon = di.canonical_document(vector_json("unsigned.json"))
        assert canon == vector_text("canonDocJCS.txt").strip().encode()

    def test_hashes(self) -> None:
        canon_cfg = di.canonical_proof_config(_config())
        canon_doc = di.canonical_document(vector_json("unsigned.json"))
        assert hashlib.sha256(canon_cfg).hexdigest() == vector_text("proofHashJCS.txt").strip()
        assert hashlib.sha256(canon_doc).hexdigest() == vector_text("docHashJCS.txt").strip()
        assert di.hash_data(canon_cfg, canon_doc).hex() == vector_text("combinedHashJCS.txt").strip()

    def test_signature_and_proof_value(self) -> None:
        cfg = _config()
        signed = di.sign(
            vector_json("unsigned.json"), _seed(), cfg["verificationMethod"], cfg["created"], cryptosuite=JCS
        )
        proof_value = signed["proof"]["proofValue"]
        assert proof_value == vector_text("sigBTC58JCS.txt").strip()
        sig_hex = vector_text("sigHexJCS.txt").strip()
        assert decode_base58btc(proof_value).hex() == sig_hex

    def test_signed_document(self) -> None:
        cfg = _config()
        signed = di.sign(
            vector_json("unsigned.json"), _seed(), cfg["verificationMethod"], cfg["created"], cryptosuite=JCS
        )
        assert signed == vector_json("signedJCS.json")

    def test_sign_does_not_mutate_input(self) -> None:
        doc = vector_json("unsigned.json")
        before = copy.deepcopy(doc)
        di.sign(doc, _seed(), "did:example:1#k", "2024-01-01T00:00:00Z")
        assert doc == before


class TestVerify:
    def test_accepts_vector(self) -> None:
        result = di.verify(vector_json("signedJCS.json"), _resolve)
        assert result.public_key == _public()
        assert result.proof_purpose == "assertionMethod"
        assert result.created == "2023-02-24T23:36:38Z"
        assert result.created_at is not None
        assert result.created_at.year == 2023

    def test_resolver_gets_verification_method(self) -> None:
        seen: list[str] = []

        def resolve(vm: str) -> bytes:
            seen.append(vm)
            return _public()

        di.verify(vector_json("signedJCS.json"), resolve)
        assert seen == [_config()["verificationMethod"]]

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("name",), "Alumni Credential!"),
            (("credentialSubject", "alumniOf"), "Another School"),
            (("validFrom",), "2023-01-01T00:00:01Z"),
            (("proof", "created"), "2023-02-24T23:36:39Z"),
            (
                ("proof", "verificationMethod"),
                "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#other",
            ),
        ],
    )
    def test_rejects_tampered_field(self, path: tuple[str, ...], value: str) -> None:
        doc = vector_json("signedJCS.json")
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(SignatureInvalid):
            di.verify(doc, _resolve)

    def test_rejects_added_field(self) -> None:
        doc = vector_json("signedJCS.json")
        doc["credentialSubject"]["extra"] = True
        with pytest.raises(SignatureInvalid):
            di.verify(doc, _resolve)

    def test_rejects_flipped_signature_bit(self) -> None:
        doc = vector_json("signedJCS.json")
        sig = bytearray(decode_base58btc(doc["proof"]["proofValue"]))
        sig[10] ^= 1
        doc["proof"]["proofValue"] = encode_base58btc(bytes(sig))
        with pytest.raises(SignatureInvalid):
            di.verify(doc, _resolve)

    def test_rejects_wrong_key(self) -> None:
        with pytest.raises(SignatureInvalid):
            di.verify(vector_json("signedJCS.json"), lambda _vm: b"\x07" * 32)

    def test_rejects_bad_key_length(self) -> None:
        with pytest.raises(KeyUnresolvable):
            di.verify(vector_json("signedJCS.json"), lambda _vm: b"\x07" * 31)

    @pytest.mark.parametrize("value", ["", "z", "u" + "A" * 86, "z3"])
    def test_rejects_bad_proof_value(self, value: str) -> None:
        doc = vector_json("signedJCS.json")
        doc["proof"]["proofValue"] = value
        with pytest.raises((SignatureInvalid, ProofMalformed)):
            di.verify(doc, _resolve)

    def test_missing_proof(self) -> None:
        with pytest.raises(ProofMissing):
            di.verify(vector_json("unsigned.json"), _resolve)

    @pytest.mark.parametrize(
        ("field", "value"),
        [("cryptosuite", "ecdsa-rdfc-2019"), ("cryptosuite", None), ("type", "Ed25519Signature2020")],
    )
    def test_unsupported_cryptosuite(self, field: str, value: str | None) -> None:
        doc = vector_json("signedJCS.json")
        doc["proof"][field] = value
        with pytest.raises(CryptosuiteUnsupported):
            di.verify(doc, _resolve)

    def test_context_must_start_with_proof_context(self) -> None:
        doc = vector_json("signedJCS.json")
        doc["@context"] = list(reversed(doc["@context"]))
        with pytest.raises(ContextMismatch):
            di.verify(doc, _resolve)

    def test_context_shorter_than_proof_context(self) -> None:
        doc = vector_json("signedJCS.json")
        doc["@context"] = doc["@context"][:1]
        with pytest.raises(ContextMismatch):
            di.verify(doc, _resolve)

    def test_appended_context_is_not_signed_over(self) -> None:
        # The spec hashes the document with the proof's @context; the verifier must do the same.
        doc = vector_json("signedJCS.json")
        doc["@context"] = [*doc["@context"], "https://example.org/extra/v1"]
        di.verify(doc, _resolve)

    def test_proof_purpose(self) -> None:
        with pytest.raises(ProofPurposeMismatch):
            di.verify(vector_json("signedJCS.json"), _resolve, expected_purpose="authentication")

    def test_proof_set_every_proof_is_checked(self) -> None:
        doc = vector_json("signedJCS.json")
        doc["proof"] = [doc["proof"]]
        di.verify(doc, _resolve)
        doc["proof"] = doc["proof"] * 2
        assert len(di.verify_proofs(doc, _resolve)) == 2
        doc["proof"][1] = {**doc["proof"][1], "created": "2024-01-01T00:00:00Z"}
        with pytest.raises(SignatureInvalid):
            di.verify_proofs(doc, _resolve)

    @pytest.mark.parametrize("field", ["verificationMethod", "proofPurpose", "proofValue"])
    def test_proof_field_missing(self, field: str) -> None:
        doc = vector_json("signedJCS.json")
        del doc["proof"][field]
        with pytest.raises(ProofMalformed):
            di.verify(doc, _resolve)

    def test_bad_created(self) -> None:
        doc = vector_json("signedJCS.json")
        doc["proof"]["created"] = "yesterday"
        with pytest.raises(ProofMalformed):
            di.verify(doc, _resolve)

    def test_errors_are_project_errors(self) -> None:
        assert issubclass(SignatureInvalid, CredentialError)
        assert issubclass(CredentialError, CreditBankError)
        problem = SignatureInvalid("nope").to_problem()
        assert problem["status"] == 422
        assert problem["type"].endswith("/signature-invalid")


class TestSignInputs:
    def test_refuses_decimal(self) -> None:
        doc = vector_json("unsigned.json")
        doc["credits"] = Decimal("2.5")
        with pytest.raises(CanonicalizationFailed):
            di.sign(doc, _seed(), "did:example:1#k", "2024-01-01T00:00:00Z", cryptosuite=JCS)

    def test_refuses_big_integer(self) -> None:
        doc = vector_json("unsigned.json")
        doc["n"] = 2**60
        with pytest.raises(CanonicalizationFailed):
            di.sign(doc, _seed(), "did:example:1#k", "2024-01-01T00:00:00Z", cryptosuite=JCS)

    def test_refuses_already_signed(self) -> None:
        with pytest.raises(ProofMalformed):
            di.sign(vector_json("signedJCS.json"), _seed(), "did:example:1#k", "2024-01-01T00:00:00Z")

    def test_refuses_bad_created(self) -> None:
        with pytest.raises(ProofMalformed):
            di.sign(vector_json("unsigned.json"), _seed(), "did:example:1#k", "2024-01-01")

    def test_refuses_bad_seed(self) -> None:
        with pytest.raises(KeyUnresolvable):
            di.sign(vector_json("unsigned.json"), b"\x01" * 31, "did:example:1#k", "2024-01-01T00:00:00Z")

    def test_jcs_is_not_sorted_json_dumps(self) -> None:
        canon = di.canonicalize({"b": 3.0, "a": "é", "\u00e9": 1, "z": 1e21})
        assert canon == '{"a":"é","b":3,"z":1e+21,"é":1}'.encode()


class TestIssuerBinding:
    def test_issuer_string_and_object(self) -> None:
        di.check_issuer({"issuer": "did:web:a.example"}, "did:web:a.example#k1")
        di.check_issuer({"issuer": {"id": "did:web:a.example"}}, "did:web:a.example#k1")

    def test_other_did(self) -> None:
        with pytest.raises(IssuerMismatch):
            di.check_issuer({"issuer": "did:web:a.example"}, "did:web:b.example#k1")

    def test_no_issuer(self) -> None:
        with pytest.raises(IssuerMismatch):
            di.check_issuer({}, "did:web:b.example#k1")
