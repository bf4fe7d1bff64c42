"""Trust roots for offline verification, and the issuer register the bank signs.

How this works
--------------
An auditor who verifies offline trusts only what they pinned beforehand, never what the file being
verified carries (sigstore's rule: keys come from a pinned trust root, not from the bundle):

* A **trust file** (``CreditBankTrustRoots``, served at ``GET /trust.json`` and saved once, or
  written by ``creditbank trust export``) pins the verifier keys of the bank's transparency logs and
  the bank's own DID document (its assertion keys). ``creditbank verify --trust FILE`` reads it;
  ``--log-key`` pins a log key alone.
* An **issuer register** (``CreditBankIssuerRegister``, served at ``GET /issuer-register.json`` and
  carried by evidence bundles) lists the registered issuers with their DID documents, and is signed
  (``eddsa-jcs-2022``) by the bank's key. Its entries count only when its proof verifies with a key
  of the pinned bank DID document, valid when the register was signed; an unsigned or foreign
  register in a bundle is a claim that proves nothing.

Nothing here touches a database or the network.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from creditbank.i18n import msg
from creditbank.standards.tlog import note
from creditbank.standards.tlog.errors import TransparencyError
from creditbank.standards.vc import dataintegrity, did
from creditbank.standards.vc.errors import CredentialError, ResolutionFailed

TRUST_TYPE = "CreditBankTrustRoots"
REGISTER_TYPE = "CreditBankIssuerRegister"
VERSION = 1

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class RegisteredIssuer:
    """An issuer the bank's signed register vouches for."""

    did: str
    description: str
    did_document: JsonObject


@dataclass
class TrustRoots:
    """What an offline verifier trusts: log keys, and the bank's DID document (which pins the key
    that signs the issuer register)."""

    log_keys: list[note.NoteVerifier] = field(default_factory=list)
    bank_did_document: JsonObject | None = None

    def log_key(self, origin: str) -> note.NoteVerifier | None:
        """The pinned key of the log named ``origin`` (a log key's name is the log's origin)."""
        return next((k for k in self.log_keys if k.name == origin), None)

    def add_log_key(self, text: str) -> None:
        """Pin a log's C2SP verifier key (``<name>+<hex key id>+<base64 key>``).

        Raises:
            ResolutionFailed: not a verifier key.
        """
        try:
            self.log_keys.append(note.NoteVerifier.parse(text.strip()))
        except (TransparencyError, ValueError) as exc:
            raise ResolutionFailed(
                msg("detail.credentials.trust.log_verifier_key", value=text.strip())
            ) from exc

    def to_json(self, *, base_url: str | None = None, exported_at: str | None = None) -> JsonObject:
        """The trust file."""
        return {
            "type": TRUST_TYPE,
            "version": VERSION,
            **({"baseUrl": base_url} if base_url else {}),
            **({"exportedAt": exported_at} if exported_at else {}),
            "logs": [{"origin": k.name, "verifierKey": k.to_text()} for k in self.log_keys],
            "bankDidDocument": self.bank_did_document,
        }

    @classmethod
    def from_json(cls, value: Any) -> "TrustRoots":
        """Read a trust file.

        Raises:
            ResolutionFailed: not a trust file of this version.
        """
        if not isinstance(value, dict) or value.get("type") != TRUST_TYPE or value.get("version") != VERSION:
            raise ResolutionFailed(
                msg("detail.credentials.trust.file_version", TRUST_TYPE=TRUST_TYPE, VERSION=VERSION)
            )
        roots = cls()
        logs = value.get("logs", [])
        if not isinstance(logs, list) or not all(isinstance(e, dict) for e in logs):
            raise ResolutionFailed(msg("detail.credentials.trust.logs_must_list"))
        for entry in logs:
            key = entry.get("verifierKey")
            if not isinstance(key, str):
                raise ResolutionFailed(msg("detail.credentials.trust.log_entry_has_no"))
            roots.add_log_key(key)
        bank = value.get("bankDidDocument")
        if bank is not None:
            if not isinstance(bank, dict) or not isinstance(bank.get("id"), str):
                raise ResolutionFailed(msg("detail.credentials.trust.bankdiddocument_must_did_document"))
            roots.bank_did_document = bank
        return roots


def register_document(issuers: list[RegisteredIssuer], bank_did: str, issued: str) -> JsonObject:
    """The unsigned issuer register (sign it with the bank's key, ``dataintegrity.sign``)."""
    return {
        "type": REGISTER_TYPE,
        "version": VERSION,
        "issuer": bank_did,
        "issued": issued,
        "issuers": [
            {"did": i.did, "description": i.description, "didDocument": i.did_document}
            for i in sorted(issuers, key=lambda i: i.did)
        ],
    }


def verify_register(register: Any, bank_did_document: JsonObject) -> list[RegisteredIssuer]:
    """The issuers of a register whose proof verifies with a key of the pinned bank DID document,
    valid when the register was signed.

    Raises:
        ResolutionFailed: not a register, not issued by the bank, or its proof does not verify.
    """
    if not isinstance(register, dict) or register.get("type") != REGISTER_TYPE:
        raise ResolutionFailed(msg("detail.credentials.trust.not_a_register", REGISTER_TYPE=REGISTER_TYPE))
    bank = bank_did_document.get("id")
    if register.get("issuer") != bank:
        raise ResolutionFailed(msg("detail.credentials.trust.issuer_register_issued_pinned", bank=bank))
    try:
        proof = dataintegrity.extract_proof(register)
        created = dataintegrity.parse_datetime(proof["created"]) if "created" in proof else None

        def resolve(method: str) -> bytes:
            return did.key_for_proof(bank_did_document, method, created)

        dataintegrity.verify(register, resolve)
    except CredentialError as exc:
        raise ResolutionFailed(
            msg("detail.credentials.trust.issuer_register_s_signature", reason=exc.said)
        ) from exc
    entries = register.get("issuers")
    if not isinstance(entries, list):
        raise ResolutionFailed(msg("detail.credentials.trust.issuer_register_has_no"))
    found: list[RegisteredIssuer] = []
    for entry in entries:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("did"), str)
            and isinstance(entry.get("didDocument"), dict)
            and entry["didDocument"].get("id") == entry["did"]
        ):
            found.append(
                RegisteredIssuer(entry["did"], str(entry.get("description", "")), entry["didDocument"])
            )
    return found


def signed_at(register: JsonObject) -> datetime | None:
    """When the register was signed (its proof's ``created``), if it says."""
    proof = register.get("proof")
    created = proof.get("created") if isinstance(proof, dict) else None
    return dataintegrity.parse_datetime(created) if isinstance(created, str) else None
