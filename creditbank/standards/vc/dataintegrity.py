"""W3C VC Data Integrity proofs: ``eddsa-rdfc-2022`` (issued) and ``eddsa-jcs-2022`` (still verified).

How a proof is made (:func:`sign`, VC-DI-EdDSA sections 3.2 and 3.3):

1. The *unsecured document* is the credential without ``proof``. It is canonicalised:
   ``eddsa-rdfc-2022`` expands it as JSON-LD with the bundled contexts only (no network) and
   canonicalises the RDF dataset with RDFC-1.0 (pyld's URDNA2015, the same algorithm), giving
   N-Quads; ``eddsa-jcs-2022`` uses RFC 8785 (JCS, the ``rfc8785`` package; never
   ``json.dumps(sort_keys=True)``).
2. The *proof configuration* is ``{type: DataIntegrityProof, cryptosuite, created,
   verificationMethod, proofPurpose}`` plus the document's ``@context``, canonicalised the same way.
   An ``eddsa-rdfc-2022`` proof is embedded without ``@context`` (as in the W3C vector); an
   ``eddsa-jcs-2022`` proof carries it.
3. ``hashData = SHA-256(canonical proof config) || SHA-256(canonical document)`` (64 bytes; the proof
   configuration's hash comes first).
4. The Ed25519 signature of ``hashData`` is ``proofValue`` = ``z`` + base58btc(signature).

RDF canonicalisation signs what the document *means*: a property that no context defines would
silently vanish from the signed dataset. :func:`canonical_document` therefore runs in JSON-LD safe
mode (:func:`creditbank.standards.vc.contexts.safe_expand`): a term that does not expand is an error,
for the signer and for the verifier alike.

Verification (:func:`verify_proofs`) checks every proof of the document (a proof set, or a chain
through ``previousProof``): for each, it recomputes ``hashData`` with that proof's cryptosuite and
checks the signature against the key that ``resolve_key`` returns for the verification method.
Whether that key belongs to the issuer, is listed under ``assertionMethod`` and was valid at
``created`` is the resolver's business (see :func:`creditbank.standards.vc.did.key_for_proof`) and
:func:`check_issuer`.

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
from pyld import jsonld

from creditbank.crypto import KeyFormatError, signing
from creditbank.crypto import SignatureInvalid as CryptoSignatureInvalid
from creditbank.i18n import msg
from creditbank.standards.vc import rdfc_digests
from creditbank.standards.vc.contexts import safe_expand
from creditbank.standards.vc.errors import (
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
from creditbank.standards.vc.multikey import decode_base58btc, encode_base58btc

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE_RDFC = "eddsa-rdfc-2022"
CRYPTOSUITE_JCS = "eddsa-jcs-2022"
CRYPTOSUITE = CRYPTOSUITE_RDFC
"""The cryptosuite the service signs with (the one Open Badges wallets and validators accept)."""
CRYPTOSUITES: tuple[str, ...] = (CRYPTOSUITE_RDFC, CRYPTOSUITE_JCS)
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
        raise ProofMalformed(msg("detail.standards.vc.dataintegrity.xml_schema_datetime", value=value))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProofMalformed(
            msg("detail.standards.vc.dataintegrity.xml_schema_datetime", value=value)
        ) from exc
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


def canonicalize_rdfc(document: JsonObject) -> bytes:
    """Return the RDFC-1.0 canonical N-Quads (UTF-8) of a JSON-LD document, contexts bundled.

    Raises:
        UndefinedTerm: a value would be dropped or an IRI left relative (safe mode).
        ContextNotBundled: the document names a context that is not bundled.
        CanonicalizationFailed: the document is not JSON-LD that canonicalisation accepts.
    """
    expanded = safe_expand(document)
    try:
        nquads = jsonld.normalize(expanded, {"algorithm": "URDNA2015", "format": "application/n-quads"})
    except (jsonld.JsonLdError, TypeError, ValueError) as exc:
        raise CanonicalizationFailed(
            msg(
                "detail.standards.vc.dataintegrity.rdf_canonicalisation_failed",
                value=str(exc).splitlines()[0],
            )
        ) from exc
    if not isinstance(nquads, str):  # pragma: no cover - the n-quads format always gives text
        raise CanonicalizationFailed(msg("detail.standards.vc.dataintegrity.rdf_canonicalisation_gave_no"))
    return nquads.encode("utf-8")


def _canonical(value: JsonObject, cryptosuite: str) -> bytes:
    if cryptosuite == CRYPTOSUITE_RDFC:
        return canonicalize_rdfc(value)
    if cryptosuite == CRYPTOSUITE_JCS:
        return canonicalize(value)
    raise CryptosuiteUnsupported(
        msg(
            "detail.standards.vc.dataintegrity.cryptosuite_one",
            cryptosuite=cryptosuite,
            value=", ".join(CRYPTOSUITES),
        )
    )


def proof_config(
    document: JsonObject,
    verification_method: str,
    created: str,
    proof_purpose: str = ASSERTION_METHOD,
    cryptosuite: str = CRYPTOSUITE,
) -> JsonObject:
    """Return the proof configuration for ``document`` (sections 3.2.5, 3.3.5), without ``proofValue``.

    It carries the document's ``@context`` (the rdfc proof embedded in the credential leaves it out).

    Raises:
        ProofMalformed: ``created`` is not an XML Schema dateTime.
        CryptosuiteUnsupported: not one of :data:`CRYPTOSUITES`.
    """
    parse_datetime(created)
    if cryptosuite not in CRYPTOSUITES:
        raise CryptosuiteUnsupported(
            msg(
                "detail.standards.vc.dataintegrity.cryptosuite_one",
                cryptosuite=cryptosuite,
                value=", ".join(CRYPTOSUITES),
            )
        )
    config: JsonObject = {
        "type": PROOF_TYPE,
        "cryptosuite": cryptosuite,
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


def canonical_document(document: JsonObject, cryptosuite: str = CRYPTOSUITE_JCS) -> bytes:
    """Return the canonical form of the document without ``proof`` (sections 3.2.3, 3.3.3).

    Raises:
        CanonicalizationFailed, UndefinedTerm, ContextNotBundled: see :func:`canonicalize` and
            :func:`canonicalize_rdfc`.
    """
    return _canonical(unsecured(document), cryptosuite)


def canonical_proof_config(config: JsonObject, cryptosuite: str = CRYPTOSUITE_JCS) -> bytes:
    """Return the canonical proof configuration with any ``proofValue`` removed.

    Raises:
        CanonicalizationFailed, UndefinedTerm, ContextNotBundled: as :func:`canonical_document`.
    """
    return _canonical({k: v for k, v in config.items() if k != "proofValue"}, cryptosuite)


def hash_data(canonical_config: bytes, canonical_doc: bytes) -> bytes:
    """Return SHA-256(canonical proof config) || SHA-256(canonical document) (sections 3.2.4, 3.3.4)."""
    return hashlib.sha256(canonical_config).digest() + hashlib.sha256(canonical_doc).digest()


def sign(
    document: JsonObject,
    seed: bytes,
    verification_method: str,
    created: str,
    proof_purpose: str = ASSERTION_METHOD,
    cryptosuite: str = CRYPTOSUITE,
) -> JsonObject:
    """Return a copy of ``document`` secured with a DataIntegrityProof of ``cryptosuite``.

    ``document`` must not already carry a ``proof``.

    Raises:
        ProofMalformed: ``document`` already has a proof, or ``created`` is not a dateTime.
        CryptosuiteUnsupported: an unknown cryptosuite.
        CanonicalizationFailed: the document holds a value JCS refuses (e.g. a ``Decimal``).
        UndefinedTerm, ContextNotBundled: (rdfc) the document is not fully defined by bundled contexts.
        KeyUnresolvable: ``seed`` is not a 32-byte Ed25519 seed.
    """
    if "proof" in document:
        raise ProofMalformed(msg("detail.standards.vc.dataintegrity.document_already_has_proof"))
    config = proof_config(document, verification_method, created, proof_purpose, cryptosuite)
    data = hash_data(canonical_proof_config(config, cryptosuite), canonical_document(document, cryptosuite))
    try:
        signature = signing.sign(seed, data)
    except KeyFormatError as exc:
        raise KeyUnresolvable(msg("detail.standards.vc.dataintegrity.bad_signing_key", exc=exc)) from exc
    secured = copy.deepcopy(document)
    embedded = dict(config)
    if cryptosuite == CRYPTOSUITE_RDFC:
        embedded.pop("@context", None)
    secured["proof"] = {**embedded, "proofValue": encode_base58btc(signature)}
    return secured


def _check_shape(proof: Any) -> JsonObject:
    if not isinstance(proof, dict):
        raise ProofMalformed(msg("detail.standards.vc.dataintegrity.proof_object"))
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") not in CRYPTOSUITES:
        raise CryptosuiteUnsupported(
            msg(
                "detail.standards.vc.dataintegrity.got_type_cryptosuite_supported",
                value=proof.get("type"),
                value2=proof.get("cryptosuite"),
                PROOF_TYPE=PROOF_TYPE,
                value3=" or ".join(CRYPTOSUITES),
            )
        )
    for field in ("verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(field), str) or not proof[field]:
            raise ProofMalformed(msg("detail.standards.vc.dataintegrity.proof_missing_string", field=field))
    if "created" in proof:
        parse_datetime(proof["created"])
    return proof


def extract_proofs(document: JsonObject) -> list[JsonObject]:
    """Return every proof of ``document`` (one object, or a proof set / chain), each checked for shape.

    Raises:
        ProofMissing: there is no ``proof`` (or an empty set).
        ProofMalformed: a proof is not an object, or lacks a string field it needs.
        CryptosuiteUnsupported: a proof is not a DataIntegrityProof of a supported cryptosuite.
    """
    if not isinstance(document, dict) or "proof" not in document:
        raise ProofMissing()
    proofs = document["proof"]
    proofs = proofs if isinstance(proofs, list) else [proofs]
    if not proofs:
        raise ProofMissing()
    return [_check_shape(p) for p in proofs]


def extract_proof(document: JsonObject) -> JsonObject:
    """Return the first proof of ``document`` (see :func:`extract_proofs`).

    Raises:
        ProofMissing, ProofMalformed, CryptosuiteUnsupported: see :func:`extract_proofs`.
    """
    return extract_proofs(document)[0]


def _previous(proof: JsonObject, proofs: list[JsonObject]) -> list[JsonObject]:
    """The proofs a chained proof names in ``previousProof`` (VC-DI section 4.3, step 3)."""
    wanted = proof.get("previousProof")
    if wanted is None:
        return []
    ids = wanted if isinstance(wanted, list) else [wanted]
    found = [p for p in proofs if p.get("id") in ids]
    if len(found) != len(ids) or not all(isinstance(i, str) for i in ids):
        raise ProofMalformed(
            msg("detail.standards.vc.dataintegrity.previousproof_names_proof_document", wanted=wanted)
        )
    return found


def _verify_one(
    document: JsonObject,
    proof: JsonObject,
    proofs: list[JsonObject],
    resolve_key: Callable[[str], bytes],
    expected_purpose: str,
) -> VerifiedProof:
    suite = proof["cryptosuite"]
    if proof["proofPurpose"] != expected_purpose:
        raise ProofPurposeMismatch(
            msg(
                "detail.standards.vc.dataintegrity.proofpurpose_expected",
                value=proof["proofPurpose"],
                expected_purpose=expected_purpose,
            )
        )
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    doc = unsecured(document)
    previous = _previous(proof, proofs)
    if previous:
        doc["proof"] = previous
    # 1. The proof's @context (if any) must be a prefix of the document's, in the same order;
    #    the document is then hashed with the proof's @context, as the signer saw it.
    if "@context" in options:
        proof_ctx = _as_list(options["@context"])
        doc_ctx = _as_list(doc.get("@context", []))
        if doc_ctx[: len(proof_ctx)] != proof_ctx:
            raise ContextMismatch()
        doc["@context"] = options["@context"]
    elif suite == CRYPTOSUITE_RDFC and "@context" in doc:
        # the rdfc proof configuration is canonicalised with the document's context
        options["@context"] = copy.deepcopy(doc["@context"])
    # 2. Decode the signature.
    try:
        signature = decode_base58btc(proof["proofValue"])
    except MultikeyInvalid as exc:
        raise SignatureInvalid(
            msg("detail.standards.vc.dataintegrity.proofvalue_multibase_base_btc")
        ) from exc
    # 3. Recompute hashData and check the signature.
    if suite == CRYPTOSUITE_RDFC:  # the costly canonical forms, remembered by value (see the module)
        data = rdfc_digests.digest(options, canonicalize_rdfc) + rdfc_digests.digest(doc, canonicalize_rdfc)
    else:
        data = hash_data(canonical_proof_config(options, suite), _canonical(doc, suite))
    public_key = resolve_key(proof["verificationMethod"])
    try:
        signing.verify(public_key, data, signature)
    except KeyFormatError as exc:
        raise KeyUnresolvable(msg("detail.standards.vc.dataintegrity.bad_public_key", exc=exc)) from exc
    except CryptoSignatureInvalid as exc:
        raise SignatureInvalid(
            msg("detail.standards.vc.dataintegrity.suite_signature_invalid", suite=suite, exc=exc)
        ) from exc
    return VerifiedProof(
        verification_method=proof["verificationMethod"],
        proof_purpose=proof["proofPurpose"],
        created=proof.get("created"),
        cryptosuite=suite,
        public_key=public_key,
    )


def verify_proofs(
    document: JsonObject,
    resolve_key: Callable[[str], bytes],
    expected_purpose: str = ASSERTION_METHOD,
) -> list[VerifiedProof]:
    """Verify every proof of ``document``; all must verify (VC-DI section 4.2, proof sets and chains).

    ``resolve_key`` maps a proof's ``verificationMethod`` to a raw 32-byte Ed25519 public key; it
    may raise any :class:`~creditbank.standards.vc.errors.CredentialError` (which passes through).

    Raises:
        ProofMissing, ProofMalformed, CryptosuiteUnsupported: see :func:`extract_proofs`.
        ProofPurposeMismatch: a ``proofPurpose`` is not ``expected_purpose``.
        ContextMismatch: the document's ``@context`` does not start with a proof's ``@context``.
        CanonicalizationFailed, UndefinedTerm, ContextNotBundled: the document cannot be canonicalised.
        KeyUnresolvable: a resolved key is not a 32-byte Ed25519 key (or the resolver says so).
        SignatureInvalid: a proofValue is not a 64-byte signature over the recomputed hash.
    """
    proofs = extract_proofs(document)
    return [_verify_one(document, p, proofs, resolve_key, expected_purpose) for p in proofs]


def verify(
    document: JsonObject,
    resolve_key: Callable[[str], bytes],
    expected_purpose: str = ASSERTION_METHOD,
) -> VerifiedProof:
    """Verify every proof of ``document`` and return the first (see :func:`verify_proofs`).

    Raises:
        What :func:`verify_proofs` raises.
    """
    return verify_proofs(document, resolve_key, expected_purpose)[0]


def issuer_id(document: JsonObject) -> str:
    """Return the credential's issuer id (``issuer`` as a string or ``issuer.id``).

    Raises:
        IssuerMismatch: the credential has no usable issuer id.
    """
    issuer = document.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str) or not issuer:
        raise IssuerMismatch(msg("detail.standards.vc.dataintegrity.credential_has_no_issuer"))
    return issuer


def check_issuer(document: JsonObject, verification_method: str) -> None:
    """Check that ``verification_method`` is a DID URL of the credential's issuer (``<issuer>#...``).

    Raises:
        IssuerMismatch: the verification method's DID is not the issuer.
    """
    issuer = issuer_id(document)
    controller = verification_method.split("#", 1)[0]
    if controller != issuer:
        raise IssuerMismatch(
            msg(
                "detail.standards.vc.dataintegrity.verification_method_issuer_s",
                verification_method=verification_method,
                issuer=issuer,
            )
        )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]
