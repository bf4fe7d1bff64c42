"""A :class:`~creditbank.standards.vc.resolvers.Resolver` that asks a running creditbank service over HTTP.

``creditbank verify --url`` uses it. It lives beside the services, not in the pure standards package,
because it makes network requests (``httpx``).
"""

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from creditbank.errors import CreditBankError
from creditbank.i18n import Said, msg
from creditbank.standards.tlog import note
from creditbank.standards.vc import did
from creditbank.standards.vc.errors import CredentialError, LedgerReferenceInvalid, ResolutionFailed
from creditbank.standards.vc.evidence import LEDGER_EVIDENCE_TYPE, JsonObject, LedgerEvidence

log = logging.getLogger("creditbank.verify")


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
        self._register: dict[str, Said] | None = None
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
        if self.resolve_did_web:
            raise ResolutionFailed(
                msg("detail.credentials.http_resolver.outside", url=url, base_url=self.base_url)
            )
        raise ResolutionFailed(
            msg("detail.credentials.http_resolver.outside_did_web", url=url, base_url=self.base_url)
        )

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self.client.get(url, params=params, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.info("fetching %s failed: %s", url, type(exc).__name__)
            raise ResolutionFailed(msg("detail.credentials.http_resolver.not_fetched", url=url)) from exc
        if response.status_code != 200:
            raise ResolutionFailed(
                msg("detail.credentials.http_resolver.http_status", url=url, status=response.status_code)
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ResolutionFailed(msg("detail.credentials.http_resolver.not_json", url=url)) from exc

    def _get_object(self, url: str, params: dict[str, Any] | None = None) -> JsonObject:
        value = self._get(url, params)
        if not isinstance(value, dict):
            raise ResolutionFailed(msg("detail.credentials.http_resolver.not_object", url=url))
        return value

    def did_document(self, did_value: str) -> JsonObject:
        try:
            url = did.did_web_to_url(did_value)
        except CredentialError as exc:
            raise ResolutionFailed(
                msg("detail.credentials.http_resolver.cannot_resolve", did=did_value, reason=exc.said)
            ) from exc
        document = self._get_object(self._allowed(url, did_host=True))
        if document.get("id") != did_value:
            raise ResolutionFailed(
                msg("detail.credentials.http_resolver.not_did_document", url=url, did=did_value)
            )
        return document

    def status_list(self, url: str) -> JsonObject:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ResolutionFailed(msg("detail.credentials.http_resolver.not_http", url=url))
        return self._get_object(self._allowed(url, did_host=False))

    def _load_register(self) -> dict[str, Said]:
        if self._register is None:
            register: dict[str, Said] = {}
            institutions = self._get(self.base_url + "/api/v1/institutions")
            if not isinstance(institutions, list):
                raise ResolutionFailed(msg("detail.credentials.http_resolver.register_not_list"))
            for item in institutions:
                if isinstance(item, dict) and isinstance(item.get("did"), str):
                    register[item["did"]] = msg(
                        "verified.trust.registered", name=item.get("name_zh"), id=item.get("id")
                    )
            try:
                bank = self._get_object(self.base_url + "/did.json")
            except ResolutionFailed:
                bank = {}
            if isinstance(bank.get("id"), str):
                register[bank["id"]] = msg("verified.trust.bank")
            self._register = register
        return self._register

    def issuer_trust(self, did_value: str) -> Said | None:
        found = self._load_register().get(did_value)
        return msg("verified.trust.online_register", found=found, base_url=self.base_url) if found else None

    def _log(self, log_origin: str) -> JsonObject:
        if self._logs is None:
            logs = self._get(self.base_url + "/logs")
            if not isinstance(logs, list):
                raise ResolutionFailed(msg("detail.credentials.http_resolver.logs_not_list"))
            self._logs = [entry for entry in logs if isinstance(entry, dict)]
        found = [entry for entry in self._logs if entry.get("origin") == log_origin]
        if not found:
            raise ResolutionFailed(
                msg("detail.credentials.http_resolver.no_log", base_url=self.base_url, log_origin=log_origin)
            )
        return found[0]

    def log_key(self, log_origin: str) -> note.NoteVerifier:
        key = self._log(log_origin).get("verifier_key")
        try:
            return note.NoteVerifier.parse(key if isinstance(key, str) else "")
        except CreditBankError as exc:
            raise ResolutionFailed(
                msg(
                    "detail.credentials.http_resolver.log_key_malformed",
                    base_url=self.base_url,
                    log_origin=log_origin,
                )
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
            raise ResolutionFailed(
                msg(
                    "detail.credentials.http_resolver.malformed_proof",
                    base_url=self.base_url,
                    reason=exc.said,
                )
            ) from exc
