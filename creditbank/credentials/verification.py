"""Verifying a transfer certificate: every check, by name, with its reason.

How this works:

:func:`verify_certificate` runs seven checks on a certificate and returns a :class:`Report` listing
each with its result, always in this order and always all of them (one failure does not hide
another); the certificate is valid only when every check passed:

1. ``proof``: every Data Integrity proof present (``eddsa-rdfc-2022``, as issued now, or
   ``eddsa-jcs-2022``, as issued before; a proof set or chain) verifies with the public key of its
   verification method (looked up in that method's DID document); the report names each cryptosuite.
2. ``key``: the verification method belongs to the issuer, is listed under the issuer's
   ``assertionMethod``, and was valid at the proof's ``created`` time (not before the key's
   creation, not after its retirement or compromise).
3. ``issuer``: the issuer's DID is a registered institution of the bank (or the bank itself), or is
   trusted explicitly through a given DID document.
4. ``status``: every ``BitstringStatusListEntry``'s list credential was obtained, its own signature
   verifies with a key of the same issuer valid when it was signed, it has not expired (its
   ``validUntil``; with ``max_status_age``, also not signed longer ago than that), and the entry's
   bit is not set. The report gives the list's age. A list that cannot be obtained fails the check
   (fail closed) and says so. A credential without ``credentialStatus`` passes as "not revocable"
   (VC 2.0 makes status optional; whether to accept such a credential is the destination's policy).
5. ``validity``: ``validFrom`` <= now <= ``validUntil``.
6. ``ledger``: the ``ledgerReference`` leaf hash is proven, by an RFC 9162 inclusion proof, to be
   leaf ``sequenceNumber`` of the log, against a checkpoint whose signature verifies with the
   log's key (named after the log's origin) as the resolver trusts it (pinned offline, never the key
   an evidence file carries). The leaf hash checked is the certificate's own. Then the leaf itself:
   its bytes hash to that leaf hash, it parses as a recognition (:mod:`creditbank.ledger.leaf`),
   and it records the lots, credits, learner (the hashed identity) and rule citation the certificate
   states. A certificate signed by a real key that claims more than its leaf fails here.
7. ``learner`` (only when a learner id is given): an ``identityHash`` of the subject equals
   ``"sha256$" + hex(SHA-256(learner_id + salt))``.

A CLR bundle (``ClrCredential``) is checked as itself and each bundled credential in turn; a check
passes only when it passes for the bundle and for every part (the bundle has no ledger reference
of its own: its ``ledger`` check is its parts').

Where the keys, lists, register and proofs come from is a :class:`Resolver`'s business:
:class:`HttpResolver` asks the running service the user named (and, only when allowed, an issuer's
own did:web host over https); :class:`OfflineResolver` reads files, so an auditor can verify with no
network at all; the service itself uses :class:`creditbank.credentials.local_resolver.DatabaseResolver`.

Offline, trust comes only from roots given outside the file being verified
(:class:`~creditbank.credentials.trust.TrustRoots`: pinned log keys and the bank's DID document;
``trusted_did_documents``). Everything an evidence bundle carries is a claim: its DID documents are
never used for a key, its register counts only when signed by the pinned bank key, its status lists
only when signed by a trusted issuer key, its inclusion proofs only against a pinned log key.

The evidence bundle (``CertificateEvidence``, see :func:`evidence_bundle`) holds everything the
checks need for one certificate: DID documents, status list credentials, the issuer register signed
by the bank, and for each ledger reference a ``LedgerEvidence`` (log origin, the log's verifier key as
a claim, index, tree size, leaf hash, the leaf's bytes, inclusion proof and the signed checkpoint).
"""

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from creditbank.credentials import trust as trustlib
from creditbank.errors import CreditBankError
from creditbank.ledger import leaf as leaf_format
from creditbank.standards.tlog import merkle, note
from creditbank.standards.vc import dataintegrity, did, statuslist
from creditbank.standards.vc.errors import (
    CredentialError,
    CredentialRevoked,
    CredentialStatusSet,
    CredentialSuspended,
    IssuerUntrusted,
    KeyNotAuthorized,
    KeyUnresolvable,
    LearnerMismatch,
    LedgerReferenceInvalid,
    MultikeyInvalid,
    ResolutionFailed,
    StatusListInvalid,
    StatusListStale,
    StatusUnavailable,
    ValidityPeriodInvalid,
)
from creditbank.standards.vc.multikey import decode_public_key

log = logging.getLogger("creditbank.verify")

CHECK_NAMES: tuple[str, ...] = ("proof", "key", "issuer", "status", "validity", "ledger", "learner")
EVIDENCE_TYPE = "CertificateEvidence"
LEDGER_EVIDENCE_TYPE = "LedgerEvidence"
EVIDENCE_VERSION = 1

JsonObject = dict[str, Any]


# --- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One named check and its result; ``detail`` says what was established, or why not (in
    English, with the technical particulars); ``code`` names the kind of failure (the error's problem
    slug, ``malformed``, ``incomplete`` or ``not-an-object``; empty when the check passed), so that
    pages can say it in the reader's language."""

    name: str
    ok: bool
    detail: str
    code: str = ""

    def to_json(self) -> JsonObject:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    """The verdict: valid only when every check passed.

    ``leaf_lots`` are the lot ids that verified ledger leaves record for the certificate (read from
    the leaves, in order): what an exchange converts, never ids read from the certificate alone.
    """

    valid: bool
    checks: list[Check]
    leaf_lots: tuple[str, ...] = ()

    @classmethod
    def of(cls, checks: list[Check], leaf_lots: Sequence[str] = ()) -> "Report":
        return cls(
            valid=bool(checks) and all(c.ok for c in checks), checks=checks, leaf_lots=tuple(leaf_lots)
        )

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: the report has no such check (``learner`` without a learner id).
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def failed(self) -> list[str]:
        """Names of the checks that failed, in order."""
        return [c.name for c in self.checks if not c.ok]

    def to_json(self) -> JsonObject:
        """``{"valid": bool, "checks": [{"name", "ok", "detail"}, ...]}``."""
        return {"valid": self.valid, "checks": [c.to_json() for c in self.checks]}


# --- evidence --------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise LedgerReferenceInvalid(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise LedgerReferenceInvalid(f"{what} is not standard base64") from exc


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
            raise LedgerReferenceInvalid("not a LedgerEvidence object")
        try:
            origin, key, checkpoint = value["logOrigin"], value["verifierKey"], value["checkpoint"]
            index, size, proof = value["index"], value["size"], value["proof"]
        except KeyError as exc:
            raise LedgerReferenceInvalid(f"LedgerEvidence lacks {exc.args[0]!r}") from exc
        if not all(isinstance(v, str) for v in (origin, key, checkpoint)):
            raise LedgerReferenceInvalid("logOrigin, verifierKey and checkpoint must be strings")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, size)):
            raise LedgerReferenceInvalid("index and size must be integers")
        if not isinstance(proof, list):
            raise LedgerReferenceInvalid("proof must be a list of base64 hashes")
        return cls(
            log_origin=origin,
            verifier_key=key,
            index=index,
            size=size,
            leaf_hash=_unb64(value.get("leafHash", ""), "leafHash"),
            proof=[_unb64(p, "a proof hash") for p in proof],
            checkpoint=checkpoint,
            leaf=_unb64(value["leaf"], "leaf") if value.get("leaf") is not None else None,
        )


# --- resolvers -------------------------------------------------------------------------------------


class Resolver(Protocol):
    """Where verification gets what the certificate refers to. Every method raises
    :class:`~creditbank.standards.vc.errors.ResolutionFailed` when it cannot answer."""

    def did_document(self, did: str) -> JsonObject:
        """The DID document of ``did``."""
        ...

    def status_list(self, url: str) -> JsonObject:
        """The (signed) status list credential whose id is ``url``."""
        ...

    def issuer_trust(self, did: str) -> str | None:
        """Why ``did`` is a trusted issuer, completing "<did> is ...", e.g. "registered institution
        <name> (<id>)" or "the credit bank itself"; None when it is not trusted."""
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
            raise ResolutionFailed("evidence must be a JSON object or a list of them")
        kind = bundle.get("type")
        try:
            if kind == LEDGER_EVIDENCE_TYPE:
                self.ledger.append(LedgerEvidence.from_json(bundle))
                return
            if kind == trustlib.REGISTER_TYPE:
                self.registers.append(bundle)
                return
            if kind != EVIDENCE_TYPE:
                raise ResolutionFailed(f"unknown evidence type {kind!r}")
            self.did_documents.extend(d for d in bundle.get("didDocuments", []) if isinstance(d, dict))
            self.status_lists.extend(s for s in bundle.get("statusLists", []) if isinstance(s, dict))
            register = bundle.get("signedIssuerRegister")
            if isinstance(register, dict):
                self.registers.append(register)
            self.ledger.extend(LedgerEvidence.from_json(e) for e in bundle.get("ledger", []))
        except (LedgerReferenceInvalid, AttributeError, TypeError) as exc:
            raise ResolutionFailed(f"malformed evidence: {exc}") from exc

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
        claimed = any(d.get("id") == did for d in self.did_documents)
        raise ResolutionFailed(
            f"no trusted DID document for {did}"
            + (" (the evidence carries one, but nothing pinned vouches for it)" if claimed else "")
            + ": give --trust with the bank's trust file (its signed issuer register), "
            "--trust-did-document, or --url to resolve it online"
        )

    def status_list(self, url: str) -> JsonObject:
        for credential in self.status_lists:
            if credential.get("id") == url:
                return credential
        if self.fallback is not None:
            return self.fallback.status_list(url)
        raise ResolutionFailed(f"no status list credential {url} among the given files")

    def issuer_trust(self, did: str) -> str | None:
        if any(d.get("id") == did for d in self.trusted_did_documents):
            return "trusted through a given DID document (not registered with the bank)"
        bank = self.trust.bank_did_document
        if bank is not None and bank.get("id") == did:
            return "the credit bank itself, as pinned in the trust file"
        registered = self._registered().get(did)
        if registered is not None:
            return f"{registered.description}, per the issuer register signed by the pinned bank key"
        if self.fallback is not None:
            return self.fallback.issuer_trust(did)
        return None

    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        for evidence in self.ledger:
            if evidence.log_origin == log_origin and evidence.index == index:
                return evidence
        if self.fallback is not None:
            return self.fallback.ledger_evidence(log_origin, index)
        raise ResolutionFailed(f"no ledger evidence for leaf {index} of {log_origin} among the given files")

    def log_key(self, log_origin: str) -> note.NoteVerifier:
        pinned = self.trust.log_key(log_origin)
        if pinned is not None:
            return pinned
        if self.fallback is not None:
            return self.fallback.log_key(log_origin)
        raise ResolutionFailed(
            f"no pinned key for the log {log_origin!r}: give --log-key or --trust "
            "(the key an evidence file names is not trusted)"
        )


class HttpResolver:
    """Asks the running creditbank service at ``base_url``, and nothing else unless allowed.

    Paths used under ``base_url``: ``/institutions/{id}/did.json`` (through did:web resolution),
    ``/status-lists/{id}`` (the entry's URL), ``/api/v1/institutions`` and ``/did.json`` (the
    register and the bank), ``/logs``, ``/logs/{log}/proof/inclusion`` and ``/logs/{log}/entries``.

    What it fetches (a certificate is untrusted input, so its URLs are never followed blindly):

    * a URL on the base's host and port, re-rooted under the base URL (fetched with the base's
      scheme, so a service behind a path prefix, or a test client, works);
    * with ``resolve_did_web``, also an issuer's DID document at its did:web host, over https only,
      and status lists on a host whose DID document was so resolved, over https only;
    * nothing else: no redirects, no other hosts or schemes.

    Errors never say why a fetch failed beyond "could not be fetched" or the HTTP status, so a
    certificate cannot be used to probe which local ports are open. ``client`` may be any
    ``httpx.Client`` (a FastAPI ``TestClient`` in tests).
    """

    def __init__(
        self,
        base_url: str,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        *,
        resolve_did_web: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._base = urlsplit(self.base_url)
        self.client = client if client is not None else httpx.Client(timeout=timeout, follow_redirects=False)
        self.resolve_did_web = resolve_did_web
        self._did_hosts: set[str] = set()
        self._register: dict[str, str] | None = None
        self._logs: list[JsonObject] | None = None

    def _on_base(self, url: str) -> str | None:
        """``url`` re-rooted under the base URL when it is on the base's host and port, else None."""
        parts = urlsplit(url)
        if parts.netloc.lower() != self._base.netloc.lower():
            return None
        path = parts.path
        prefix = self._base.path.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        return self.base_url + path + (f"?{parts.query}" if parts.query else "")

    def _allowed(self, url: str, *, did_host: bool) -> str:
        """The URL to fetch for ``url`` under the policy above.

        Raises:
            ResolutionFailed: the policy does not allow fetching it.
        """
        on_base = self._on_base(url)
        if on_base is not None:
            return on_base
        parts = urlsplit(url)
        if self.resolve_did_web and parts.scheme == "https" and parts.hostname:
            host = parts.netloc.lower()
            if did_host:
                self._did_hosts.add(host)
                return url
            if host in self._did_hosts:
                return url
        hint = "" if self.resolve_did_web else " (allow issuers' did:web hosts with --resolve-did-web)"
        raise ResolutionFailed(f"{url} is not fetched: it is outside {self.base_url}{hint}")

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self.client.get(url, params=params, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.info("fetching %s failed: %s", url, type(exc).__name__)
            raise ResolutionFailed(f"{url} could not be fetched") from exc
        if response.status_code != 200:
            raise ResolutionFailed(f"{url} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ResolutionFailed(f"{url} did not answer JSON") from exc

    def _get_object(self, url: str, params: dict[str, Any] | None = None) -> JsonObject:
        value = self._get(url, params)
        if not isinstance(value, dict):
            raise ResolutionFailed(f"{url} did not answer a JSON object")
        return value

    def did_document(self, did_value: str) -> JsonObject:
        try:
            url = did.did_web_to_url(did_value)
        except CredentialError as exc:
            raise ResolutionFailed(f"cannot resolve {did_value}: {exc.detail}") from exc
        document = self._get_object(self._allowed(url, did_host=True))
        if document.get("id") != did_value:
            raise ResolutionFailed(f"the document at {url} is not the DID document of {did_value}")
        return document

    def status_list(self, url: str) -> JsonObject:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ResolutionFailed(f"{url!r} is not an http(s) URL")
        return self._get_object(self._allowed(url, did_host=False))

    def _load_register(self) -> dict[str, str]:
        if self._register is None:
            register: dict[str, str] = {}
            institutions = self._get(self.base_url + "/api/v1/institutions")
            if not isinstance(institutions, list):
                raise ResolutionFailed("the institution register is not a JSON list")
            for item in institutions:
                if isinstance(item, dict) and isinstance(item.get("did"), str):
                    register[item["did"]] = f"registered institution {item.get('name_zh')} ({item.get('id')})"
            try:
                bank = self._get_object(self.base_url + "/did.json")
            except ResolutionFailed:
                bank = {}
            if isinstance(bank.get("id"), str):
                register[bank["id"]] = "the credit bank itself"
            self._register = register
        return self._register

    def issuer_trust(self, did_value: str) -> str | None:
        found = self._load_register().get(did_value)
        return f"{found}, per the register at {self.base_url}" if found else None

    def _log(self, log_origin: str) -> JsonObject:
        if self._logs is None:
            logs = self._get(self.base_url + "/logs")
            if not isinstance(logs, list):
                raise ResolutionFailed("/logs did not answer a JSON list")
            self._logs = [entry for entry in logs if isinstance(entry, dict)]
        found = [entry for entry in self._logs if entry.get("origin") == log_origin]
        if not found:
            raise ResolutionFailed(f"the service at {self.base_url} has no log {log_origin!r}")
        return found[0]

    def log_key(self, log_origin: str) -> note.NoteVerifier:
        key = self._log(log_origin).get("verifier_key")
        try:
            return note.NoteVerifier.parse(key if isinstance(key, str) else "")
        except CreditBankError as exc:
            raise ResolutionFailed(
                f"the log key {self.base_url} gives for {log_origin!r} is malformed"
            ) from exc

    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        found = self._log(log_origin)
        log_id, key = found.get("id"), found.get("verifier_key")
        body = self._get_object(f"{self.base_url}/logs/{log_id}/proof/inclusion", {"index": index})
        entries = self._get_object(
            f"{self.base_url}/logs/{log_id}/entries", {"start": index, "end": index + 1}
        )
        listed = entries.get("entries")
        leaf = (
            listed[0].get("leaf")
            if isinstance(listed, list) and listed and isinstance(listed[0], dict)
            else None
        )
        try:
            return LedgerEvidence.from_json(
                {
                    "type": LEDGER_EVIDENCE_TYPE,
                    "logOrigin": log_origin,
                    "verifierKey": key,
                    "index": body.get("index"),
                    "size": body.get("size"),
                    "leafHash": body.get("leaf_hash"),
                    "proof": body.get("proof"),
                    "checkpoint": body.get("checkpoint"),
                    "leaf": leaf,
                }
            )
        except LedgerReferenceInvalid as exc:
            raise ResolutionFailed(f"malformed inclusion proof from {self.base_url}: {exc.detail}") from exc


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

    def issuer_trust(self, did: str) -> str | None:
        found = self.inner.issuer_trust(did)
        if found is not None:
            self.register[did] = found
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


# --- the checks ------------------------------------------------------------------------------------


def _method_public_key(document: JsonObject, verification_method: str) -> bytes:
    """The raw key of ``verification_method`` in ``document`` (no authorisation or time checks)."""
    methods = [*document.get("verificationMethod", []), *document.get("assertionMethod", [])]
    for method in methods:
        if isinstance(method, dict) and method.get("id") == verification_method:
            try:
                return decode_public_key(method.get("publicKeyMultibase", ""))
            except MultikeyInvalid as exc:
                raise KeyUnresolvable(f"{verification_method}: {exc.detail}") from exc
    raise KeyUnresolvable(f"{verification_method} is not in the DID document of its controller")


def _verify_proofs(document: JsonObject, resolver: Resolver) -> list[dataintegrity.VerifiedProof]:
    def resolve(verification_method: str) -> bytes:
        controller = verification_method.split("#", 1)[0]
        return _method_public_key(resolver.did_document(controller), verification_method)

    return dataintegrity.verify_proofs(document, resolve)


def _key_valid(document: JsonObject, resolver: Resolver, what: str) -> str:
    """Check each proof's key belongs to the issuer and was valid when it signed; describe them."""
    issuer = dataintegrity.issuer_id(document)
    found: list[str] = []
    for proof in dataintegrity.extract_proofs(document):
        method = proof["verificationMethod"]
        dataintegrity.check_issuer(document, method)
        did_document = resolver.did_document(issuer)
        if did_document.get("id") != issuer:
            raise KeyNotAuthorized(f"the DID document obtained for {issuer} is not its own")
        created = dataintegrity.parse_datetime(proof["created"]) if "created" in proof else None
        did.key_for_proof(did_document, method, created)
        when = proof.get("created", "an unknown time")
        found.append(f"{what} key {method} is an assertion method of the issuer, valid at {when}")
    return "; ".join(found)


def _check_proof(document: JsonObject, resolver: Resolver) -> str:
    verified = _verify_proofs(document, resolver)
    return "; ".join(f"{v.cryptosuite} signature by {v.verification_method} verifies" for v in verified)


def _check_key(document: JsonObject, resolver: Resolver) -> str:
    return _key_valid(document, resolver, "the signing")


def _check_issuer(document: JsonObject, resolver: Resolver) -> str:
    issuer = dataintegrity.issuer_id(document)
    why = resolver.issuer_trust(issuer)
    if why is None:
        raise IssuerUntrusted(
            f"{issuer} is not a registered institution of this bank, nor trusted by a given DID document"
        )
    return f"{issuer} is {why}"


def _status_entries(document: JsonObject) -> list[JsonObject]:
    value = document.get("credentialStatus")
    if value is None:
        return []
    entries = value if isinstance(value, list) else [value]
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise StatusListInvalid("credentialStatus must be an object or a list of objects")
    return entries


def _list_age(list_credential: JsonObject, now: datetime, max_age: int | None, url: str) -> str:
    """How long ago the list was signed, and until when it is valid; fails a list older than max_age."""
    signed = list_credential.get("validFrom")
    proofs = list_credential.get("proof")
    first = proofs[0] if isinstance(proofs, list) and proofs else proofs
    if isinstance(first, dict) and isinstance(first.get("created"), str):
        signed = first["created"]
    until = list_credential.get("validUntil") or "no end (the list never lapses)"
    if not isinstance(signed, str):
        if max_age is not None:
            raise StatusListStale(f"the status list {url} does not say when it was signed")
        return f"list valid until {until}"
    age = int((now - dataintegrity.parse_datetime(signed)).total_seconds())
    if max_age is not None and age > max_age:
        raise StatusListStale(
            f"the status list {url} was signed {age} s ago ({signed}), more than the {max_age} s allowed"
        )
    return f"list signed {age} s ago, valid until {until}"


def _check_one_status(
    document: JsonObject, entry: JsonObject, resolver: Resolver, now: datetime, max_age: int | None
) -> str:
    url = entry.get("statusListCredential")
    purpose = entry.get("statusPurpose")
    index = entry.get("statusListIndex")
    if entry.get("type") != "BitstringStatusListEntry" or not isinstance(url, str):
        raise StatusListInvalid("a credentialStatus entry is not a BitstringStatusListEntry with a list URL")
    # 1. Obtain the list; failing to is a failure (fail closed).
    try:
        list_credential = resolver.status_list(url)
    except ResolutionFailed as exc:
        raise StatusUnavailable(
            f"the {purpose} status list {url} could not be read, so the certificate is not accepted "
            f"(fail closed): {exc.detail}"
        ) from exc
    # 2. The list is signed by the certificate's issuer, with a key valid when it was signed.
    if dataintegrity.issuer_id(list_credential) != dataintegrity.issuer_id(document):
        raise StatusListInvalid(f"the status list {url} is not issued by the certificate's issuer")
    try:
        _verify_proofs(list_credential, resolver)
        _key_valid(list_credential, resolver, "the status list's")
    except CredentialError as exc:
        raise StatusListInvalid(f"the status list {url} is not validly signed: {exc.detail}") from exc
    _check_period(list_credential, now, f"the status list {url}")
    age = _list_age(list_credential, now, max_age, url)
    # 3. Read the bit.
    if statuslist.read_status(list_credential, entry):
        if purpose == "revocation":
            raise CredentialRevoked(f"the certificate is revoked (bit {index} of {url})")
        if purpose == "suspension":
            raise CredentialSuspended(f"the certificate is suspended (bit {index} of {url})")
        raise CredentialStatusSet(f"the certificate is set (bit {index} of {url})")
    return f"{purpose}: not set (bit {index} of {url}; {age})"


def _check_status(document: JsonObject, resolver: Resolver, now: datetime, max_age: int | None) -> str:
    entries = _status_entries(document)
    if not entries:
        return "not revocable: the credential has no credentialStatus (VC 2.0 makes status optional)"
    return "; ".join(_check_one_status(document, e, resolver, now, max_age) for e in entries)


def _check_period(document: JsonObject, now: datetime, what: str) -> str:
    valid_from = document.get("validFrom")
    valid_until = document.get("validUntil")
    if valid_from is not None and now < dataintegrity.parse_datetime(valid_from):
        raise ValidityPeriodInvalid(f"{what} is not valid before {valid_from}")
    if valid_until is not None and now > dataintegrity.parse_datetime(valid_until):
        raise ValidityPeriodInvalid(f"{what} expired at {valid_until}")
    return f"valid from {valid_from or 'any time'} until {valid_until or 'no end'}"


def _check_validity(document: JsonObject, now: datetime) -> str:
    if "validFrom" not in document:
        raise ValidityPeriodInvalid("the certificate has no validFrom")
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _check_period(document, now, "the certificate") + f" (checked at {stamp})"


def _ledger_reference(document: JsonObject) -> tuple[str, int, bytes]:
    subject = document.get("credentialSubject")
    transfer = subject.get("creditTransfer") if isinstance(subject, dict) else None
    reference = transfer.get("ledgerReference") if isinstance(transfer, dict) else None
    if not isinstance(reference, dict):
        raise LedgerReferenceInvalid("the certificate has no creditTransfer.ledgerReference")
    origin, seq = reference.get("logOrigin"), reference.get("sequenceNumber")
    if not isinstance(origin, str) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise LedgerReferenceInvalid("ledgerReference needs a logOrigin and a non-negative sequenceNumber")
    leaf_hash = _unb64(reference.get("leafHash"), "ledgerReference.leafHash")
    if len(leaf_hash) != merkle.HASH_SIZE:
        raise LedgerReferenceInvalid(f"the leaf hash is {len(leaf_hash)} bytes, not {merkle.HASH_SIZE}")
    return origin, seq, leaf_hash


def _check_ledger(document: JsonObject, resolver: Resolver, recorded: list[str]) -> str:
    # 1. The certificate's own reference: log, sequence number, leaf hash.
    origin, seq, leaf_hash = _ledger_reference(document)
    try:
        evidence = resolver.ledger_evidence(origin, seq)
    except ResolutionFailed as exc:
        raise LedgerReferenceInvalid(f"no inclusion proof for leaf {seq} of {origin}: {exc.detail}") from exc
    # 2. The log's key as the resolver trusts it (never the key the evidence names); the
    #    checkpoint verifies with it.
    try:
        verifier = resolver.log_key(origin)
    except ResolutionFailed as exc:
        raise LedgerReferenceInvalid(exc.detail) from exc
    if verifier.name != origin:
        raise LedgerReferenceInvalid(f"the log key {verifier.name!r} is not the key of {origin!r}")
    checkpoint = note.open_checkpoint(evidence.checkpoint.encode("utf-8"), verifier)
    if evidence.size != checkpoint.size or evidence.index != seq:
        raise LedgerReferenceInvalid(
            "the inclusion proof is for another leaf or tree size than its checkpoint"
        )
    # 3. The certificate's leaf hash (not the one the evidence claims) is in the checkpointed tree.
    merkle.verify_inclusion(leaf_hash, seq, checkpoint.size, evidence.proof, checkpoint.root_hash)
    # 4. The leaf records what the certificate states.
    lots, described = _check_leaf(document, evidence.leaf, leaf_hash, seq)
    recorded.extend(lots)
    return (
        f"leaf {seq} of {origin} is included in the checkpoint of size {checkpoint.size}, "
        f"signed by {verifier.name}+{verifier.key_id.hex()}; {described}"
    )


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LedgerReferenceInvalid(f"{what} is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise LedgerReferenceInvalid(f"{what} is not a number") from exc


def _hashed_identities(document: JsonObject) -> list[JsonObject]:
    subject = document.get("credentialSubject")
    identifiers = subject.get("identifier", []) if isinstance(subject, dict) else []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    return [
        i
        for i in identifiers
        if isinstance(i, dict) and i.get("hashed") is True and isinstance(i.get("identityHash"), str)
    ]


def _identity_matches(identity: JsonObject, learner_id: str) -> bool:
    salt = identity.get("salt", "")
    expected = "sha256$" + hashlib.sha256((learner_id + str(salt)).encode("utf-8")).hexdigest()
    return hmac.compare_digest(expected.encode(), str(identity["identityHash"]).encode())


def _check_leaf(
    document: JsonObject, data: bytes | None, leaf_hash: bytes, seq: int
) -> tuple[list[str], str]:
    """Compare the leaf's record with the certificate's claims; return the lot ids the leaf records for
    the certificate, and a description of what matched.

    Raises:
        LedgerReferenceInvalid: no leaf bytes, bytes of another leaf, not a recognition, or a claim
            (lots, credits, learner, rule citation) the leaf does not record.
    """
    # 1. The bytes are the leaf the certificate cites, in the one leaf format.
    if data is None:
        raise LedgerReferenceInvalid(
            "the evidence does not carry the leaf's bytes, so what the leaf records cannot be compared"
        )
    if merkle.leaf_hash(data) != leaf_hash:
        raise LedgerReferenceInvalid("the leaf bytes given do not hash to the certificate's leaf hash")
    try:
        entry = leaf_format.parse(data)
    except leaf_format.LeafFormatError as exc:
        raise LedgerReferenceInvalid(f"the leaf cannot be read: {exc}") from exc
    if entry.seq != seq or entry.kind is not leaf_format.TxKind.recognition:
        raise LedgerReferenceInvalid(
            f"leaf {seq} is a {entry.kind.value} at seq {entry.seq}, not a recognition"
        )
    # 2. The lots.
    transfer = transfer_claims(document)
    lot_ids = transfer.get("lotIds")
    if not isinstance(lot_ids, list) or not lot_ids or not all(isinstance(i, str) for i in lot_ids):
        raise LedgerReferenceInvalid("creditTransfer.lotIds must be a non-empty list of lot ids")
    recorded_ids = [lot.id for lot in entry.lots]
    if len(set(lot_ids)) != len(lot_ids) or not set(lot_ids) <= set(recorded_ids):
        raise LedgerReferenceInvalid(
            f"the certificate names lots {sorted(lot_ids)}, the leaf records {sorted(recorded_ids)}"
        )
    lots = [lot for lot in entry.lots if lot.id in lot_ids]
    # 3. The credits.
    subject = document.get("credentialSubject")
    claimed = _decimal(subject.get("creditsEarned") if isinstance(subject, dict) else None, "creditsEarned")
    recorded = sum((lot.credits for lot in lots), Decimal(0))
    if claimed != recorded:
        raise LedgerReferenceInvalid(
            f"the certificate claims {claimed} credits, "
            f"the leaf records {recorded} for lots {sorted(lot_ids)}"
        )
    # 4. The rule citation.
    citation = transfer.get("ruleCitation")
    if not isinstance(citation, dict):
        raise LedgerReferenceInvalid("creditTransfer has no ruleCitation")
    cited = (citation.get("ruleId"), citation.get("ruleVersion"), citation.get("ruleSetHash"))
    for lot in lots:
        if cited != (lot.rule.id, lot.rule.version, lot.rule.set_hash):
            raise LedgerReferenceInvalid(
                f"the certificate cites rule {cited[0]} v{cited[1]} ({cited[2]}), the leaf records "
                f"rule {lot.rule.id} v{lot.rule.version} ({lot.rule.set_hash}) for lot {lot.id}"
            )
    # 5. The learner: the certificate's hashed identity is the leaf's learner.
    learners = {lot.learner for lot in lots}
    identities = _hashed_identities(document)
    if len(learners) != 1 or not any(_identity_matches(i, next(iter(learners))) for i in identities):
        raise LedgerReferenceInvalid("the certificate's hashed identity is not the learner the leaf records")
    return (
        [lot.id for lot in lots],
        f"the leaf records lots {', '.join(sorted(lot_ids))}: {recorded} credits, this learner, this rule",
    )


def _check_learner(document: JsonObject, learner_id: str) -> str:
    hashed = _hashed_identities(document)
    if not hashed:
        raise LearnerMismatch("the certificate carries no hashed identity")
    if any(_identity_matches(identity, learner_id) for identity in hashed):
        return "the hashed identity matches the learner id"
    raise LearnerMismatch("the hashed identity does not match the learner id")


def _run(name: str, check: Callable[[], str]) -> Check:
    try:
        return Check(name, True, check())
    except CreditBankError as exc:
        return Check(name, False, exc.detail, exc.slug)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        return Check(name, False, f"the certificate is malformed: {type(exc).__name__}: {exc}", "malformed")
    except Exception as exc:  # a verifier fails closed on anything it did not foresee
        log.warning("verification check %s failed unexpectedly", name, exc_info=True)
        return Check(name, False, f"the check could not be completed: {type(exc).__name__}", "incomplete")


def _checks(
    document: JsonObject,
    resolver: Resolver,
    learner_id: str | None,
    now: datetime,
    *,
    ledger: bool = True,
    recorded: list[str] | None = None,
    max_status_age: int | None = None,
) -> list[Check]:
    lots: list[str] = []
    checks = [
        _run("proof", lambda: _check_proof(document, resolver)),
        _run("key", lambda: _check_key(document, resolver)),
        _run("issuer", lambda: _check_issuer(document, resolver)),
        _run("status", lambda: _check_status(document, resolver, now, max_status_age)),
        _run("validity", lambda: _check_validity(document, now)),
    ]
    if ledger:
        checks.append(_run("ledger", lambda: _check_ledger(document, resolver, lots)))
        if recorded is not None and checks[-1].ok:
            recorded.extend(lots)
    if learner_id is not None:
        checks.append(_run("learner", lambda: _check_learner(document, learner_id)))
    return checks


def _types(document: JsonObject) -> list[Any]:
    value = document.get("type", [])
    return value if isinstance(value, list) else [value]


def _merge(name: str, own: Check | None, parts: Iterable[tuple[str, Check]]) -> Check:
    """One check over a bundle and its parts: ok when all are; the detail names each failure."""
    results = ([("the bundle", own)] if own is not None else []) + list(parts)
    if not results:
        return Check(name, False, "the bundle holds no credentials", "malformed")
    failed = [(label, c) for label, c in results if not c.ok]
    if failed:
        return Check(name, False, "; ".join(f"{label}: {c.detail}" for label, c in failed), failed[0][1].code)
    return Check(
        name, True, f"{len(results)} credential(s): " + "; ".join(f"{lb}: {c.detail}" for lb, c in results)
    )


def verify_certificate(
    document: Any,
    resolver: Resolver,
    *,
    learner_id: str | None = None,
    now: datetime | None = None,
    max_status_age: int | None = None,
) -> Report:
    """Verify a transfer certificate (a lot credential or a CLR bundle); never raises.

    ``now`` (aware) is the time the validity checks use; the current time by default.
    ``max_status_age`` (seconds) fails ``status`` when a status list was signed longer ago.
    """
    moment = now or datetime.now(UTC)
    names = [n for n in CHECK_NAMES if n != "learner" or learner_id is not None]
    if not isinstance(document, dict):
        return Report.of(
            [Check(n, False, "the certificate is not a JSON object", "not-an-object") for n in names]
        )
    recorded: list[str] = []
    if "ClrCredential" not in _types(document):
        checks = _checks(
            document, resolver, learner_id, moment, recorded=recorded, max_status_age=max_status_age
        )
        return Report.of(checks, recorded)
    own = {
        c.name: c
        for c in _checks(document, resolver, learner_id, moment, ledger=False, max_status_age=max_status_age)
    }
    subject = document.get("credentialSubject")
    inner = subject.get("verifiableCredential", []) if isinstance(subject, dict) else []
    inner = inner if isinstance(inner, list) else [inner]
    parts: list[tuple[str, dict[str, Check]]] = []
    for position, credential in enumerate(inner):
        label = f"part {position + 1}"
        if isinstance(credential, dict):
            label += f" ({credential.get('id', 'no id')})"
            checks = _checks(
                credential, resolver, learner_id, moment, recorded=recorded, max_status_age=max_status_age
            )
        else:
            checks = [Check(n, False, "not a JSON object", "not-an-object") for n in names]
        parts.append((label, {c.name: c for c in checks}))
    return Report.of([_merge(n, own.get(n), [(lb, p[n]) for lb, p in parts]) for n in names], recorded)


def transfer_claims(document: JsonObject) -> JsonObject:
    """The ``creditTransfer`` object of a lot credential (what an exchange acts on), unverified.

    Raises:
        LedgerReferenceInvalid: the credential has no ``creditTransfer`` object.
    """
    subject = document.get("credentialSubject")
    transfer = subject.get("creditTransfer") if isinstance(subject, dict) else None
    if not isinstance(transfer, dict):
        raise LedgerReferenceInvalid("the credential has no credentialSubject.creditTransfer")
    return transfer
