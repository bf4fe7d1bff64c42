"""A :class:`~creditbank.standards.vc.resolvers.Resolver` that answers from the service's own database.

``POST /api/v1/verify`` and the evidence endpoint use it. It answers only for this service's own
issuers (the bank and registered institutions), status lists and logs, and never fetches anything
over the network: a certificate naming another host's DID or status list fails those checks (the
status check fails closed) instead of making the server call out to an address a client chose.
"""

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import psycopg
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, col, select

from creditbank.context import AppContext
from creditbank.credentials import keys, status_service
from creditbank.credentials.models import BANK_OWNER
from creditbank.db import unavailability
from creditbank.errors import CreditBankError, DatabaseUnavailable
from creditbank.i18n import Said, msg
from creditbank.institutions.models import Institution
from creditbank.ledger.models import JournalTransaction
from creditbank.standards.tlog.note import NoteVerifier
from creditbank.standards.vc.errors import ResolutionFailed
from creditbank.standards.vc.evidence import LedgerEvidence
from creditbank.transparency import store

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

    @_unavailable_is_no_verdict
    def did_document(self, did: str) -> dict[str, Any]:
        owner = keys.owner_for_did(self.base_url, did)
        if owner is None:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.issuer_service_resolves_no", did=did)
            )
        try:
            return keys.did_document(self.session, self.base_url, owner)
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
        institution = self.session.get(Institution, owner) if owner else None
        if institution is None:
            return None
        return msg("verified.trust.registered", name=institution.name_zh, id=institution.id)

    @_unavailable_is_no_verdict
    def ledger_evidence(self, log_origin: str, index: int) -> LedgerEvidence:
        logs = [lg for lg in store.list_logs(self.session) if lg.origin == log_origin]
        if not logs:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.service_keeps_no_log", log_origin=log_origin)
            )
        log = logs[0]
        try:
            leaf_hash, proof, checkpoint = store.inclusion(self.session, log.id, index, None)
        except CreditBankError as exc:
            raise ResolutionFailed(exc.said) from exc
        leaf = self.session.exec(
            select(JournalTransaction.leaf).where(
                col(JournalTransaction.log_id) == log.id, col(JournalTransaction.seq) == index
            )
        ).first()
        return LedgerEvidence(
            log_origin=log.origin,
            verifier_key=store.verifier(log).to_text(),
            index=index,
            size=int(checkpoint.size),
            leaf_hash=leaf_hash,
            proof=proof,
            checkpoint=checkpoint.note,
            leaf=bytes(leaf) if leaf is not None else None,
        )

    @_unavailable_is_no_verdict
    def log_key(self, log_origin: str) -> NoteVerifier:
        logs = [lg for lg in store.list_logs(self.session) if lg.origin == log_origin]
        if not logs:
            raise ResolutionFailed(
                msg("detail.credentials.local_resolver.service_keeps_no_log", log_origin=log_origin)
            )
        return store.verifier(logs[0])
