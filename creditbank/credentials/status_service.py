"""Status lists in the database: allocating indexes, setting bits, signing the list credentials.

How this works:

* Each issuer (owner) has Bitstring Status Lists of 131,072 entries per purpose (``revocation``,
  ``suspension``). :func:`allocate` locks the issuer's current list (``FOR UPDATE``), hands out the
  next index of the list's permutation (see :mod:`creditbank.credentials.models`) and counts it;
  a full list makes the next allocation open a new one. An index is never handed out twice.
* The list is published as a ``BitstringStatusListCredential`` signed by the issuer's active key
  (:func:`sign_list`), stored as the exact JSON served at ``/status-lists/{id}``, and re-signed
  whenever a bit changes (:func:`set_bit`) or the issuer's key is compromised
  (:func:`resign_owner_lists`).
* Every list credential carries a short ``validUntil`` (``validFrom`` + the list lifetime, setting
  ``CREDITBANK_STATUS_LIST_LIFETIME_SECONDS``, 24 hours by default), so a copy fetched before a
  revocation stops passing once it lapses. :func:`current_credential` (what the service serves and
  verifies with) re-signs a list whose first half of life is over, before it lapses: a list is
  never served expired, whether or not anything changed.
"""

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from creditbank.config import Settings
from creditbank.credentials import keys
from creditbank.credentials.builder import xsd_datetime
from creditbank.credentials.models import StatusList
from creditbank.db import pg_connection, translated_errors, utcnow
from creditbank.errors import NotFound
from creditbank.i18n import msg
from creditbank.ids import random_id
from creditbank.standards.vc import dataintegrity, statuslist
from creditbank.standards.vc.statuslist import Bitstring, StatusPurpose

LIST_SIZE = statuslist.MIN_BITS
DEFAULT_LIFETIME = dt.timedelta(hours=24)
_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


class StatusListNotFound(NotFound):
    slug = "status-list-not-found"
    title = "No such status list"


@dataclass(frozen=True)
class Allocation:
    """An index handed out on a status list."""

    list_id: str
    index: int
    url: str
    purpose: StatusPurpose

    def entry(self) -> dict[str, Any]:
        """The credential's ``BitstringStatusListEntry`` for this index."""
        return statuslist.status_entry(self.url, self.index, self.purpose)


def list_lifetime(settings: Settings) -> dt.timedelta:
    """How long a signed status list credential is valid (``status_list_lifetime_seconds``)."""
    return dt.timedelta(seconds=settings.status_list_lifetime_seconds)


def list_url(base_url: str, list_id: str) -> str:
    """The public URL of a status list credential (``<base>/status-lists/<id>``)."""
    return f"{base_url.rstrip('/')}/status-lists/{list_id}"


def list_id_for_url(base_url: str, url: str) -> str | None:
    """The list id of one of this service's status list URLs, or None."""
    prefix = list_url(base_url, "")
    rest = url[len(prefix) :] if url.startswith(prefix) else ""
    return rest if _ID.fullmatch(rest) else None


def sign_list(
    session: Session,
    master_key: bytes,
    base_url: str,
    row: StatusList,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> dict[str, Any]:
    """Sign the list's current bits with the owner's active key, valid for ``lifetime``, and store it.

    Raises:
        IssuerNotFound: the list's owner is no longer an issuer (cannot happen for stored lists).
    """
    signer = keys.signer_for(session, master_key, base_url, row.owner_id)
    now = utcnow().replace(microsecond=0)
    purpose: StatusPurpose = "suspension" if row.purpose == "suspension" else "revocation"
    unsigned = statuslist.status_list_credential(
        list_url(base_url, row.id),
        signer.did,
        Bitstring.from_bytes(bytes(row.bits)),
        purpose=purpose,
        valid_from=xsd_datetime(now),
        valid_until=xsd_datetime(now + lifetime),
    )
    signed = dataintegrity.sign(unsigned, signer.seed, signer.verification_method, xsd_datetime(now))
    row.credential = json.dumps(signed, ensure_ascii=False, separators=(",", ":"))
    row.updated_at = now
    session.add(row)
    session.flush()
    return signed


def _lock(session: Session, list_id: str) -> StatusList:
    stmt = select(StatusList).where(col(StatusList.id) == list_id).with_for_update()
    row = session.exec(stmt.execution_options(populate_existing=True)).first()
    if row is None:
        raise StatusListNotFound(msg("detail.credentials.status_service.no_status_list", list_id=list_id))
    return row


def _new_list(
    session: Session, master_key: bytes, base_url: str, owner_id: str, purpose: str, lifetime: dt.timedelta
) -> StatusList:
    row = StatusList(
        id=random_id("sl"),
        owner_id=owner_id,
        purpose=purpose,
        size=LIST_SIZE,
        allocated=0,
        multiplier=2 * secrets.randbelow(LIST_SIZE // 2) + 1,
        index_offset=secrets.randbelow(LIST_SIZE),
        bits=bytes(LIST_SIZE // 8),
        credential="",
    )
    session.add(row)
    session.flush()
    sign_list(session, master_key, base_url, row, lifetime)
    return row


def allocate(
    session: Session,
    master_key: bytes,
    base_url: str,
    owner_id: str,
    purpose: StatusPurpose,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> Allocation:
    """Hand out a fresh index on the owner's current list for ``purpose`` (opening one if needed).

    Raises:
        IssuerNotFound: the owner is neither the bank nor a registered institution.
    """
    stmt = (
        select(StatusList)
        .where(
            col(StatusList.owner_id) == owner_id,
            col(StatusList.purpose) == purpose,
            col(StatusList.allocated) < col(StatusList.size),
        )
        .order_by(col(StatusList.created_at), col(StatusList.id))
        .limit(1)
        .with_for_update()
    )
    row = session.exec(stmt.execution_options(populate_existing=True)).first()
    if row is None:
        row = _new_list(session, master_key, base_url, owner_id, purpose, lifetime)
    index = (row.multiplier * row.allocated + row.index_offset) % row.size
    row.allocated += 1
    session.add(row)
    session.flush()
    return Allocation(list_id=row.id, index=index, url=list_url(base_url, row.id), purpose=purpose)


def set_bit(
    session: Session,
    master_key: bytes,
    base_url: str,
    list_id: str,
    index: int,
    value: bool,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> bool:
    """Set one entry and re-sign the list if it changed. Returns whether it changed.

    Raises:
        StatusListNotFound: no such list.
        StatusIndexOutOfRange: the index is outside the list.
    """
    row = _lock(session, list_id)
    bits = Bitstring.from_bytes(bytes(row.bits))
    if bits.get(index) == value:
        return False
    bits.set(index, value)
    row.bits = bits.to_bytes()
    sign_list(session, master_key, base_url, row, lifetime)
    return True


def get_bit(session: Session, list_id: str, index: int) -> bool:
    """Raises: StatusListNotFound, StatusIndexOutOfRange."""
    return Bitstring.from_bytes(bytes(get_list(session, list_id).bits)).get(index)


def get_list(session: Session, list_id: str) -> StatusList:
    """Raises: StatusListNotFound."""
    row = session.get(StatusList, list_id)
    if row is None:
        raise StatusListNotFound(msg("detail.credentials.status_service.no_status_list", list_id=list_id))
    return row


_PG_CREDENTIAL = "SELECT credential FROM credential_status_lists WHERE id = %s"


def list_credential(session: Session, list_id: str) -> dict[str, Any]:
    """The signed status list credential as served (on PostgreSQL only its column is read, not the
    list's bits).

    Raises:
        StatusListNotFound: no such list.
    """
    driver = pg_connection(session)
    if driver is None:
        stored = get_list(session, list_id).credential
    else:
        with translated_errors(_PG_CREDENTIAL), driver.cursor() as cursor:
            found = cursor.execute(_PG_CREDENTIAL, (list_id,)).fetchone()
        if found is None:
            raise StatusListNotFound(msg("detail.credentials.status_service.no_status_list", list_id=list_id))
        stored = found[0]
    parsed: dict[str, Any] = json.loads(stored)
    return parsed


def resign_owner_lists(
    session: Session,
    master_key: bytes,
    base_url: str,
    owner_id: str,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> int:
    """Re-sign every list of the owner with its active key (after a compromise). Returns how many."""
    ids = session.exec(
        select(StatusList.id).where(col(StatusList.owner_id) == owner_id).order_by(col(StatusList.id))
    ).all()
    for list_id in ids:
        sign_list(session, master_key, base_url, _lock(session, list_id), lifetime)
    return len(ids)


def _due(credential: dict[str, Any], lifetime: dt.timedelta, now: dt.datetime) -> bool:
    """Whether a list credential is past the first half of its life (or lapsed, or has no end)."""
    until = credential.get("validUntil")
    if not isinstance(until, str):
        return True
    try:
        ends = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
    except ValueError:
        return True
    return now >= ends - lifetime / 2


def current_credential(
    session: Session,
    master_key: bytes,
    base_url: str,
    list_id: str,
    lifetime: dt.timedelta = DEFAULT_LIFETIME,
) -> dict[str, Any]:
    """The signed status list credential as served, re-signed first when half its life is over.

    Raises:
        StatusListNotFound: no such list.
    """
    now = utcnow()
    credential = list_credential(session, list_id)
    if not _due(credential, lifetime, now):
        return credential
    row = _lock(session, list_id)  # another request may have re-signed it meanwhile
    stored: dict[str, Any] = json.loads(row.credential)
    if not _due(stored, lifetime, now):
        return stored
    return sign_list(session, master_key, base_url, row, lifetime)
