"""Signing keys of institutions and of the bank: creation, rotation, retirement, compromise.

How this works:

* Every issuer (an institution, by its id, or the bank, owner :data:`BANK_OWNER`) has at most one
  ``active`` key; :func:`active_signer` creates it the first time the issuer signs. The seed is
  sealed under the master key with the context ``creditbank/signing-key/<key id>``.
* :func:`rotate` retires the active key and creates a new one; :func:`retire` only retires (the
  next signature creates a new key). Retired keys stay in the DID document with their ``retired``
  time: what they signed before keeps verifying.
* :func:`compromise` records the time from which a key's signatures are void (earlier than now, as
  the operator learnt it); the key leaves ``assertionMethod`` of the DID document at once. The
  caller re-signs the owner's status lists and re-issues what the key signed with a fresh key
  (:func:`creditbank.credentials.service.compromise_key`).
* Times are whole seconds, as the DID document and proofs print them: ``created`` is rounded down
  and ``retired`` is the next whole second, so a proof made in the second of a rotation still
  verifies with the old key.
"""

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from creditbank.credentials.models import BANK_OWNER, KeyState, SigningKey
from creditbank.crypto import signing
from creditbank.crypto.symmetric import open_sealed, seal
from creditbank.db import pg_connection, translated_errors, utcnow
from creditbank.errors import Conflict, NotFound, ValidationFailed
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.institutions.models import Institution
from creditbank.institutions.service import institution_did
from creditbank.keyring.sealed import rewrap_column
from creditbank.standards.vc import did as didlib


class SigningKeyNotFound(NotFound):
    slug = "signing-key-not-found"
    title = "No such signing key"


class IssuerNotFound(NotFound):
    slug = "issuer-not-found"
    title = "No such issuer (a registered institution, or the bank)"


class KeyStateConflict(Conflict):
    slug = "signing-key-state"
    title = "The signing key is not in a state that allows this"


class CompromiseTimeInvalid(ValidationFailed):
    slug = "compromise-time-invalid"
    title = "The compromise time must be timezone-aware and not in the future"


@dataclass(frozen=True)
class Signer:
    """What signing needs: the issuer's DID, the verification method and the seed (never logged)."""

    owner_id: str
    did: str
    key_id: str
    verification_method: str
    seed: bytes

    def __repr__(self) -> str:
        return f"Signer(owner_id={self.owner_id!r}, verification_method={self.verification_method!r})"


_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def _key_context(key_id: str) -> str:
    return f"creditbank/signing-key/{key_id}"


def _floor_second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def _next_second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0) + dt.timedelta(seconds=1)


def bank_did(base_url: str) -> str:
    """The bank's own did:web (``did:web:<host>``, with any path of the base URL), the same host
    encoding as :func:`creditbank.institutions.service.institution_did`."""
    parts = institution_did(base_url, "x").split(":")
    return ":".join(parts[:-2])


def owner_did(base_url: str, owner_id: str) -> str:
    """The DID of an issuer: the bank's for :data:`BANK_OWNER`, else the institution's."""
    return bank_did(base_url) if owner_id == BANK_OWNER else institution_did(base_url, owner_id)


def owner_for_did(base_url: str, did: str) -> str | None:
    """The owner id of one of this service's issuer DIDs, or None when ``did`` is not one of them."""
    if did == bank_did(base_url):
        return BANK_OWNER
    prefix = institution_did(base_url, "x")[:-1]
    if did.startswith(prefix):
        rest = did[len(prefix) :]
        if _ID.fullmatch(rest):
            return rest
    return None


def check_owner(session: Session, owner_id: str) -> None:
    """Raises: IssuerNotFound: ``owner_id`` is neither the bank nor a registered institution."""
    if owner_id != BANK_OWNER and session.get(Institution, owner_id) is None:
        raise IssuerNotFound(
            msg("detail.credentials.keys.no_institution_use_bank", owner_id=owner_id, BANK_OWNER=BANK_OWNER)
        )


def _new_key(session: Session, master_key: bytes, owner_id: str) -> SigningKey:
    key_id = random_id("key")
    seed = signing.generate_private_key()
    row = SigningKey(
        id=key_id,
        owner_id=owner_id,
        public_key=signing.public_key(seed),
        private_key_sealed=seal(master_key, seed, context=_key_context(key_id)),
        state=KeyState.active.value,
        created_at=_floor_second(utcnow()),
    )
    session.add(row)
    session.flush()
    return row


def _active(session: Session, owner_id: str, *, lock: bool = False) -> SigningKey | None:
    stmt = select(SigningKey).where(
        col(SigningKey.owner_id) == owner_id, col(SigningKey.state) == KeyState.active.value
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.exec(stmt.execution_options(populate_existing=True)).first()


def active_key(session: Session, master_key: bytes, owner_id: str) -> SigningKey:
    """The owner's active key, created on first use.

    Two transactions creating an owner's first key at once: the partial UNIQUE index lets one win;
    the other reads the winner's key.

    Raises:
        IssuerNotFound: the owner is neither the bank nor a registered institution.
    """
    found = _active(session, owner_id)
    if found is not None:
        return found
    check_owner(session, owner_id)
    try:
        with session.begin_nested():
            return _new_key(session, master_key, owner_id)
    except IntegrityError:
        winner = _active(session, owner_id)
        if winner is None:  # pragma: no cover - the unique violation means an active key exists
            raise
        return winner


def signer_for(session: Session, master_key: bytes, base_url: str, owner_id: str) -> Signer:
    """The owner's active key, unsealed, with its DID and verification method.

    Raises:
        IssuerNotFound: see :func:`active_key`.
        DecryptionFailed: the master key is not the one the seed was sealed with.
    """
    key = active_key(session, master_key, owner_id)
    did = owner_did(base_url, owner_id)
    return Signer(
        owner_id=owner_id,
        did=did,
        key_id=key.id,
        verification_method=didlib.verification_method_id(did, key.id),
        seed=open_sealed(master_key, key.private_key_sealed, _key_context(key.id)),
    )


def get_key(session: Session, key_id: str) -> SigningKey:
    """Raises: SigningKeyNotFound."""
    row = session.get(SigningKey, key_id)
    if row is None:
        raise SigningKeyNotFound(msg("detail.credentials.keys.no_signing_key", key_id=key_id))
    return row


def list_keys(session: Session, owner_id: str | None = None) -> list[SigningKey]:
    """Every key (of one owner, or of all), oldest first."""
    stmt = select(SigningKey)
    if owner_id is not None:
        stmt = stmt.where(col(SigningKey.owner_id) == owner_id)
    return list(session.exec(stmt.order_by(col(SigningKey.owner_id), col(SigningKey.created_at))).all())


def _retire(session: Session, key: SigningKey, at: dt.datetime) -> None:
    key.state = KeyState.retired.value
    key.retired_at = _next_second(at)
    session.add(key)
    session.flush()


def rotate(session: Session, master_key: bytes, owner_id: str) -> tuple[SigningKey | None, SigningKey]:
    """Retire the owner's active key (if any) and create a new active one. Returns (old, new).

    Raises:
        IssuerNotFound: see :func:`active_key`.
    """
    check_owner(session, owner_id)
    old = _active(session, owner_id, lock=True)
    if old is not None:
        _retire(session, old, utcnow())
    return old, _new_key(session, master_key, owner_id)


def retire(session: Session, key_id: str) -> SigningKey:
    """Retire a key: it signs nothing more, and what it signed before keeps verifying.

    Retiring a retired key changes nothing.

    Raises:
        SigningKeyNotFound: no such key.
        KeyStateConflict: the key is compromised.
    """
    key = get_key(session, key_id)
    if key.state == KeyState.compromised.value:
        raise KeyStateConflict(msg("detail.credentials.keys.key_compromised_cannot_retired", key_id=key_id))
    if key.state == KeyState.active.value:
        _retire(session, key, utcnow())
    return key


def compromise(session: Session, key_id: str, at: dt.datetime) -> SigningKey:
    """Mark a key compromised from ``at`` on: every proof it made at or after ``at`` fails.

    A key already marked keeps the earlier of the two times. The caller re-signs the owner's status
    lists (:func:`creditbank.credentials.status_service.resign_owner_lists`).

    Raises:
        SigningKeyNotFound: no such key.
        CompromiseTimeInvalid: ``at`` is naive or in the future.
    """
    if at.tzinfo is None:
        raise CompromiseTimeInvalid(msg("detail.credentials.keys.give_compromise_time_zone"))
    if at > utcnow():
        raise CompromiseTimeInvalid(msg("detail.credentials.keys.compromise_in_future", value=at.isoformat()))
    key = get_key(session, key_id)
    moment = _floor_second(at.astimezone(dt.UTC))
    if key.compromised_at is None or moment < key.compromised_at:
        key.compromised_at = moment
    key.state = KeyState.compromised.value
    session.add(key)
    session.flush()
    return key


def key_infos(session: Session, owner_id: str) -> list[didlib.KeyInfo]:
    """The owner's keys, oldest first, as the DID library describes them."""
    return [
        didlib.KeyInfo(
            key_id=k.id,
            public_key=bytes(k.public_key),
            created=k.created_at,
            retired_at=k.retired_at,
            compromised_at=k.compromised_at,
        )
        for k in list_keys(session, owner_id)
    ]


def did_document(session: Session, base_url: str, owner_id: str) -> dict[str, Any]:
    """The owner's DID document: every key it ever had; all but the compromised under ``assertionMethod``.

    Raises:
        IssuerNotFound: the owner is neither the bank nor a registered institution.
    """
    check_owner(session, owner_id)
    return didlib.build_did_document(owner_did(base_url, owner_id), key_infos(session, owner_id))


@dataclass(frozen=True)
class IssuerKeys:
    """An issuer as verification reads it: its name (an institution's Chinese name; None for the
    bank) and every key it ever had, oldest first."""

    owner_id: str
    name_zh: str | None
    keys: list[didlib.KeyInfo]


# the issuer and its keys in one statement: a row per key, or one row of NULL keys for an issuer
# without any; no row at all for an id that is neither an institution nor the bank
_PG_ISSUER_KEYS = (
    "SELECT i.id, i.name_zh, k.id, k.public_key, k.created_at, k.retired_at, k.compromised_at "
    "FROM (SELECT CAST(%s AS varchar) AS owner) AS o "
    "LEFT JOIN institutions i ON i.id = o.owner "
    "LEFT JOIN credential_signing_keys k ON k.owner_id = o.owner "
    "ORDER BY k.created_at"
)


def issuer_keys(session: Session, owner_id: str) -> IssuerKeys:
    """The issuer and its keys as they are now, read afresh (one statement on PostgreSQL): what a
    verification resolves the issuer's DID document and trust from.

    Raises:
        IssuerNotFound: the owner is neither the bank nor a registered institution.
    """
    driver = pg_connection(session)
    if driver is None:
        check_owner(session, owner_id)
        institution = None if owner_id == BANK_OWNER else session.get(Institution, owner_id)
        name = institution.name_zh if institution is not None else None
        return IssuerKeys(owner_id, name, key_infos(session, owner_id))
    with translated_errors(_PG_ISSUER_KEYS), driver.cursor() as cursor:
        rows = cursor.execute(_PG_ISSUER_KEYS, (owner_id,)).fetchall()
    if owner_id != BANK_OWNER and (not rows or rows[0][0] is None):
        raise IssuerNotFound(
            msg("detail.credentials.keys.no_institution_use_bank", owner_id=owner_id, BANK_OWNER=BANK_OWNER)
        )
    found = [
        didlib.KeyInfo(
            key_id=key_id,
            public_key=bytes(public),
            created=created.astimezone(dt.UTC),
            retired_at=retired.astimezone(dt.UTC) if retired is not None else None,
            compromised_at=compromised.astimezone(dt.UTC) if compromised is not None else None,
        )
        for _, _, key_id, public, created, retired, compromised in rows
        if key_id is not None
    ]
    return IssuerKeys(owner_id, None if owner_id == BANK_OWNER else rows[0][1], found)


def jwks(session: Session, base_url: str, owner_id: str) -> dict[str, Any]:
    """The owner's keys as an OKP JWK set (compromised keys left out).

    Raises:
        IssuerNotFound: the owner is neither the bank nor a registered institution.
    """
    check_owner(session, owner_id)
    return didlib.build_jwks(owner_did(base_url, owner_id), key_infos(session, owner_id))


def rewrap_all(session: Session, old_master_key: bytes, new_master_key: bytes) -> int:
    """Seal every signing key's private half under a new master key.

    Raises:
        DecryptionFailed: a key does not open with ``old_master_key``.
    """
    table = SigningKey.__table__  # type: ignore[attr-defined]
    return rewrap_column(
        session, table, table.c.id, table.c.private_key_sealed, _key_context, old_master_key, new_master_key
    )
