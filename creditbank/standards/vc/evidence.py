"""The evidence format: what proves a certificate offline, as one JSON file.

How this works
--------------
A ``CertificateEvidence`` bundle (:func:`evidence_bundle`) holds everything the checks need for one
certificate: DID documents, status list credentials, the issuer register signed by the bank, and for
each ledger reference a ``LedgerEvidence`` (:class:`LedgerEvidence`: log origin, the log's verifier
key as a claim, index, tree size, leaf hash, the leaf's bytes, inclusion proof and the signed
checkpoint). Everything a bundle carries is a claim: :class:`~.resolvers.OfflineResolver` reads it and
counts each part only through a root of trust given outside the file.
"""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from creditbank.i18n import msg
from creditbank.standards.vc.errors import LedgerReferenceInvalid

EVIDENCE_TYPE = "CertificateEvidence"
LEDGER_EVIDENCE_TYPE = "LedgerEvidence"
EVIDENCE_VERSION = 1

JsonObject = dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: Any, what: str) -> bytes:
    """The bytes of a standard base64 string.

    Raises:
        LedgerReferenceInvalid: ``value`` is not a standard base64 string (``what`` names it).
    """
    if not isinstance(value, str):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.evidence.not_base64_string", what=what))
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise LedgerReferenceInvalid(
            msg("detail.standards.vc.evidence.not_standard_base64", what=what)
        ) from exc


@dataclass(frozen=True)
class LedgerEvidence:
    """What proves one leaf of a log: an inclusion proof, the signed checkpoint and the leaf's bytes.

    ``verifier_key`` is the log key the evidence names: a claim, never used to verify (the verifier
    takes the log's key from its resolver's trust roots).
    """

    log_origin: str
    verifier_key: str
    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]
    checkpoint: str
    leaf: bytes | None = None

    def to_json(self) -> JsonObject:
        return {
            "type": LEDGER_EVIDENCE_TYPE,
            "logOrigin": self.log_origin,
            "verifierKey": self.verifier_key,
            "index": self.index,
            "size": self.size,
            "leafHash": _b64(self.leaf_hash),
            "proof": [_b64(p) for p in self.proof],
            "checkpoint": self.checkpoint,
            **({"leaf": _b64(self.leaf)} if self.leaf is not None else {}),
        }

    @classmethod
    def from_json(cls, value: Any) -> "LedgerEvidence":
        """Raises: LedgerReferenceInvalid: not a ``LedgerEvidence`` object."""
        if not isinstance(value, dict) or value.get("type") != LEDGER_EVIDENCE_TYPE:
            raise LedgerReferenceInvalid(msg("detail.standards.vc.evidence.not_ledger_evidence"))
        try:
            origin, key, checkpoint = value["logOrigin"], value["verifierKey"], value["checkpoint"]
            index, size, proof = value["index"], value["size"], value["proof"]
        except KeyError as exc:
            raise LedgerReferenceInvalid(
                msg("detail.standards.vc.evidence.lacks", field=exc.args[0])
            ) from exc
        if not all(isinstance(v, str) for v in (origin, key, checkpoint)):
            raise LedgerReferenceInvalid(msg("detail.standards.vc.evidence.strings"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, size)):
            raise LedgerReferenceInvalid(msg("detail.standards.vc.evidence.integers"))
        if not isinstance(proof, list):
            raise LedgerReferenceInvalid(msg("detail.standards.vc.evidence.proof_list"))
        return cls(
            log_origin=origin,
            verifier_key=key,
            index=index,
            size=size,
            leaf_hash=unb64(value.get("leafHash", ""), "leafHash"),
            proof=[unb64(p, "proof[]") for p in proof],
            checkpoint=checkpoint,
            leaf=unb64(value["leaf"], "leaf") if value.get("leaf") is not None else None,
        )


def evidence_bundle(
    *,
    certificate_id: str | None,
    did_documents: Sequence[JsonObject],
    status_lists: Sequence[JsonObject],
    register: dict[str, str],
    ledger: Sequence[LedgerEvidence],
    signed_register: JsonObject | None = None,
) -> JsonObject:
    """A ``CertificateEvidence`` bundle (the format :meth:`OfflineResolver.add_bundle` reads).

    ``issuerRegister`` is informative only; what a verifier can rely on is ``signedIssuerRegister``
    (checked against the bank key its trust file pins).
    """
    return {
        "type": EVIDENCE_TYPE,
        "version": EVIDENCE_VERSION,
        "certificateId": certificate_id,
        "didDocuments": list(did_documents),
        "statusLists": list(status_lists),
        "issuerRegister": [{"did": d, "description": why} for d, why in sorted(register.items())],
        **({"signedIssuerRegister": signed_register} if signed_register is not None else {}),
        "ledger": [e.to_json() for e in ledger],
    }
