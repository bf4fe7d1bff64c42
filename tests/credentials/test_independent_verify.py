"""An independent eddsa-rdfc-2022 / eddsa-jcs-2022 verifier, written from the W3C spec (VC-DI-EdDSA
sections 3.2.2 and 3.3.2).

It uses only pyld (RDFC-1.0), rfc8785, base58, cryptography and hashlib, none of the project's
verification code (contexts are read straight from the bundled files), and checks credentials
produced by the project's builder and signer (and the W3C vectors, as a control).
"""

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import base58
import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyld import jsonld

from creditbank.standards.vc.did import KeyInfo, build_did_document
from tests.credentials.factories import CREATED, FIXED_SEED, ISSUER_DID, KEY_ID, signed_clr, signed_lot
from tests.credentials.vectors import EDDSA_RDFC, vector_json

_CONTEXTS = Path(__file__).resolve().parents[2] / "creditbank" / "standards" / "vc" / "contexts"
_FILES = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.jsonld",
    "https://www.w3.org/ns/credentials/examples/v2": "credentials-examples-v2.jsonld",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "clr-v2p0-context-2.0.1.json",
}


def _loader(url: str, options: Any = None) -> dict[str, Any]:
    name = "credit-transfer-v1.jsonld" if url.endswith("/contexts/credit-transfer/v1") else _FILES[url]
    document = json.loads((_CONTEXTS / name).read_text("utf-8"))
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": document,
    }


def _rdfc(value: dict[str, Any]) -> bytes:
    nquads = jsonld.normalize(
        value, {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": _loader}
    )
    return str(nquads).encode("utf-8")


def independent_verify(secured: dict[str, Any], public_key_multibase: str) -> bool:
    # Decode the Multikey: 'z' + base58btc(0xed 0x01 || 32-byte key).
    assert public_key_multibase[0] == "z"
    raw = base58.b58decode(public_key_multibase[1:])
    assert raw[:2] == b"\xed\x01"
    assert len(raw) == 34
    public = Ed25519PublicKey.from_public_bytes(raw[2:])
    # 1. Split the proof off; proof options are the proof without proofValue.
    document = copy.deepcopy(secured)
    proof = document.pop("proof")
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if options.get("type") != "DataIntegrityProof":
        return False
    if options.get("cryptosuite") == "eddsa-rdfc-2022":
        # 2'. rdfc: the proof configuration takes the document's @context; both are canonicalised
        #     as RDF datasets (RDFC-1.0).
        options["@context"] = document["@context"]
        hash_rdfc = hashlib.sha256(_rdfc(options)).digest() + hashlib.sha256(_rdfc(document)).digest()
        try:
            public.verify(base58.b58decode(proof["proofValue"][1:]), hash_rdfc)
        except InvalidSignature:
            return False
        return True
    if options.get("cryptosuite") != "eddsa-jcs-2022":
        return False
    # 2. The document's @context must start with the proof's @context; hash with the proof's.
    if "@context" in options:
        proof_ctx = options["@context"] if isinstance(options["@context"], list) else [options["@context"]]
        doc_ctx = document["@context"] if isinstance(document["@context"], list) else [document["@context"]]
        if doc_ctx[: len(proof_ctx)] != proof_ctx:
            return False
        document["@context"] = options["@context"]
    # 3. hashData = SHA-256(JCS(proof options)) || SHA-256(JCS(document)).
    hash_data = (
        hashlib.sha256(rfc8785.dumps(options)).digest() + hashlib.sha256(rfc8785.dumps(document)).digest()
    )
    # 4. proofValue is multibase base58btc of the 64-byte Ed25519 signature.
    if not proof["proofValue"].startswith("z"):
        return False
    signature = base58.b58decode(proof["proofValue"][1:])
    try:
        public.verify(signature, hash_data)
    except InvalidSignature:
        return False
    return True


def _issuer_multikey() -> str:
    public = (
        Ed25519PrivateKey.from_private_bytes(FIXED_SEED)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    return "z" + base58.b58encode(b"\xed\x01" + public).decode()


def _issuer_did_document_key() -> str:
    from datetime import UTC, datetime

    public = (
        Ed25519PrivateKey.from_private_bytes(FIXED_SEED)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    doc = build_did_document(ISSUER_DID, [KeyInfo(KEY_ID, public, created=datetime(2024, 1, 1, tzinfo=UTC))])
    (method,) = [m for m in doc["verificationMethod"] if m["id"] == f"{ISSUER_DID}#{KEY_ID}"]
    assert method["id"] in doc["assertionMethod"]
    key: str = method["publicKeyMultibase"]
    return key


class TestIndependentVerifier:
    def test_control_w3c_vector(self) -> None:
        assert independent_verify(
            vector_json("signedJCS.json"), vector_json("keyPair.json")["publicKeyMultibase"]
        )

    def test_control_w3c_rdfc_vector(self) -> None:
        signed = vector_json("signedDataInt.json", EDDSA_RDFC)
        assert independent_verify(signed, vector_json("keyPair.json", EDDSA_RDFC)["publicKeyMultibase"])
        signed["credentialSubject"]["alumniOf"] = "Another School"
        assert not independent_verify(signed, vector_json("keyPair.json", EDDSA_RDFC)["publicKeyMultibase"])

    def test_project_signs_rdfc(self) -> None:
        assert signed_lot()["proof"]["cryptosuite"] == "eddsa-rdfc-2022"

    def test_project_lot_credential(self) -> None:
        cred = signed_lot()
        assert cred["proof"]["created"] == CREATED
        assert independent_verify(cred, _issuer_multikey())

    def test_project_did_document_key_is_the_same(self) -> None:
        assert _issuer_did_document_key() == _issuer_multikey()

    def test_project_clr_and_its_parts(self) -> None:
        clr = signed_clr()
        assert independent_verify(clr, _issuer_multikey())
        for inner in clr["credentialSubject"]["verifiableCredential"]:
            assert independent_verify(inner, _issuer_multikey())

    @pytest.mark.parametrize("credits", [2.5, 3, 0.5])
    def test_credit_variants(self, credits: float) -> None:
        assert independent_verify(signed_lot(credits=credits), _issuer_multikey())

    def test_tampered_credits_fail(self) -> None:
        cred = signed_lot()
        cred["credentialSubject"]["creditsEarned"] = 25
        assert not independent_verify(cred, _issuer_multikey())

    def test_tampered_ledger_reference_fails(self) -> None:
        cred = signed_lot()
        cred["credentialSubject"]["creditTransfer"]["ledgerReference"]["sequenceNumber"] += 1
        assert not independent_verify(cred, _issuer_multikey())

    def test_other_key_fails(self) -> None:
        other = "z" + base58.b58encode(b"\xed\x01" + b"\x05" * 32).decode()
        assert not independent_verify(signed_lot(), other)
