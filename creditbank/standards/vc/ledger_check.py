"""The ``ledger`` and ``learner`` checks: what a certificate claims, against the ledger leaf it cites.

How this works
--------------
:func:`check_ledger` proves, with an RFC 9162 inclusion proof, that the certificate's
``ledgerReference`` leaf hash is leaf ``sequenceNumber`` of the log, against a checkpoint whose
signature verifies with the log's key as the resolver trusts it (pinned offline, never the key an
evidence file carries). Then the leaf itself: its bytes hash to that leaf hash, it parses as a
recognition (:mod:`creditbank.standards.ledger.leaf`), and it records the lots, credits, learner (the
hashed identity) and rule citation the certificate states. A certificate signed by a real key that
claims more than its leaf fails here. :func:`check_learner` compares the subject's hashed identity
with a learner id.
"""

import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from typing import Any

from creditbank.i18n import Said, msg
from creditbank.standards.ledger import leaf as leaf_format
from creditbank.standards.tlog import merkle, note
from creditbank.standards.vc.errors import LearnerMismatch, LedgerReferenceInvalid, ResolutionFailed
from creditbank.standards.vc.evidence import JsonObject, unb64
from creditbank.standards.vc.resolvers import Resolver


def _ledger_reference(document: JsonObject) -> tuple[str, int, bytes]:
    subject = document.get("credentialSubject")
    transfer = subject.get("creditTransfer") if isinstance(subject, dict) else None
    reference = transfer.get("ledgerReference") if isinstance(transfer, dict) else None
    if not isinstance(reference, dict):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.no_reference"))
    origin, seq = reference.get("logOrigin"), reference.get("sequenceNumber")
    if not isinstance(origin, str) or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.reference_needs_origin"))
    leaf_hash = unb64(reference.get("leafHash"), "ledgerReference.leafHash")
    if len(leaf_hash) != merkle.HASH_SIZE:
        raise LedgerReferenceInvalid(
            msg(
                "detail.standards.vc.ledger_check.leaf_hash_size",
                size=len(leaf_hash),
                expected=merkle.HASH_SIZE,
            )
        )
    return origin, seq, leaf_hash


def check_ledger(document: JsonObject, resolver: Resolver, recorded: list[str]) -> Said:
    # 1. The certificate's own reference: log, sequence number, leaf hash.
    origin, seq, leaf_hash = _ledger_reference(document)
    try:
        evidence = resolver.ledger_evidence(origin, seq)
    except ResolutionFailed as exc:
        raise LedgerReferenceInvalid(
            msg(
                "detail.standards.vc.ledger_check.no_inclusion_proof", seq=seq, origin=origin, reason=exc.said
            )
        ) from exc
    # 2. The log's key as the resolver trusts it (never the key the evidence names); the
    #    checkpoint verifies with it.
    try:
        verifier = resolver.log_key(origin)
    except ResolutionFailed as exc:
        raise LedgerReferenceInvalid(exc.said) from exc
    if verifier.name != origin:
        raise LedgerReferenceInvalid(
            msg("detail.standards.vc.ledger_check.log_key_other", name=verifier.name, origin=origin)
        )
    checkpoint = note.open_checkpoint(evidence.checkpoint.encode("utf-8"), verifier)
    if evidence.size != checkpoint.size or evidence.index != seq:
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.proof_other_leaf"))
    # 3. The certificate's leaf hash (not the one the evidence claims) is in the checkpointed tree.
    merkle.verify_inclusion(leaf_hash, seq, checkpoint.size, evidence.proof, checkpoint.root_hash)
    # 4. The leaf records what the certificate states.
    lots, described = _check_leaf(document, evidence.leaf, leaf_hash, seq)
    recorded.extend(lots)
    key = f"{verifier.name}+{verifier.key_id.hex()}"
    return msg("verified.ledger", seq=seq, origin=origin, size=checkpoint.size, key=key, described=described)


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.not_a_number", what=what))
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.not_a_number", what=what)) from exc


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
) -> tuple[list[str], Said]:
    """Compare the leaf's record with the certificate's claims; return the lot ids the leaf records for
    the certificate, and a description of what matched.

    Raises:
        LedgerReferenceInvalid: no leaf bytes, bytes of another leaf, not a recognition, or a claim
            (lots, credits, learner, rule citation) the leaf does not record.
    """
    # 1. The bytes are the leaf the certificate cites, in the one leaf format.
    if data is None:
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.no_leaf_bytes"))
    if merkle.leaf_hash(data) != leaf_hash:
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.leaf_bytes_other"))
    try:
        entry = leaf_format.parse(data)
    except leaf_format.LeafFormatError as exc:
        raise LedgerReferenceInvalid(
            msg("detail.standards.vc.ledger_check.leaf_unreadable", error=str(exc))
        ) from exc
    if entry.seq != seq or entry.kind is not leaf_format.TxKind.recognition:
        raise LedgerReferenceInvalid(
            msg(
                "detail.standards.vc.ledger_check.not_a_recognition",
                seq=seq,
                kind=entry.kind.value,
                at=entry.seq,
            )
        )
    # 2. The lots.
    transfer = transfer_claims(document)
    lot_ids = transfer.get("lotIds")
    if not isinstance(lot_ids, list) or not lot_ids or not all(isinstance(i, str) for i in lot_ids):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.lot_ids_list"))
    recorded_ids = [lot.id for lot in entry.lots]
    if len(set(lot_ids)) != len(lot_ids) or not set(lot_ids) <= set(recorded_ids):
        raise LedgerReferenceInvalid(
            msg(
                "detail.standards.vc.ledger_check.lots_differ",
                claimed=sorted(lot_ids),
                recorded=sorted(recorded_ids),
            )
        )
    lots = [lot for lot in entry.lots if lot.id in lot_ids]
    # 3. The credits.
    subject = document.get("credentialSubject")
    claimed = _decimal(subject.get("creditsEarned") if isinstance(subject, dict) else None, "creditsEarned")
    recorded = sum((lot.credits for lot in lots), Decimal(0))
    if claimed != recorded:
        raise LedgerReferenceInvalid(
            msg(
                "detail.standards.vc.ledger_check.credits_differ",
                claimed=claimed,
                recorded=recorded,
                lots=sorted(lot_ids),
            )
        )
    # 4. The rule citation.
    citation = transfer.get("ruleCitation")
    if not isinstance(citation, dict):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.no_rule_citation"))
    cited = (citation.get("ruleId"), citation.get("ruleVersion"), citation.get("ruleSetHash"))
    for lot in lots:
        if cited != (lot.rule.id, lot.rule.version, lot.rule.set_hash):
            raise LedgerReferenceInvalid(
                msg(
                    "detail.standards.vc.ledger_check.rule_differs",
                    rule=cited[0],
                    version=cited[1],
                    set_hash=cited[2],
                    leaf_rule=lot.rule.id,
                    leaf_version=lot.rule.version,
                    leaf_set_hash=lot.rule.set_hash,
                    lot=lot.id,
                )
            )
    # 5. The learner: the certificate's hashed identity is the leaf's learner.
    learners = {lot.learner for lot in lots}
    identities = _hashed_identities(document)
    if len(learners) != 1 or not any(_identity_matches(i, next(iter(learners))) for i in identities):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.identity_not_leaf_learner"))
    described = msg("verified.leaf", lots=", ".join(sorted(lot_ids)), credits=recorded)
    return [lot.id for lot in lots], described


def check_learner(document: JsonObject, learner_id: str) -> Said:
    hashed = _hashed_identities(document)
    if not hashed:
        raise LearnerMismatch(msg("detail.standards.vc.ledger_check.no_hashed_identity"))
    if any(_identity_matches(identity, learner_id) for identity in hashed):
        return msg("verified.learner")
    raise LearnerMismatch(msg("detail.standards.vc.ledger_check.identity_mismatch"))


def transfer_claims(document: JsonObject) -> JsonObject:
    """The ``creditTransfer`` object of a lot credential (what an exchange acts on), unverified.

    Raises:
        LedgerReferenceInvalid: the credential has no ``creditTransfer`` object.
    """
    subject = document.get("credentialSubject")
    transfer = subject.get("creditTransfer") if isinstance(subject, dict) else None
    if not isinstance(transfer, dict):
        raise LedgerReferenceInvalid(msg("detail.standards.vc.ledger_check.no_credit_transfer"))
    return transfer
