"""eddsa-rdfc-2022: the signer and verifier reproduce the W3C vectors byte for byte (canonical
document, canonical proof configuration, both hashes, the signature), and verify the W3C proof-set
and proof-chain vectors; JSON-LD safe mode refuses what RDF canonicalisation would drop."""

import copy
from typing import Any

import pytest

from creditbank.standards.vc import dataintegrity as di
from creditbank.standards.vc.errors import ContextNotBundled, SignatureInvalid, UndefinedTerm
from creditbank.standards.vc.multikey import decode_private_key, decode_public_key
from tests.credentials.vectors import EDDSA_RDFC, PROOF_SET, vector_json, vector_text


def _rdfc(name: str) -> Any:
    return vector_json(name, EDDSA_RDFC)


def _text(name: str) -> str:
    return vector_text(name, EDDSA_RDFC)


def _config() -> dict[str, Any]:
    config: dict[str, Any] = _rdfc("proofConfigDataInt.json")
    return config


def _seed() -> bytes:
    return decode_private_key(_rdfc("keyPair.json")["privateKeyMultibase"])


def _public(_vm: str = "") -> bytes:
    return decode_public_key(_rdfc("keyPair.json")["publicKeyMultibase"])


class TestSignerReproducesVector:
    def test_proof_config(self) -> None:
        cfg = _config()
        built = di.proof_config(
            _rdfc("unsigned.json"), cfg["verificationMethod"], cfg["created"], cryptosuite=di.CRYPTOSUITE_RDFC
        )
        assert built == cfg

    def test_canonical_document(self) -> None:
        canon = di.canonical_document(_rdfc("unsigned.json"), di.CRYPTOSUITE_RDFC)
        assert canon == _text("canonDocDataInt.txt").encode()

    def test_canonical_proof_config(self) -> None:
        canon = di.canonical_proof_config(_config(), di.CRYPTOSUITE_RDFC)
        assert canon == _text("proofCanonDataInt.txt").encode()

    def test_hashes(self) -> None:
        data = di.hash_data(
            di.canonical_proof_config(_config(), di.CRYPTOSUITE_RDFC),
            di.canonical_document(_rdfc("unsigned.json"), di.CRYPTOSUITE_RDFC),
        )
        assert data[:32].hex() == _text("proofHashDataInt.txt").strip()
        assert data[32:].hex() == _text("docHashDataInt.txt").strip()
        assert data.hex() == _text("combinedHashDataInt.txt").strip()

    def test_signed_document(self) -> None:
        cfg = _config()
        signed = di.sign(_rdfc("unsigned.json"), _seed(), cfg["verificationMethod"], cfg["created"])
        assert signed == _rdfc("signedDataInt.json")
        assert signed["proof"]["proofValue"] == _text("sigBTC58DataInt.txt").strip()


class TestVerifier:
    def test_vector_verifies_and_names_its_suite(self) -> None:
        [result] = di.verify_proofs(_rdfc("signedDataInt.json"), _public)
        assert result.cryptosuite == "eddsa-rdfc-2022"

    def test_changed_meaning_fails(self) -> None:
        doc = _rdfc("signedDataInt.json")
        doc["credentialSubject"]["alumniOf"] = "Another School"
        with pytest.raises(SignatureInvalid):
            di.verify_proofs(doc, _public)

    def test_reordered_json_still_verifies(self) -> None:
        # RDF canonicalisation signs the graph, not the bytes: key order does not matter.
        doc = _rdfc("signedDataInt.json")
        reordered = dict(reversed(list(doc.items())))
        assert di.verify_proofs(reordered, _public)[0].cryptosuite == "eddsa-rdfc-2022"

    def test_undefined_term_is_refused_not_dropped(self) -> None:
        # Without the examples context alumniOf means nothing: canonicalisation would drop it, so an
        # attacker could add or change it freely. Safe mode refuses instead.
        doc = _rdfc("signedDataInt.json")
        doc["credentialSubject"]["injected"] = "unsigned claim"
        doc["@context"] = doc["@context"][:1]
        with pytest.raises(UndefinedTerm):
            di.verify_proofs(doc, _public)

    def test_unbundled_context_is_refused(self) -> None:
        doc = _rdfc("signedDataInt.json")
        doc["@context"].append("https://attacker.example/context.jsonld")
        with pytest.raises(ContextNotBundled):
            di.verify_proofs(doc, _public)


def _proof_set_keys() -> dict[str, bytes]:
    pairs = vector_json("multiKeyPairs.json", PROOF_SET)
    return {
        pair["publicKeyMultibase"]: decode_public_key(pair["publicKeyMultibase"]) for pair in pairs.values()
    }


def _did_key_resolver(vm: str) -> bytes:
    return _proof_set_keys()[vm.split("#", 1)[1]]


class TestProofSetsAndChains:
    @pytest.mark.parametrize(
        ("name", "count"),
        [
            ("signedProofSet1.json", 1),
            ("signedProofSet2.json", 2),
            ("signedProofChain1.json", 3),
            ("signedProofChain2.json", 4),
        ],
    )
    def test_w3c_vectors_verify_every_proof(self, name: str, count: int) -> None:
        results = di.verify_proofs(vector_json(name, PROOF_SET), _did_key_resolver)
        assert len(results) == count
        assert {r.cryptosuite for r in results} == {"eddsa-rdfc-2022"}

    def test_one_bad_proof_of_a_set_fails_the_set(self) -> None:
        doc = vector_json("signedProofSet2.json", PROOF_SET)
        doc["proof"][1]["proofValue"] = doc["proof"][0]["proofValue"]
        with pytest.raises(SignatureInvalid):
            di.verify_proofs(doc, _did_key_resolver)

    def test_a_chain_link_cannot_be_dropped(self) -> None:
        doc = vector_json("signedProofChain2.json", PROOF_SET)
        doc["proof"] = [
            p for p in doc["proof"] if p.get("id") != "urn:uuid:d94f792a-c546-4d06-b38a-da070ab56c23"
        ]
        with pytest.raises(Exception, match="previousProof"):
            di.verify_proofs(copy.deepcopy(doc), _did_key_resolver)
