"""What a verification reads of a log, each in one statement on PostgreSQL: the log by its origin
(its id and public key) and the bytes of one leaf."""

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session

from creditbank.db import pg_connection, translated_errors
from creditbank.standards.tlog.note import NoteVerifier
from creditbank.transparency import store


@dataclass(frozen=True)
class LogKey:
    """A log's id, origin and public key: what a verification needs of it."""

    id: str
    origin: str
    public_key: bytes

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.origin, self.public_key)


_PG_LOG_BY_ORIGIN = "SELECT id, origin, public_key FROM tlog_logs WHERE origin = %s ORDER BY id LIMIT 1"


def log_by_origin(session: Session, origin: str) -> LogKey | None:
    """The log whose origin is ``origin`` (one statement on PostgreSQL), or None."""
    driver = pg_connection(session)
    if driver is None:
        for log in store.list_logs(session):
            if log.origin == origin:
                return LogKey(log.id, log.origin, bytes(log.public_key))
        return None
    with translated_errors(_PG_LOG_BY_ORIGIN), driver.cursor() as cursor:
        found = cursor.execute(_PG_LOG_BY_ORIGIN, (origin,)).fetchone()
    return None if found is None else LogKey(found[0], found[1], bytes(found[2]))


# the journal's table by name: the ledger imports this module, not the other way round
_PG_LEAF = "SELECT leaf FROM ledger_transactions WHERE log_id = %s AND seq = %s"
_LEAF = text("SELECT leaf FROM ledger_transactions WHERE log_id = :log_id AND seq = :seq")


def leaf(session: Session, log_id: str, index: int) -> bytes | None:
    """The bytes of leaf ``index`` of the log, or None."""
    driver = pg_connection(session)
    if driver is None:
        found = session.execute(_LEAF, {"log_id": log_id, "seq": index}).first()
        return bytes(found[0]) if found is not None else None
    with translated_errors(_PG_LEAF), driver.cursor() as cursor:
        row = cursor.execute(_PG_LEAF, (log_id, index)).fetchone()
    return bytes(row[0]) if row is not None else None
