"""did:web identifiers, DID documents with Multikey verification methods, and JWK sets.

did:web (W3C CCG did:web method): ``did:web:<host>[:<path>...]``, where a port in the host is
percent-encoded (``127.0.0.1%3A8000``) and each path segment is percent-encoded. It resolves to
``https://<host>/<path...>/did.json`` (or ``https://<host>/.well-known/did.json`` without a path).
Local testing exception: when the host is ``localhost`` or ``127.0.0.1`` (any port),
:func:`did_web_to_url` uses ``http://`` so that a development server works without TLS; did:web
itself always means HTTPS, and no other host is ever resolved over plain HTTP.

Each institution is ``did:web:<host>:institutions:<id>``. Its document lists every key it ever had
as a ``Multikey`` verification method (``publicKeyMultibase`` = ``z`` + base58btc(0xed01 || key)).
Every key that is not compromised is listed under ``assertionMethod``: retired keys stay there so
that certificates they signed keep verifying. A compromised key leaves ``assertionMethod`` at once
(third-party verifiers know nothing of compromise times, and would otherwise accept whatever the
thief signs, with any ``created`` they choose); it stays under ``verificationMethod`` with its
compromise time, for the record. Validity is carried as follows:

- ``revoked`` (Multikey / W3C Controlled Identifiers 1.0, ``https://w3id.org/security#revoked``):
  set to the compromise time of a compromised key. Per the Controlled Identifiers spec, proofs
  from that key are not to be trusted from that time on; our verifier rejects any proof whose
  ``created`` is at or after it (and, since ``created`` is chosen by whoever holds the key, the
  service also revokes the certificates that key signed after the compromise was detected).
- ``created`` (``http://purl.org/dc/terms/created``, the same IRI Data Integrity uses for a proof's
  ``created``) and ``retired`` (``https://creditbank.example/vocab/credit-transfer#keyRetired``):
  not in the Multikey context, so the document carries a small inline context defining them (DID
  Core allows maps in ``@context``). A proof created before ``created`` or at/after ``retired``
  does not verify. We deliberately do not use Multikey ``expires`` for retirement, because the
  Controlled Identifiers spec says nothing may be verified with an expired method at all, which
  would break every certificate a retired key signed.

:func:`build_jwks` publishes the same keys as OKP/Ed25519 JWKs (RFC 8037) with ``kid`` = the
verification method id. A JWK has no standard field for a compromise time, so compromised keys are
left out of the JWK set; the DID document stays the authority.

:func:`key_for_proof` is the resolver side: given a DID document, a verification method id and a
proof's ``created`` it returns the raw key or says why not.
"""

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from creditbank.i18n import msg
from creditbank.standards.vc.contexts import CREDIT_TRANSFER_VOCAB, DID_V1_CONTEXT, MULTIKEY_V1_CONTEXT
from creditbank.standards.vc.errors import (
    DidInvalid,
    KeyNotAuthorized,
    KeyNotValidAtSigningTime,
    KeyUnresolvable,
    MultikeyInvalid,
)
from creditbank.standards.vc.multikey import ED25519_KEY_SIZE, decode_public_key, encode_public_key

LOCAL_HTTP_HOSTS = frozenset({"localhost", "127.0.0.1"})

KEY_VALIDITY_CONTEXT: dict[str, Any] = {
    "created": {
        "@id": "http://purl.org/dc/terms/created",
        "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
    },
    "retired": {
        "@id": CREDIT_TRANSFER_VOCAB + "keyRetired",
        "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
    },
}


@dataclass(frozen=True)
class KeyInfo:
    """One signing key of a DID controller.

    ``key_id`` is the fragment (without ``#``); times are aware datetimes.
    """

    key_id: str
    public_key: bytes
    created: datetime
    retired_at: datetime | None = None
    compromised_at: datetime | None = None


def format_datetime(value: datetime) -> str:
    """Return ``value`` as an XML Schema dateTime in UTC with a ``Z`` (seconds precision)."""
    if value.tzinfo is None:
        raise DidInvalid(msg("detail.standards.vc.did.key_times_must_timezone"))
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise KeyUnresolvable(msg("detail.standards.vc.did.date_time_string", what=what))
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise KeyUnresolvable(msg("detail.standards.vc.did.date_time", what=what, value=value)) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def did_web_for(base_url: str, path_segments: list[str]) -> str:
    """Return the did:web for ``path_segments`` under ``base_url``.

    ``did_web_for("http://127.0.0.1:8000", ["institutions", "42"])`` is
    ``did:web:127.0.0.1%3A8000:institutions:42``. A path in ``base_url`` becomes leading segments.

    Raises:
        DidInvalid: ``base_url`` is not an http(s) URL with a host, or a segment is empty.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DidInvalid(msg("detail.standards.vc.did.http_s_base_url", base_url=base_url))
    host = parts.hostname.lower()
    if parts.port is not None:
        host += "%3A" + str(parts.port)
    segments = [s for s in parts.path.split("/") if s] + list(path_segments)
    if any(not s for s in path_segments):
        raise DidInvalid(msg("detail.standards.vc.did.empty_did_web_path"))
    encoded = [quote(s, safe="") for s in segments]
    return ":".join(["did", "web", host, *encoded])


def did_web_to_url(did: str) -> str:
    """Return the URL of a did:web's DID document (``did:web:host:a:b`` → ``https://host/a/b/did.json``).

    Hosts ``localhost`` and ``127.0.0.1`` (with any port) resolve over ``http://`` for local testing.

    Raises:
        DidInvalid: not a did:web, empty host or segment, or a fragment/query in the DID.
    """
    if not isinstance(did, str) or not did.startswith("did:web:") or any(c in did for c in "#?/"):
        raise DidInvalid(msg("detail.standards.vc.did.did_web_did", did=did))
    parts = did.split(":")[2:]
    if any(not p for p in parts):
        raise DidInvalid(msg("detail.standards.vc.did.empty_component", did=did))
    host = unquote(parts[0])
    hostname = urlsplit("//" + host).hostname
    if not hostname:
        raise DidInvalid(msg("detail.standards.vc.did.no_host", did=did))
    scheme = "http" if hostname in LOCAL_HTTP_HOSTS else "https"
    path = "/".join(quote(unquote(p), safe="") for p in parts[1:])
    if not path:
        return f"{scheme}://{host}/.well-known/did.json"
    return f"{scheme}://{host}/{path}/did.json"


def verification_method_id(did: str, key_id: str) -> str:
    """Return the DID URL ``<did>#<key_id>``."""
    return f"{did}#{key_id}"


def build_did_document(did: str, keys: list[KeyInfo]) -> dict[str, Any]:
    """Return the DID document of ``did`` with every key as a Multikey assertion method.

    Keys are listed in the given order; retired and compromised keys included (see module doc).

    Raises:
        DidInvalid: duplicate key ids, or a naive datetime.
        MultikeyInvalid: a public key is not 32 bytes.
    """
    seen: set[str] = set()
    methods: list[dict[str, Any]] = []
    for key in keys:
        if key.key_id in seen or not key.key_id:
            raise DidInvalid(msg("detail.standards.vc.did.empty_duplicate_key_id", key_id=key.key_id))
        seen.add(key.key_id)
        method: dict[str, Any] = {
            "id": verification_method_id(did, key.key_id),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": encode_public_key(key.public_key),
            "created": format_datetime(key.created),
        }
        if key.retired_at is not None:
            method["retired"] = format_datetime(key.retired_at)
        if key.compromised_at is not None:
            method["revoked"] = format_datetime(key.compromised_at)
        methods.append(method)
    return {
        "@context": [DID_V1_CONTEXT, MULTIKEY_V1_CONTEXT, dict(KEY_VALIDITY_CONTEXT)],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods if "revoked" not in m],
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def build_jwks(did: str, keys: list[KeyInfo]) -> dict[str, Any]:
    """Return ``{"keys": [...]}`` with each non-compromised key as an OKP/Ed25519 JWK.

    ``kid`` is the verification method id (``<did>#<key_id>``), so a JWS ``kid`` and a Data
    Integrity ``verificationMethod`` name the same key.

    Raises:
        MultikeyInvalid: a public key is not 32 bytes.
    """
    jwks: list[dict[str, str]] = []
    for key in keys:
        if key.compromised_at is not None:
            continue
        if len(key.public_key) != ED25519_KEY_SIZE:
            raise MultikeyInvalid(
                msg(
                    "detail.standards.vc.did.ed_key_bytes_got",
                    ED25519_KEY_SIZE=ED25519_KEY_SIZE,
                    public_key_count=len(key.public_key),
                )
            )
        jwks.append(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": _b64url(key.public_key),
                "kid": verification_method_id(did, key.key_id),
                "alg": "EdDSA",
                "use": "sig",
            }
        )
    return {"keys": jwks}


def key_for_proof(did_document: dict[str, Any], verification_method: str, created: datetime | None) -> bytes:
    """Return the raw public key that may verify a proof by ``verification_method`` made at ``created``.

    Checks: the method's DID is the document's ``id``; it is listed under ``assertionMethod``; it
    is a Multikey with a valid Ed25519 ``publicKeyMultibase``; and ``created`` (required when the
    method carries any validity time) is not before ``created``, nor at/after ``retired`` or
    ``revoked``.

    Raises:
        KeyNotAuthorized: wrong controller DID, or not an assertion method.
        KeyUnresolvable: no such verification method, not a Multikey, or a bad key encoding.
        KeyNotValidAtSigningTime: the proof's time is outside the key's validity.
    """
    did = did_document.get("id")
    if verification_method.split("#", 1)[0] != did:
        raise KeyNotAuthorized(
            msg(
                "detail.standards.vc.did.not_a_method_of_did",
                verification_method=verification_method,
                did=did,
            )
        )
    listed = [m if isinstance(m, str) else m.get("id") for m in did_document.get("assertionMethod", [])]
    if verification_method not in listed:
        revoked = [
            m.get("revoked")
            for m in did_document.get("verificationMethod", [])
            if isinstance(m, dict) and m.get("id") == verification_method and m.get("revoked")
        ]
        why = f" (the key was compromised at {revoked[0]})" if revoked else ""
        raise KeyNotAuthorized(
            msg(
                "detail.standards.vc.did.listed_under_assertionmethod",
                verification_method=verification_method,
                why=why,
            )
        )
    candidates = [
        m
        for m in [*did_document.get("verificationMethod", []), *did_document.get("assertionMethod", [])]
        if isinstance(m, dict) and m.get("id") == verification_method
    ]
    if not candidates:
        raise KeyUnresolvable(
            msg("detail.standards.vc.did.no_verification_method", verification_method=verification_method)
        )
    method = candidates[0]
    if method.get("type") != "Multikey":
        raise KeyUnresolvable(
            msg("detail.standards.vc.did.verification_method_type_multikey", value=method.get("type"))
        )
    try:
        public_key = decode_public_key(method.get("publicKeyMultibase", ""))
    except MultikeyInvalid as exc:
        raise KeyUnresolvable(str(exc)) from exc
    bounds = {
        name: _parse_time(method[name], name) for name in ("created", "retired", "revoked") if name in method
    }
    if bounds:
        if created is None:
            raise KeyNotValidAtSigningTime(msg("detail.standards.vc.did.proof_has_no_created"))
        if "created" in bounds and created < bounds["created"]:
            raise KeyNotValidAtSigningTime(msg("detail.standards.vc.did.proof_predates_key"))
        if "retired" in bounds and created >= bounds["retired"]:
            raise KeyNotValidAtSigningTime(msg("detail.standards.vc.did.proof_was_created_after"))
        if "revoked" in bounds and created >= bounds["revoked"]:
            raise KeyNotValidAtSigningTime(msg("detail.standards.vc.did.proof_was_created_after_2"))
    return public_key
