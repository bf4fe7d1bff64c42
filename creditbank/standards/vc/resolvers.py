"""Where verification gets what a certificate refers to: the resolver interface, offline files,
and a recorder that keeps every answer for an evidence bundle.

How this works
--------------
A :class:`Resolver` answers the checks' questions (a DID document, a status list, why an issuer is
trusted, the inclusion proof of a leaf, a log's key). :class:`OfflineResolver` reads files, so an
auditor can verify with no network at all; :class:`RecordingResolver` wraps another resolver and
builds the evidence bundle of what it answered. The resolver over HTTP is
:class:`creditbank.credentials.http_resolver.HttpResolver`, the one over the service's database
:class:`creditbank.credentials.local_resolver.DatabaseResolver`.

Offline, trust comes only from roots given outside the file being verified
(:class:`~creditbank.standards.vc.trust.TrustRoots`: pinned log keys and the bank's DID document;
``trusted_did_documents``). Everything an evidence bundle carries is a claim: its DID documents are
never used for a key, its register counts only when signed by the pinned bank key, its status lists
only when signed by a trusted issuer key, its inclusion proofs only against a pinned log key.
"""

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from creditbank.i18n import Said, msg
from creditbank.standards.tlog import note
from creditbank.standards.vc import trust as trustlib
from creditbank.standards.vc.errors import LedgerReferenceInvalid, ResolutionFailed
from creditbank.standards.vc.evidence import (
    EVIDENCE_TYPE,
    LEDGER_EVIDENCE_TYPE,
    JsonObject,
    LedgerEvidence,
    evidence_bundle,
)

log = logging.getLogger("creditbank.verify")


class Resolver(Protocol):
    """Where verification gets what the certificate refers to. Every method raises
    :class:`~creditbank.standards.vc.errors.ResolutionFailed` when it cannot answer."""

    def did_document(self, did: str) -> JsonObject:
        """The DID document of ``did``."""
        ...

    def status_list(self, url: str) -> JsonObject:
        """The (signed) status list credential whose id is ``url``."""
        ...

    def issuer_trust(self, did: str) -> Said | None:
        """Why ``did`` is a trusted issuer, completing "<did> is ...", e.g. "registered institution
        <name> (<id>)" or "the credit bank itself" (a message, said in the reader's language); None
        when it is not trusted."""
        ...

    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        """An inclusion proof of leaf ``index`` of the log ``log_origin``, with its checkpoint and leaf."""
        ...

    def log_key(self, log_origin: str) -> note.NoteVerifier:
        """The key of the log ``log_origin`` that this resolver trusts (pinned, or its service's own)."""
        ...


@dataclass
class OfflineResolver:
    """Answers from files only: never touches the network.

    Trusted: ``trust`` (pinned log keys and the bank's DID document, from ``--trust`` and
    ``--log-key``), ``trusted_did_documents`` (``--trust-did-document``), and the issuers of a
    register in ``registers`` whose signature verifies with the pinned bank key. Claims only:
    ``did_documents`` (from a bundle or ``--did-document``) are never used for a key; a status list
    counts only through its signature. ``fallback`` (e.g. an :class:`HttpResolver`) answers what the
    files do not.
    """

    did_documents: list[JsonObject] = field(default_factory=list)
    status_lists: list[JsonObject] = field(default_factory=list)
    trusted_did_documents: list[JsonObject] = field(default_factory=list)
    ledger: list[LedgerEvidence] = field(default_factory=list)
    registers: list[JsonObject] = field(default_factory=list)
    trust: trustlib.TrustRoots = field(default_factory=trustlib.TrustRoots)
    fallback: Resolver | None = None

    def add_bundle(self, bundle: Any) -> None:
        """Add everything of a ``CertificateEvidence`` bundle, a ``LedgerEvidence`` or a list of them.

        Raises:
            ResolutionFailed: the value is none of these.
        """
        if isinstance(bundle, list):
            for item in bundle:
                self.add_bundle(item)
            return
        if not isinstance(bundle, dict):
            raise ResolutionFailed(msg("detail.standards.vc.resolvers.evidence_not_object"))
        kind = bundle.get("type")
        try:
            if kind == LEDGER_EVIDENCE_TYPE:
                self.ledger.append(LedgerEvidence.from_json(bundle))
                return
            if kind == trustlib.REGISTER_TYPE:
                self.registers.append(bundle)
                return
            if kind != EVIDENCE_TYPE:
                raise ResolutionFailed(msg("detail.standards.vc.resolvers.unknown_evidence_type", kind=kind))
            self.did_documents.extend(d for d in bundle.get("didDocuments", []) if isinstance(d, dict))
            self.status_lists.extend(s for s in bundle.get("statusLists", []) if isinstance(s, dict))
            register = bundle.get("signedIssuerRegister")
            if isinstance(register, dict):
                self.registers.append(register)
            self.ledger.extend(LedgerEvidence.from_json(e) for e in bundle.get("ledger", []))
        except (LedgerReferenceInvalid, AttributeError, TypeError) as exc:
            reason = exc.said if isinstance(exc, LedgerReferenceInvalid) else str(exc)
            raise ResolutionFailed(
                msg("detail.standards.vc.resolvers.malformed_evidence", reason=reason)
            ) from exc

    def _registered(self) -> dict[str, trustlib.RegisteredIssuer]:
        """The issuers of the registers that verify with the pinned bank key (the others are ignored)."""
        bank = self.trust.bank_did_document
        found: dict[str, trustlib.RegisteredIssuer] = {}
        if bank is None:
            return found
        for register in self.registers:
            try:
                found.update((i.did, i) for i in trustlib.verify_register(register, bank))
            except ResolutionFailed:
                log.info("an issuer register that does not verify with the pinned bank key was ignored")
        return found

    def _trusted_document(self, did: str) -> JsonObject | None:
        for document in self.trusted_did_documents:
            if document.get("id") == did:
                return document
        bank = self.trust.bank_did_document
        if bank is not None and bank.get("id") == did:
            return bank
        registered = self._registered().get(did)
        return registered.did_document if registered is not None else None

    def did_document(self, did: str) -> JsonObject:
        document = self._trusted_document(did)
        if document is not None:
            return document
        if self.fallback is not None:
            return self.fallback.did_document(did)
        if any(d.get("id") == did for d in self.did_documents):
            raise ResolutionFailed(msg("detail.standards.vc.resolvers.did_document_not_vouched", did=did))
        raise ResolutionFailed(msg("detail.standards.vc.resolvers.no_trusted_did_document", did=did))

    def status_list(self, url: str) -> JsonObject:
        for credential in self.status_lists:
            if credential.get("id") == url:
                return credential
        if self.fallback is not None:
            return self.fallback.status_list(url)
        raise ResolutionFailed(msg("detail.standards.vc.resolvers.no_status_list", url=url))

    def issuer_trust(self, did: str) -> Said | None:
        if any(d.get("id") == did for d in self.trusted_did_documents):
            return msg("verified.trust.given_document")
        bank = self.trust.bank_did_document
        if bank is not None and bank.get("id") == did:
            return msg("verified.trust.pinned_bank")
        registered = self._registered().get(did)
        if registered is not None:
            return msg("verified.trust.pinned_register", description=registered.description)
        if self.fallback is not None:
            return self.fallback.issuer_trust(did)
        return None

    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        for evidence in self.ledger:
            if evidence.log_origin == log_origin and evidence.index == index:
                return evidence
        if self.fallback is not None:
            return self.fallback.ledger_evidence(log_origin, index)
        raise ResolutionFailed(
            msg("detail.standards.vc.resolvers.no_ledger_evidence", index=index, log_origin=log_origin)
        )

    def log_key(self, log_origin: str) -> note.NoteVerifier:
        pinned = self.trust.log_key(log_origin)
        if pinned is not None:
            return pinned
        if self.fallback is not None:
            return self.fallback.log_key(log_origin)
        raise ResolutionFailed(msg("detail.standards.vc.resolvers.no_pinned_log_key", log_origin=log_origin))


@dataclass
class RecordingResolver:
    """Passes every question to ``inner`` and keeps the answers, to build an evidence bundle."""

    inner: Resolver
    did_documents: dict[str, JsonObject] = field(default_factory=dict)
    status_lists: dict[str, JsonObject] = field(default_factory=dict)
    register: dict[str, str] = field(default_factory=dict)
    ledger: dict[tuple[str, int], LedgerEvidence] = field(default_factory=dict)

    def did_document(self, did: str) -> JsonObject:
        self.did_documents[did] = self.inner.did_document(did)
        return self.did_documents[did]

    def status_list(self, url: str) -> JsonObject:
        self.status_lists[url] = self.inner.status_list(url)
        return self.status_lists[url]

    def issuer_trust(self, did: str) -> Said | None:
        found = self.inner.issuer_trust(did)
        if found is not None:
            self.register[did] = str(found)  # the bundle's register states it in English
        return found

    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        self.ledger[(log_origin, index)] = self.inner.ledger_evidence(log_origin, index)
        return self.ledger[(log_origin, index)]

    def log_key(self, log_origin: str) -> note.NoteVerifier:
        return self.inner.log_key(log_origin)

    def bundle(
        self, certificate_id: str | None = None, signed_register: JsonObject | None = None
    ) -> JsonObject:
        """The ``CertificateEvidence`` bundle of everything recorded."""
        return evidence_bundle(
            certificate_id=certificate_id,
            did_documents=list(self.did_documents.values()),
            status_lists=list(self.status_lists.values()),
            register=self.register,
            ledger=list(self.ledger.values()),
            signed_register=signed_register,
        )
