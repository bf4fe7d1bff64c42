"""The learner's consent to a conversion: only the learner decides where their credits go.

How this works:

* A consent (``learner_consents``) names one learner, one destination institution and the credit
  lots that destination may convert. It is given by the learner: through the API
  (``POST /api/v1/consents``), the archive page, or implicitly by the learner's own transfer
  request (``given_via = 'transfer'``, bound to that transfer).
* An issuing institution that asks for a transfer cites a consent the learner gave for that
  destination and those lots (:func:`bind_to_transfer`); the consent is then bound to the transfer
  and serves only its acceptance.
* A school converting certificates brought to it (``POST /api/v1/conversions``) needs an unbound
  consent naming it and every lot of the certificates (:func:`lock_for_conversion`).
* A consent is revocable until it is used. A conversion uses it once (:func:`mark_used`), in the
  same transaction. The row is locked (``FOR UPDATE``) before it is checked, so a revocation and
  a conversion never both win.
"""

from collections.abc import Sequence

from sqlmodel import Session, col, select

from creditbank.auth.models import Role
from creditbank.auth.service import Principal
from creditbank.catalog.models import Consent
from creditbank.db import utcnow
from creditbank.errors import Conflict, Forbidden, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.institutions import service as institutions
from creditbank.ledger.errors import LotAlreadyConverted, LotNotFound
from creditbank.ledger.models import Lot

MAX_LOTS = 50


class ConsentRequired(Forbidden):
    slug = "consent-required"
    title = "The learner has not consented to this conversion"


class ConsentNotFound(NotFound):
    slug = "consent-not-found"
    title = "No such consent"


class ConsentUsed(Conflict):
    slug = "consent-used"
    title = "The consent was used by a conversion and can no longer be revoked"


class ConsentInvalid(ValidationFailed):
    slug = "consent-invalid"
    title = "The consent is not valid"


def state_of(row: Consent) -> str:
    """``active``, ``used`` or ``revoked``."""
    if row.used_at is not None:
        return "used"
    return "revoked" if row.revoked_at is not None else "active"


def give(
    session: Session,
    learner_id: str,
    *,
    destination_institution_id: str,
    lot_ids: Sequence[str],
    given_via: str,
    transfer_id: str | None = None,
) -> Consent:
    """Record the learner's consent that ``destination_institution_id`` may convert ``lot_ids``.

    Raises:
        ConsentInvalid: no lots, too many, or a lot twice.
        InstitutionNotFound: the destination is not registered.
        LotNotFound: a lot does not exist or is not the learner's (the same answer, so lot ids of
            other learners cannot be probed).
    """
    lots = list(lot_ids)
    if not lots or len(lots) > MAX_LOTS:
        raise ConsentInvalid(msg("detail.catalog.consent.name_credit_lots", MAX_LOTS=MAX_LOTS))
    if len(set(lots)) != len(lots):
        raise ConsentInvalid(msg("detail.catalog.consent.lot_appears_twice"))
    institutions.get(session, destination_institution_id)
    owners = session.exec(select(Lot.id, Lot.learner_id).where(col(Lot.id).in_(lots))).all()
    mine = {lot_id for lot_id, owner in owners if owner == learner_id}
    missing = [lot_id for lot_id in lots if lot_id not in mine]
    if missing:
        raise LotNotFound(msg("detail.catalog.consent.no_lot_learner", value=missing[0]))
    row = Consent(
        id=random_id("cns"),
        learner_id=learner_id,
        destination_institution_id=destination_institution_id,
        lot_ids=lots,
        given_via=given_via,
        transfer_id=transfer_id,
    )
    session.add(row)
    session.flush()
    return row


def list_for_learner(session: Session, learner_id: str) -> list[Consent]:
    """A learner's consents, newest first."""
    stmt = (
        select(Consent)
        .where(col(Consent.learner_id) == learner_id)
        .order_by(col(Consent.created_at).desc(), col(Consent.id))
    )
    return list(session.exec(stmt).all())


def _locked(session: Session, consent_id: str) -> Consent | None:
    stmt = select(Consent).where(col(Consent.id) == consent_id).with_for_update()
    return session.exec(stmt.execution_options(populate_existing=True)).first()


def revoke(session: Session, who: Principal, consent_id: str) -> Consent:
    """The learner withdraws a consent that was not used yet. Revoking twice is a no-op.

    Raises:
        ConsentNotFound: no such consent of this learner (the same for another learner's).
        ConsentUsed: a conversion used it already.
    """
    row = _locked(session, consent_id)
    if row is None or who.role is not Role.learner or row.learner_id != who.subject:
        raise ConsentNotFound(msg("detail.catalog.consent.no_consent_yours", consent_id=consent_id))
    if row.used_at is not None:
        raise ConsentUsed(
            msg(
                "detail.catalog.consent.consent_was_used_conversion",
                consent_id=consent_id,
                conversion_id=row.conversion_id,
            )
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.flush()
    return row


def _check(row: Consent | None, learner_id: str, institution_id: str, lot_ids: Sequence[str]) -> Consent:
    if row is None or row.learner_id != learner_id:
        raise ConsentRequired(msg("detail.catalog.consent.learner_gave_no_such"))
    if row.destination_institution_id != institution_id:
        raise ConsentRequired(msg("detail.catalog.consent.consent_names_another_institution", id=row.id))
    if row.revoked_at is not None:
        raise ConsentRequired(msg("detail.catalog.consent.learner_revoked_consent", id=row.id))
    if row.used_at is not None:
        raise ConsentRequired(
            msg(
                "detail.catalog.consent.consent_was_used_conversion_2",
                id=row.id,
                conversion_id=row.conversion_id,
            )
        )
    outside = [lot_id for lot_id in lot_ids if lot_id not in row.lot_ids]
    if outside:
        raise ConsentRequired(
            msg("detail.catalog.consent.consent_does_name_lot", id=row.id, value=outside[0])
        )
    return row


def bind_to_transfer(
    session: Session,
    consent_id: str,
    *,
    learner_id: str,
    institution_id: str,
    lot_ids: Sequence[str],
    transfer_id: str,
) -> Consent:
    """An issuing institution's transfer request cites the learner's consent: check and bind it.

    Raises:
        ConsentRequired: no such consent of the learner, or it names another destination or not
            every lot, or it was revoked, used or bound to another transfer.
    """
    row = _check(_locked(session, consent_id), learner_id, institution_id, lot_ids)
    if row.transfer_id is not None:
        raise ConsentRequired(
            msg("detail.catalog.consent.consent_bound_transfer", id=row.id, transfer_id=row.transfer_id)
        )
    row.transfer_id = transfer_id
    session.add(row)
    session.flush()
    return row


def lock_for_transfer(session: Session, consent_id: str | None, transfer_id: str) -> Consent | None:
    """The consent of a transfer, locked (``None`` for transfers made before consents were recorded)."""
    if consent_id is None:
        return None
    row = _locked(session, consent_id)
    if row is None or row.transfer_id != transfer_id:
        raise ConsentRequired(
            msg("detail.catalog.consent.transfer_carries_no_consent", transfer_id=transfer_id)
        )
    return row


def check_for_transfer(
    row: Consent | None, transfer_id: str, learner_id: str, institution_id: str, lot_ids: Sequence[str]
) -> Consent:
    """Raises: ConsentRequired (none, revoked, used, or not naming these lots and destination)."""
    if row is None:
        raise ConsentRequired(
            msg("detail.catalog.consent.transfer_carries_no_consent", transfer_id=transfer_id)
        )
    return _check(row, learner_id, institution_id, lot_ids)


def lock_candidates(
    session: Session, learner_id: str, institution_id: str, consent_id: str | None
) -> list[Consent]:
    """Unbound consents of the learner naming this institution (or the one named), locked, oldest first."""
    stmt = select(Consent).where(
        col(Consent.learner_id) == learner_id,
        col(Consent.destination_institution_id) == institution_id,
        col(Consent.transfer_id).is_(None),
    )
    if consent_id is not None:
        stmt = select(Consent).where(col(Consent.id) == consent_id)
    stmt = stmt.order_by(col(Consent.created_at), col(Consent.id)).with_for_update()
    return list(session.exec(stmt.execution_options(populate_existing=True)).all())


def choose_for_conversion(
    candidates: Sequence[Consent],
    *,
    learner_id: str,
    institution_id: str,
    lot_ids: Sequence[str],
    consent_id: str | None,
) -> Consent:
    """The consent that allows converting ``lot_ids`` of certificates brought to a school.

    Raises:
        ConsentRequired: none names this institution and every lot and is still unused and
            unrevoked (a consent bound to a transfer serves only that transfer).
        LotAlreadyConverted: this institution already used such a consent to convert these lots.
    """
    covering = [row for row in candidates if all(lot_id in row.lot_ids for lot_id in lot_ids)]
    if consent_id is not None:
        row = candidates[0] if candidates else None
        if row is not None and row.transfer_id is not None:
            raise ConsentRequired(
                msg("detail.catalog.consent.consent_bound_transfer", id=row.id, transfer_id=row.transfer_id)
            )
        if row is not None and row in covering and row.learner_id == learner_id:
            _already_converted(row, institution_id)
        return _check(row, learner_id, institution_id, lot_ids)
    for row in covering:
        if state_of(row) == "active":
            return row
    for row in covering:
        _already_converted(row, institution_id)
    raise ConsentRequired(msg("detail.catalog.consent.learner_has_given_no"))


def _already_converted(row: Consent, institution_id: str) -> None:
    """A retry by the school that converted these lots with this consent: say so (409), as the
    ledger would, rather than asking for a consent it already used.

    Raises: LotAlreadyConverted."""
    if row.used_at is not None and row.destination_institution_id == institution_id:
        raise LotAlreadyConverted(
            msg(
                "detail.catalog.consent.these_lots_already_converted",
                conversion_id=row.conversion_id,
                id=row.id,
            ),
            lots=list(row.lot_ids),
        )


def mark_used(session: Session, row: Consent, conversion_id: str) -> None:
    row.used_at = utcnow()
    row.conversion_id = conversion_id
    session.add(row)
    session.flush()
