"""Re-sealing the blobs of one table column under a new master key (for ``secrets rotate``)."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Table, bindparam, select, update
from sqlmodel import Session

from creditbank.crypto.symmetric import open_sealed, seal

BATCH_ROWS = 1000


def rewrap_column(
    session: Session,
    table: Table,
    key: Column[Any],
    blob: Column[Any],
    context_of: Callable[[str], str],
    old_key: bytes,
    new_key: bytes,
) -> int:
    """Open every non-empty blob of ``blob`` with ``old_key`` and seal it again with ``new_key``,
    under the same context (``context_of(row key)``), a thousand rows at a time; return how many.

    Raises:
        DecryptionFailed: a blob does not open with ``old_key`` (nothing is kept: the caller's
            transaction rolls back).
    """
    done = 0
    after = ""
    statement = (
        update(table)
        .where(key == bindparam("row_key"))
        .values({blob.name: bindparam("new_blob")})
        .execution_options(synchronize_session=False)
    )
    while True:
        rows = session.execute(select(key, blob).where(key > after).order_by(key).limit(BATCH_ROWS)).all()
        if not rows:
            return done
        changes = []
        for row_key, sealed in rows:
            if sealed:
                context = context_of(row_key)
                plain = open_sealed(old_key, bytes(sealed), context)
                changes.append({"row_key": row_key, "new_blob": seal(new_key, plain, context)})
        if changes:
            session.connection().execute(statement, changes)
        done += len(changes)
        after = rows[-1][0]
