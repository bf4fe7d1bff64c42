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
   its bytes hash to that leaf hash, it parses as a recognition (the one leaf format), and it
   records the lots, credits, learner (the hashed identity) and rule citation the certificate
   states. A certificate signed by a real key that claims more than its leaf fails here
   (:mod:`.ledger_check`).
7. ``learner`` (only when a learner id is given): an ``identityHash`` of the subject equals
   ``"sha256$" + hex(SHA-256(learner_id + salt))``.

A CLR bundle (``ClrCredential``) is checked as itself and each bundled credential in turn; a check
passes only when it passes for the bundle and for every part (the bundle has no ledger reference
of its own: its ``ledger`` check is its parts').

Where the keys, lists, register and proofs come from is a :class:`~.resolvers.Resolver`'s business
(:mod:`.resolvers`): :class:`~.resolvers.OfflineResolver` reads files (the evidence format is in
:mod:`.evidence`), :class:`creditbank.credentials.http_resolver.HttpResolver` asks the running
service the user named, and the service itself uses
:class:`creditbank.credentials.local_resolver.DatabaseResolver`. Nothing here touches a database or
the network.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from creditbank.errors import CreditBankError
from creditbank.i18n import Lang, Said, When, joined, msg, text_of
from creditbank.standards.vc import dataintegrity, did, statuslist
from creditbank.standards.vc.errors import (
    CredentialError,
    CredentialRevoked,
    CredentialStatusSet,
    CredentialSuspended,
    IssuerUntrusted,
    KeyNotAuthorized,
    KeyUnresolvable,
    MultikeyInvalid,
    ResolutionFailed,
    StatusListInvalid,
    StatusListStale,
    StatusUnavailable,
    ValidityPeriodInvalid,
)
from creditbank.standards.vc.evidence import JsonObject
from creditbank.standards.vc.ledger_check import check_learner, check_ledger
from creditbank.standards.vc.multikey import decode_public_key
from creditbank.standards.vc.resolvers import Resolver

log = logging.getLogger("creditbank.verify")

CHECK_NAMES: tuple[str, ...] = ("proof", "key", "issuer", "status", "validity", "ledger", "learner")


# --- the report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One named check and its result; ``said`` says what was established, or why not, with the
    technical particulars (a message from the catalogues: ``detail_in(lang)`` renders it, ``detail``
    is the English text); ``code`` names the kind of failure (the error's problem slug,
    ``malformed``, ``incomplete`` or ``not-an-object``; empty when the check passed), so that pages
    can also give its short reason."""

    name: str
    ok: bool
    said: Said
    code: str = ""

    @property
    def detail(self) -> str:
        """What the check established, or why not, in English (the JSON report, logs, scripts)."""
        return text_of(self.said, "en")

    def detail_in(self, lang: Lang) -> str:
        return text_of(self.said, lang)

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


# --- the checks ------------------------------------------------------------------------------------


def _method_public_key(document: JsonObject, verification_method: str) -> bytes:
    """The raw key of ``verification_method`` in ``document`` (no authorisation or time checks)."""
    methods = [*document.get("verificationMethod", []), *document.get("assertionMethod", [])]
    for method in methods:
        if isinstance(method, dict) and method.get("id") == verification_method:
            try:
                return decode_public_key(method.get("publicKeyMultibase", ""))
            except MultikeyInvalid as exc:
                raise KeyUnresolvable(
                    msg(
                        "detail.standards.vc.verification.method_key",
                        method=verification_method,
                        reason=exc.said,
                    )
                ) from exc
    raise KeyUnresolvable(
        msg("detail.standards.vc.verification.method_not_in_document", method=verification_method)
    )


def _verify_proofs(document: JsonObject, resolver: Resolver) -> list[dataintegrity.VerifiedProof]:
    def resolve(verification_method: str) -> bytes:
        controller = verification_method.split("#", 1)[0]
        return _method_public_key(resolver.did_document(controller), verification_method)

    return dataintegrity.verify_proofs(document, resolve)


def _key_valid(document: JsonObject, resolver: Resolver) -> list[tuple[str, str | None]]:
    """Check each proof's key belongs to the issuer and was valid when it signed; each proof's
    method and the time it says it signed."""
    issuer = dataintegrity.issuer_id(document)
    found: list[tuple[str, str | None]] = []
    for proof in dataintegrity.extract_proofs(document):
        method = proof["verificationMethod"]
        dataintegrity.check_issuer(document, method)
        did_document = resolver.did_document(issuer)
        if did_document.get("id") != issuer:
            raise KeyNotAuthorized(
                msg("detail.standards.vc.verification.did_document_not_own", issuer=issuer)
            )
        created = dataintegrity.parse_datetime(proof["created"]) if "created" in proof else None
        did.key_for_proof(did_document, method, created)
        found.append((method, proof.get("created")))
    return found


def _check_proof(document: JsonObject, resolver: Resolver) -> Said:
    verified = _verify_proofs(document, resolver)
    return joined(
        [msg("verified.proof", cryptosuite=v.cryptosuite, method=v.verification_method) for v in verified]
    )


def _check_key(document: JsonObject, resolver: Resolver) -> Said:
    said: list[Said] = []
    for method, when in _key_valid(document, resolver):
        at = msg("verified.unknown_time") if when is None else _moment(when)
        said.append(msg("verified.key", method=method, at=at))
    return joined(said)


def _check_issuer(document: JsonObject, resolver: Resolver) -> Said:
    issuer = dataintegrity.issuer_id(document)
    why = resolver.issuer_trust(issuer)
    if why is None:
        raise IssuerUntrusted(msg("detail.standards.vc.verification.issuer_untrusted", issuer=issuer))
    return msg("verified.issuer", issuer=issuer, why=why)


def _status_entries(document: JsonObject) -> list[JsonObject]:
    value = document.get("credentialStatus")
    if value is None:
        return []
    entries = value if isinstance(value, list) else [value]
    if not entries or not all(isinstance(e, dict) for e in entries):
        raise StatusListInvalid(msg("detail.standards.vc.verification.status_not_objects"))
    return entries


def _moment(value: Any) -> Said | When:
    """A time a document states, said for people; as written when it is not one."""
    try:
        return When(dataintegrity.parse_datetime(value))
    except CreditBankError:
        return str(value)


def _list_age(list_credential: JsonObject, now: datetime, max_age: int | None, url: str) -> Said:
    """How long ago the list was signed, and until when it is valid; fails a list older than max_age."""
    signed = list_credential.get("validFrom")
    proofs = list_credential.get("proof")
    first = proofs[0] if isinstance(proofs, list) and proofs else proofs
    if isinstance(first, dict) and isinstance(first.get("created"), str):
        signed = first["created"]
    stated = list_credential.get("validUntil")
    until = _moment(stated) if stated else msg("verified.status.no_end")
    if not isinstance(signed, str):
        if max_age is not None:
            raise StatusListStale(msg("detail.standards.vc.verification.list_not_dated", url=url))
        return msg("verified.status.until", until=until)
    age = int((now - dataintegrity.parse_datetime(signed)).total_seconds())
    if max_age is not None and age > max_age:
        raise StatusListStale(
            msg(
                "detail.standards.vc.verification.list_stale",
                url=url,
                age=age,
                signed=_moment(signed),
                max_age=max_age,
            )
        )
    return msg("verified.status.signed", age=age, until=until)


def _check_one_status(
    document: JsonObject, entry: JsonObject, resolver: Resolver, now: datetime, max_age: int | None
) -> Said:
    url = entry.get("statusListCredential")
    purpose = entry.get("statusPurpose")
    index = entry.get("statusListIndex")
    if entry.get("type") != "BitstringStatusListEntry" or not isinstance(url, str):
        raise StatusListInvalid(msg("detail.standards.vc.verification.not_a_status_entry"))
    # 1. Obtain the list; failing to is a failure (fail closed).
    try:
        list_credential = resolver.status_list(url)
    except ResolutionFailed as exc:
        raise StatusUnavailable(
            msg("detail.standards.vc.verification.list_unreadable", purpose=purpose, url=url, reason=exc.said)
        ) from exc
    # 2. The list is signed by the certificate's issuer, with a key valid when it was signed.
    if dataintegrity.issuer_id(list_credential) != dataintegrity.issuer_id(document):
        raise StatusListInvalid(msg("detail.standards.vc.verification.list_other_issuer", url=url))
    try:
        _verify_proofs(list_credential, resolver)
        _key_valid(list_credential, resolver)
    except CredentialError as exc:
        raise StatusListInvalid(
            msg("detail.standards.vc.verification.list_not_signed", url=url, reason=exc.said)
        ) from exc
    _check_period(list_credential, now, msg("verified.the_status_list", url=url))
    age = _list_age(list_credential, now, max_age, url)
    # 3. Read the bit.
    if statuslist.read_status(list_credential, entry):
        if purpose == "revocation":
            raise CredentialRevoked(msg("detail.standards.vc.verification.revoked", index=index, url=url))
        if purpose == "suspension":
            raise CredentialSuspended(msg("detail.standards.vc.verification.suspended", index=index, url=url))
        raise CredentialStatusSet(msg("detail.standards.vc.verification.status_set", index=index, url=url))
    return msg("verified.status.not_set", purpose=purpose, index=index, url=url, age=age)


def _check_status(document: JsonObject, resolver: Resolver, now: datetime, max_age: int | None) -> Said:
    entries = _status_entries(document)
    if not entries:
        return msg("verified.status.not_revocable")
    return joined([_check_one_status(document, e, resolver, now, max_age) for e in entries])


def _check_period(document: JsonObject, now: datetime, what: Said) -> Said:
    valid_from = document.get("validFrom")
    valid_until = document.get("validUntil")
    if valid_from is not None and now < dataintegrity.parse_datetime(valid_from):
        raise ValidityPeriodInvalid(
            msg("detail.standards.vc.verification.not_yet_valid", what=what, valid_from=_moment(valid_from))
        )
    if valid_until is not None and now > dataintegrity.parse_datetime(valid_until):
        raise ValidityPeriodInvalid(
            msg("detail.standards.vc.verification.expired", what=what, valid_until=_moment(valid_until))
        )
    start = _moment(valid_from) if valid_from is not None else msg("verified.validity.any_time")
    end = _moment(valid_until) if valid_until is not None else msg("verified.validity.no_end")
    return msg("verified.validity.period", valid_from=start, valid_until=end)


def _check_validity(document: JsonObject, now: datetime) -> Said:
    if "validFrom" not in document:
        raise ValidityPeriodInvalid(msg("detail.standards.vc.verification.no_valid_from"))
    period = _check_period(document, now, msg("verified.the_certificate"))
    return msg("verified.validity.checked", period=period, at=When(now.astimezone(UTC)))


def _run(name: str, check: Callable[[], Said]) -> Check:
    try:
        return Check(name, True, check())
    except CreditBankError as exc:
        if exc.status >= 500:  # the verifier could not look (its database is down): no verdict
            raise
        return Check(name, False, exc.said, exc.slug)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        said = msg("verified.malformed", kind=type(exc).__name__, error=str(exc))
        return Check(name, False, said, "malformed")
    except Exception as exc:  # a verifier fails closed on anything it did not foresee
        log.warning("verification check %s failed unexpectedly", name, exc_info=True)
        return Check(name, False, msg("verified.incomplete", kind=type(exc).__name__), "incomplete")


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
        checks.append(_run("ledger", lambda: check_ledger(document, resolver, lots)))
        if recorded is not None and checks[-1].ok:
            recorded.extend(lots)
    if learner_id is not None:
        checks.append(_run("learner", lambda: check_learner(document, learner_id)))
    return checks


def _types(document: JsonObject) -> list[Any]:
    value = document.get("type", [])
    return value if isinstance(value, list) else [value]


def _merge(name: str, own: Check | None, parts: Iterable[tuple[Said, Check]]) -> Check:
    """One check over a bundle and its parts: ok when all are; the detail names each failure."""
    bundle: list[tuple[Said, Check]] = [(msg("verified.bundle.itself"), own)] if own is not None else []
    results = bundle + list(parts)
    if not results:
        return Check(name, False, msg("verified.bundle.empty"), "malformed")
    failed = [(label, c) for label, c in results if not c.ok]
    if failed:
        said = joined([msg("verified.bundle.labelled", label=label, said=c.said) for label, c in failed])
        return Check(name, False, said, failed[0][1].code)
    details = joined([msg("verified.bundle.labelled", label=lb, said=c.said) for lb, c in results])
    return Check(name, True, msg("verified.bundle.all", count=len(results), details=details))


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
        return Report.of([Check(n, False, msg("verified.not_an_object"), "not-an-object") for n in names])
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
    parts: list[tuple[Said, dict[str, Check]]] = []
    for position, credential in enumerate(inner):
        label: Said
        if isinstance(credential, dict):
            label = msg("verified.bundle.part", n=position + 1, id=credential.get("id", "no id"))
            checks = _checks(
                credential, resolver, learner_id, moment, recorded=recorded, max_status_age=max_status_age
            )
        else:
            label = msg("verified.bundle.part_bare", n=position + 1)
            checks = [Check(n, False, msg("verified.part_not_an_object"), "not-an-object") for n in names]
        parts.append((label, {c.name: c for c in checks}))
    return Report.of([_merge(n, own.get(n), [(lb, p[n]) for lb, p in parts]) for n in names], recorded)
