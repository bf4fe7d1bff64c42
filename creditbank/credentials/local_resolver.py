"""A :class:`~creditbank.standards.vc.resolvers.Resolver` that answers from the service's own database.

``POST /api/v1/verify`` and the evidence endpoint use it. It answers only for this service's own
issuers (the bank and registered institutions), status lists and logs, and never fetches anything
over the network: a certificate naming another host's DID or status list fails those checks (the
status check fails closed) instead of making the server call out to an address a client chose.

Each answer is read afresh from the database for each verification (a resolver lives for one): a
key rotated or compromised by another process shows in the very next verification. Within one
verification an issuer's keys are read once, in one statement, for the certificate's proof, key
and issuer checks, and once more after its status list is read (the list may have been signed by a
key made after the first read); the logs once.
"""

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from sqlalchemy import exc as sa_exc
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.credentials import keys, status_service
from creditbank.credentials.models import BANK_OWNER
from creditbank.db import unavailability
from creditbank.errors import CreditBankError, DatabaseUnavailable
from creditbank.i18n import Said, msg
from creditbank.standards.tlog.note import NoteVerifier
from creditbank.standards.vc import did as didlib
from creditbank.standards.vc.errors import ResolutionFailed
from creditbank.standards.vc.evidence import LedgerEvidence
from creditbank.transparency import lookups, store

P = ParamSpec("P")
R = TypeVar("R")


def _unavailable_is_no_verdict(
    method: "Callable[Concatenate[DatabaseResolver, P], R]",
) -> "Callable[Concatenate[DatabaseResolver, P], R]":
    """A database that cannot answer now (down, restarting, every connection busy) ends the
    verification with :class:`DatabaseUnavailable` (503, ``Retry-After``): it says nothing of the
    certificate, so it must not become a failed check in a 200 answer."""

    @functools.wraps(method)
    def answer(self: "DatabaseResolver", /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, psycopg.Error) as exc:
            reason = unavailability(exc)
            if reason is None:
                raise
            raise DatabaseUnavailable(reason, retry_after=self.retry_after) from exc

    return answer


class DatabaseResolver:
    """Answers from the database of the service whose public base URL is ``base_url``."""

    def __init__(
        self,
        session: Session,
        base_url: str,
        master_key: bytes | None = None,
        list_lifetime: dt.timedelta = status_service.DEFAULT_LIFETIME,
        retry_after: int = 1,
    ) -> None:
        """With ``master_key``, a status list past half its life is re-signed before it is used.
        ``retry_after``: the seconds a 503 asks a client to wait when the database cannot answer."""
        self.session = session
        self.base_url = base_url
        self.master_key = master_key
        self.list_lifetime = list_lifetime
        self.retry_after = retry_after
        self._issuers: dict[str, keys.IssuerKeys | CreditBankError] = {}
        self._logs: dict[str, lookups.LogKey | None] = {}

    @classmethod
    def of(cls, session: Session, ctx: AppContext) -> "DatabaseResolver":
        """The resolver of the service ``ctx`` describes (it re-signs status lists as they come due)."""
        return cls(
            session,
            ctx.settings.base_url,
            ctx.secrets.master_key,
            status_service.list_lifetime(ctx.settings),
            retry_after=ctx.settings.unavailable_retry_after_seconds,
        )

    def _issuer(self, owner: str) -> "keys.IssuerKeys | CreditBankError":
        """The issuer and its keys, read once until :meth:`status_list` reads a list."""
        if owner not in self._issuers:
            try:
                self._issuers[owner] = keys.issuer_keys(self.session, owner)
            except CreditBankError as exc:
                if exc.status >= 500:
                    raise
                self._issuers[owner] = exc
        return self._issuers[owner]

    @_unavailable_is_no_verdict
    def did_document(self, did: str) -> dict[str, Any]:
        owner = keys.owner_for_did(self.base_url, did)
        if owner is None:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.issuer_service_resolves_no", did=did)
            )
        found = self._issuer(owner)
        if isinstance(found, CreditBankError):
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.did_unresolvable", did=did, reason=found.said)
            ) from found
        try:
            return didlib.build_did_document(keys.owner_did(self.base_url, owner), found.keys)
        except CreditBankError as exc:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.did_unresolvable", did=did, reason=exc.said)
            ) from exc

    @_unavailable_is_no_verdict
    def status_list(self, url: str) -> dict[str, Any]:
        list_id = status_service.list_id_for_url(self.base_url, url)
        if list_id is None:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.status_list_service_fetches", url=url)
            )
        self._issuers.clear()  # the list may be signed by a key made since they were read
        try:
            if self.master_key is not None:
                return status_service.current_credential(
                    self.session, self.master_key, self.base_url, list_id, self.list_lifetime
                )
            return status_service.list_credential(self.session, list_id)
        except CreditBankError as exc:
            raise ResolutionFailed(exc.said) from exc

    @_unavailable_is_no_verdict
    def issuer_trust(self, did: str) -> Said | None:
        owner = keys.owner_for_did(self.base_url, did)
        if owner == BANK_OWNER:
            return msg("verified.trust.bank")
        found = self._issuer(owner) if owner else None
        if found is None or isinstance(found, CreditBankError):
            return None
        return msg("verified.trust.registered", name=found.name_zh, id=found.owner_id)

    def _log(self, log_origin: str) -> lookups.LogKey:
        if log_origin not in self._logs:
            self._logs[log_origin] = lookups.log_by_origin(self.session, log_origin)
        found = self._logs[log_origin]
        if found is None:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.service_keeps_no_log", log_origin=log_origin)
            )
        return found

    @_unavailable_is_no_verdict
    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        log = self._log(log_origin)
        try:
            leaf_hash, proof, checkpoint = store.inclusion(self.session, log.id, index, None)
        except CreditBankError as exc:
            raise ResolutionFailed(exc.said) from exc
        leaf = lookups.leaf(self.session, log.id, index)
        return LedgerEvidence(
            log_origin=log.origin,
            verifier_key=log.verifier().to_text(),
            index=index,
            size=int(checkpoint.size),
            leaf_hash=leaf_hash,
            proof=proof,
            checkpoint=checkpoint.note,
            leaf=leaf,
        )

    @_unavailable_is_no_verdict
    def log_key(self, log_origin: str) -> NoteVerifier:
        return self._log(log_origin).verifier()
