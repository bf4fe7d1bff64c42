"""W3C VC Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite (VC-DI-EdDSA section 3.3).

How a proof is made (:func:`sign`):

1. The *unsecured document* is the credential without ``proof``. It is canonicalised with RFC 8785
   (JCS, the ``rfc8785`` package; never ``json.dumps(sort_keys=True)``, which differs on numbers,
   non-ASCII text and key order).
2. The *proof configuration* is ``{type: DataIntegrityProof, cryptosuite: eddsa-jcs-2022, created,
   verificationMethod, proofPurpose}`` plus the document's ``@context``; it is canonicalised the
   same way.
3. ``hashData = SHA-256(canonical proof config) || SHA-256(canonical document)`` (64 bytes; the proof
   configuration's hash comes first).
4. The Ed25519 signature of ``hashData`` is ``proofValue`` = ``z`` + base58btc(signature), and the
   proof configuration plus ``proofValue`` is attached as ``proof``.

Verification (:func:`verify`) undoes this: it takes ``proof`` out, checks the type and cryptosuite,
checks that the document's ``@context`` starts with the proof's ``@context`` (in order) and uses the
proof's context for the document, recomputes ``hashData`` and checks the signature against the key
that ``resolve_key`` returns for the verification method. Whether that key belongs to the issuer,
is listed under ``assertionMethod`` and was valid at ``created`` is the resolver's business
(see :func:`creditbank.credentials.did.key_for_proof`) and :func:`check_issuer`.

The intermediate values are exposed (:func:`canonical_document`, :func:`canonical_proof_config`,
:func:`hash_data`) so tests can compare them with the W3C vectors byte for byte. Ed25519 comes from
:mod:`creditbank.crypto.signing` only; its errors are translated here.
"""

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from creditbank.credentials.errors import (
    CanonicalizationFailed,
    ContextMismatch,
    CryptosuiteUnsupported,
    IssuerMismatch,
    KeyUnresolvable,
    MultikeyInvalid,
    ProofMalformed,
    ProofMissing,
    ProofPurposeMismatch,
    SignatureInvalid,
)
from creditbank.credentials.multikey import decode_base58btc, encode_base58btc
from creditbank.crypto import KeyFormatError, signing
from creditbank.crypto import SignatureInvalid as CryptoSignatureInvalid

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
ASSERTION_METHOD = "assertionMethod"

# XML Schema dateTimeStamp-ish: a date, a time, optional fraction and an optional zone.
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class VerifiedProof:
    """What a successful :func:`verify` established."""

    verification_method: str
    proof_purpose: str
    created: str | None
    cryptosuite: str
    public_key: bytes

    @property
    def created_at(self) -> datetime | None:
        """``created`` as an aware datetime (UTC when the value had no zone), or None."""
        return parse_datetime(self.created) if self.created else None


def parse_datetime(value: str) -> datetime:
    """Parse an XML Schema dateTime as used in VCs (``2023-02-24T23:36:38Z``).

    Raises:
        ProofMalformed: the value is not such a date-time.
    """
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ProofMalformed(f"not an XML Schema dateTime: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProofMalformed(f"not an XML Schema dateTime: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Raises:
        CanonicalizationFailed: the value holds something JSON cannot carry exactly (``Decimal``,
            an integer beyond 2**53, NaN or infinity, a non-string key, another type).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalizationFailed(str(exc)) from exc


def proof_config(
    document: JsonObject,
    verification_method: str,
    created: str,
    proof_purpose: str = ASSERTION_METHOD,
) -> JsonObject:
    """Return the proof configuration for ``document`` (section 3.3.5), without ``proofValue``.

    Raises:
        ProofMalformed: ``created`` is not an XML Schema dateTime.
    """
    parse_datetime(created)
    config: JsonObject = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if "@context" in document:
        config["@context"] = copy.deepcopy(document["@context"])
    return config


def unsecured(document: JsonObject) -> JsonObject:
    """Return a copy of ``document`` without ``proof``."""
    return {k: v for k, v in document.items() if k != "proof"}


def canonical_document(document: JsonObject) -> bytes:
    """Return JCS(document without ``proof``) (section 3.3.3).

    Raises:
        CanonicalizationFailed: see :func:`canonicalize`.
    """
    return canonicalize(unsecured(document))


def canonical_proof_config(config: JsonObject) -> bytes:
    """Return JCS(proof configuration) with any ``proofValue`` removed.

    Raises:
        CanonicalizationFailed: see :func:`canonicalize`.
    """
    return canonicalize({k: v for k, v in config.items() if k != "proofValue"})


def hash_data(canonical_config: bytes, canonical_doc: bytes) -> bytes:
    """Return SHA-256(canonical proof config) || SHA-256(canonical document) (section 3.3.4)."""
    return hashlib.sha256(canonical_config).digest() + hashlib.sha256(canonical_doc).digest()


def sign(
    document: JsonObject,
    seed: bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = ASSERTION_METHOD,
) -> JsonObject:
    """Return a copy of ``document`` secured with an ``eddsa-jcs-2022`` DataIntegrityProof.

    ``document`` must not already carry a ``proof`` (proof sets and chains are not supported).

    Raises:
        ProofMalformed: ``document`` already has a proof, or ``created`` is not a dateTime.
        CanonicalizationFailed: the document holds a value JCS refuses (e.g. a ``Decimal``).
        KeyUnresolvable: ``seed`` is not a 32-byte Ed25519 seed.
    """
    if "proof" in document:
        raise ProofMalformed("the document already has a proof")
    config = proof_config(document, verification_method, created, proof_purpose)
    data = hash_data(canonical_proof_config(config), canonical_document(document))
    try:
        signature = signing.sign(seed, data)
    except KeyFormatError as exc:
        raise KeyUnresolvable(f"bad signing key: {exc}") from exc
    secured = copy.deepcopy(document)
    secured["proof"] = {**config, "proofValue": encode_base58btc(signature)}
    return secured


def extract_proof(document: JsonObject) -> JsonObject:
    """Return the single ``eddsa-jcs-2022`` proof of ``document``, checked for shape.

    Raises:
        ProofMissing: there is no ``proof``.
        ProofMalformed: the proof is not one object, or lacks a string field it needs.
        CryptosuiteUnsupported: it is not a DataIntegrityProof with cryptosuite eddsa-jcs-2022.
    """
    if not isinstance(document, dict) or "proof" not in document:
        raise ProofMissing()
    proof = document["proof"]
    if isinstance(proof, list):
        if len(proof) != 1:
            raise ProofMalformed("proof sets with more than one proof are not supported")
        proof = proof[0]
    if not isinstance(proof, dict):
        raise ProofMalformed("proof is not an object")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise CryptosuiteUnsupported(
            f"got type {proof.get('type')!r} with cryptosuite {proof.get('cryptosuite')!r}"
        )
    for field in ("verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(field), str) or not proof[field]:
            raise ProofMalformed(f"proof.{field} is missing or not a string")
    if "created" in proof:
        parse_datetime(proof["created"])
    return proof


def verify(
    document: JsonObject,
    resolve_key: Callable[[str], bytes],
    expected_purpose: str = ASSERTION_METHOD,
) -> VerifiedProof:
    """Verify the ``eddsa-jcs-2022`` proof of ``document`` (section 3.3.2).

    ``resolve_key`` maps the proof's ``verificationMethod`` to a raw 32-byte Ed25519 public key; it
    may raise any :class:`~creditbank.credentials.errors.CredentialError` (which passes through).

    Raises:
        ProofMissing, ProofMalformed, CryptosuiteUnsupported: see :func:`extract_proof`.
        ProofPurposeMismatch: ``proofPurpose`` is not ``expected_purpose``.
        ContextMismatch: the document's ``@context`` does not start with the proof's ``@context``.
        CanonicalizationFailed: the document cannot be canonicalised.
        KeyUnresolvable: the resolved key is not a 32-byte Ed25519 key (or the resolver says so).
        SignatureInvalid: the proofValue is not a 64-byte signature over the recomputed hash.
    """
    proof = extract_proof(document)
    if proof["proofPurpose"] != expected_purpose:
        raise ProofPurposeMismatch(
            f"proofPurpose is {proof['proofPurpose']!r}, expected {expected_purpose!r}"
        )
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    doc = unsecured(document)
    # 1. The proof's @context (if any) must be a prefix of the document's, in the same order;
    #    the document is then hashed with the proof's @context, as the signer saw it.
    if "@context" in options:
        proof_ctx = _as_list(options["@context"])
        doc_ctx = _as_list(doc.get("@context", []))
        if doc_ctx[: len(proof_ctx)] != proof_ctx:
            raise ContextMismatch()
        doc["@context"] = options["@context"]
    # 2. Decode the signature.
    try:
        signature = decode_base58btc(proof["proofValue"])
    except MultikeyInvalid as exc:
        raise SignatureInvalid("proofValue is not multibase base58btc") from exc
    # 3. Recompute hashData and check the signature.
    data = hash_data(canonical_proof_config(options), canonical_document(doc))
    public_key = resolve_key(proof["verificationMethod"])
    try:
        signing.verify(public_key, data, signature)
    except KeyFormatError as exc:
        raise KeyUnresolvable(f"bad public key: {exc}") from exc
    except CryptoSignatureInvalid as exc:
        raise SignatureInvalid(str(exc)) from exc
    return VerifiedProof(
        verification_method=proof["verificationMethod"],
        proof_purpose=proof["proofPurpose"],
        created=proof.get("created"),
        cryptosuite=proof["cryptosuite"],
        public_key=public_key,
    )


def issuer_id(document: JsonObject) -> str:
    """Return the credential's issuer id (``issuer`` as a string or ``issuer.id``).

    Raises:
        IssuerMismatch: the credential has no usable issuer id.
    """
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str) or not issuer:
        raise IssuerMismatch("the credential has no issuer id")
    return issuer


def check_issuer(document: JsonObject, verification_method: str) -> None:
    """Check that ``verification_method`` is a DID URL of the credential's issuer (``<issuer>#...``).

    Raises:
        IssuerMismatch: the verification method's DID is not the issuer.
    """
    issuer = issuer_id(document)
    controller = verification_method.split("#", 1)[0]
    if controller != issuer:
        raise IssuerMismatch(f"verification method {verification_method!r} is not the issuer's {issuer!r}")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]
