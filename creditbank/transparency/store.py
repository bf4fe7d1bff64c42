"""The transparency logs in the database: creating logs, appending leaves, signing checkpoints,
answering proofs.

How this works:

* Appending (:func:`append_leaves`) happens inside the caller's journal transaction with the log
  row locked: the stored frontier gives the new perfect nodes of each leaf without reading the
  node table, and the new nodes, size and frontier are written in the same transaction.
* Proofs read only the O(log n) perfect nodes they need, in one query (:class:`DbNodeReader`).
* Checkpoints are signed only for sizes that are in the database, and a new checkpoint is signed
  only after checking it is consistent with the latest one, so no two inconsistent checkpoints
  are ever signed. Proofs are answered only for sizes that have a checkpoint, and carry it.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import urlsplit

import psycopg
from sqlalchemy import text, tuple_, update
from sqlmodel import Session, col, select

from creditbank.crypto.symmetric import open_sealed, seal
from creditbank.db import Writes, construct, pg_connection, prepared, translated_errors, utcnow
from creditbank.errors import Conflict, NotFound, ValidationFailed
from creditbank.i18n import Message, msg
from creditbank.keyring.sealed import rewrap_column
from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.merkle import Frontier, NodeId
from creditbank.standards.tlog.note import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from creditbank.transparency.models import MerkleNode, SignedCheckpoint, TransparencyLog

DEFAULT_LOG = "main"

Reader = Union[Session, "psycopg.Connection[Any]"]
"""Where proofs read from: a session, or (PostgreSQL) a bare connection (see db.direct_reader)."""


def _driver(db: Reader) -> "psycopg.Connection[Any] | None":
    return pg_connection(db) if isinstance(db, Session) else db


class LogNotFound(NotFound):
    slug = "log-not-found"
    title = "No such log"


class NoCheckpoint(Conflict):
    slug = "no-checkpoint"
    title = "No checkpoint has been published for that tree size"


class BadProofRequest(ValidationFailed):
    slug = "bad-proof-request"
    title = "The proof request is not valid"


class InconsistentCheckpoint(Conflict):  # pragma: no cover - would mean the tree was rewritten
    slug = "inconsistent-checkpoint"
    title = "Refusing to sign a checkpoint inconsistent with the last one"


class DbNodeReader:
    """Reads stored perfect nodes of one log, all requested ids in one query."""

    def __init__(self, session: Reader, log_id: str) -> None:
        self.session = session
        self.log_id = log_id

    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        if not ids:
            return {}
        wanted = sorted(set(ids))
        rows: Sequence[Any]
        driver = _driver(self.session)
        if driver is not None:
            # one prepared statement whatever the count: the ids as two arrays
            with translated_errors(_PG_NODES), driver.cursor() as cursor:
                cursor.execute(_PG_NODES, ([lv for lv, _ in wanted], [ix for _, ix in wanted], self.log_id))
                rows = cursor.fetchall()
        else:
            assert isinstance(self.session, Session)
            rows = self.session.exec(
                select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(
                    col(MerkleNode.log_id) == self.log_id,
                    tuple_(col(MerkleNode.level), col(MerkleNode.idx)).in_(wanted),
                )
            ).all()
        return {(int(level), int(idx)): bytes(h) for level, idx, h in rows}


# One primary-key lookup per node asked for, whatever the planner believes of the table: as a plain
# join, with statistics from when the log was small, PostgreSQL hashed every node of the log (tens of
# thousands) to find a proof's twenty (bench/reads.py); a LATERAL subquery with LIMIT is never
# flattened into a join.
_PG_NODES = (
    "SELECT w.level, w.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS w(level, idx) "
    "CROSS JOIN LATERAL (SELECT t.hash FROM tlog_nodes t "
    "WHERE t.log_id = %s AND t.level = w.level AND t.idx = w.idx LIMIT 1) AS n"
)


def origin_for(base_url: str, log_id: str) -> str:
    """A log's origin (and key name): ``<host[:port]><path>/logs/<id>``, no scheme."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/logs/{log_id}"


def _key_context(log_id: str) -> str:
    return f"creditbank/log-key/{log_id}"


def ensure_log(session: Session, master_key: bytes, log_id: str, origin: str) -> TransparencyLog:
    """Create the log with a fresh Ed25519 key (sealed under the master key) unless it exists."""
    log = session.get(TransparencyLog, log_id)
    if log is not None:
        return log
    signer = NoteSigner.generate(origin)
    log = TransparencyLog(
        id=log_id,
        origin=origin,
        public_key=signer.public_key,
        private_key_sealed=seal(master_key, signer.seed, _key_context(log_id)),
    )
    session.add(log)
    session.flush()
    return log


def get_log(session: Session, log_id: str) -> TransparencyLog:
    """Raises: LogNotFound."""
    log = session.get(TransparencyLog, log_id)
    if log is None:
        raise LogNotFound(msg("detail.transparency.store.no_log", log_id=log_id))
    return log


def list_logs(session: Session) -> list[TransparencyLog]:
    return list(session.exec(select(TransparencyLog).order_by(col(TransparencyLog.id))).all())


def verifier(log: TransparencyLog) -> NoteVerifier:
    return NoteVerifier(log.origin, log.public_key)


def signer(log: TransparencyLog, master_key: bytes) -> NoteSigner:
    """Raises: DecryptionFailed when the master key is not the one the log key was sealed with."""
    return NoteSigner(log.origin, open_sealed(master_key, log.private_key_sealed, _key_context(log.id)))


@dataclass
class LockedLog:
    """A log row locked for appending by the current transaction."""

    log_id: str
    frontier: Frontier


# NO KEY UPDATE, not UPDATE: appends still take the row one at a time, but a transaction that only
# references the log (the publisher's new checkpoint row: a foreign-key check takes KEY SHARE) neither
# waits for an append to commit nor, while it commits, holds the next append back
PG_LOCK_LOG = "SELECT size, frontier FROM tlog_logs WHERE id = %s FOR NO KEY UPDATE"
_PG_GROW_LOG = "UPDATE tlog_logs SET size = %s, frontier = %s WHERE id = %s"


def lock_log(session: Session, log_id: str) -> LockedLog:
    """Lock the log's counter row until the transaction ends (``FOR NO KEY UPDATE``: see
    :data:`PG_LOCK_LOG`; SQLite serialises writers).

    Raises:
        LogNotFound: no such log.
    """
    driver = pg_connection(session)
    if driver is not None:
        with translated_errors(PG_LOCK_LOG), prepared(driver), driver.cursor() as cursor:
            cursor.execute(PG_LOCK_LOG, (log_id,), prepare=True)
            found = cursor.fetchone()
        if found is None:
            raise LogNotFound(msg("detail.transparency.store.no_log", log_id=log_id))
        return LockedLog(log_id=log_id, frontier=Frontier.from_bytes(int(found[0]), bytes(found[1])))
    stmt = select(TransparencyLog).where(col(TransparencyLog.id) == log_id).with_for_update(key_share=True)
    log = session.exec(stmt.execution_options(populate_existing=True)).first()
    if log is None:
        raise LogNotFound(msg("detail.transparency.store.no_log", log_id=log_id))
    return LockedLog(log_id=log_id, frontier=Frontier.from_bytes(log.size, log.frontier))


def append_leaves(writes: Writes, locked: LockedLog, leaf_hashes: Sequence[bytes]) -> int:
    """Append leaves to a locked log; return the index of the first. Writes nodes, size and frontier
    through ``writes`` (the caller's transaction)."""
    first = locked.frontier.size
    nodes: list[dict[str, object]] = []
    for leaf_hash in leaf_hashes:
        for level, idx, h in locked.frontier.append(leaf_hash):
            nodes.append({"log_id": locked.log_id, "level": level, "idx": idx, "hash": h})
    writes.insert(MerkleNode, nodes)
    size, frontier = locked.frontier.size, locked.frontier.to_bytes()
    writes.call(lambda: _grow(writes, locked.log_id, size, frontier))
    return first


def _grow(writes: Writes, log_id: str, size: int, frontier: bytes) -> None:
    if writes.driver is not None:
        # prepared: tlog_logs holds a row per log, a few (no plan to choose)
        with translated_errors(_PG_GROW_LOG), prepared(writes.driver), writes.driver.cursor() as cursor:
            cursor.execute(_PG_GROW_LOG, (size, frontier, log_id), prepare=True)
        return
    writes.session.execute(
        update(TransparencyLog).where(col(TransparencyLog.id) == log_id).values(size=size, frontier=frontier)
    )


def latest_checkpoint(session: Session, log_id: str) -> SignedCheckpoint | None:
    stmt = (
        select(SignedCheckpoint)
        .where(col(SignedCheckpoint.log_id) == log_id)
        .order_by(col(SignedCheckpoint.size).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def checkpoint_at(session: Session, log_id: str, size: int) -> SignedCheckpoint:
    """Raises: NoCheckpoint."""
    row = session.get(SignedCheckpoint, (log_id, size))
    if row is None:
        raise NoCheckpoint(msg("detail.transparency.store.log_has_no_checkpoint", log_id=log_id, size=size))
    return row


SIGNING_LOCK = 0x63625F7369676E  # "cb_sign": a PostgreSQL advisory lock, held while a checkpoint is signed


def publish_checkpoint(
    session: Session,
    master_key: bytes,
    log_id: str,
    *,
    republish_after: float | None = None,
    durable: Callable[[Session], bool] | None = None,
) -> SignedCheckpoint | None:
    """Sign a checkpoint for the log's committed size if it has grown (or, with ``republish_after``
    seconds, if the latest is older than that). Returns the new checkpoint or None.

    On PostgreSQL the transaction first takes the advisory lock :data:`SIGNING_LOCK`, so that two
    signers (the publisher and a command run beside it) never sign at the same moment. The root is
    computed from stored nodes and checked against the log's stored frontier and for consistency
    with the latest checkpoint before signing. ``durable``, called once the size to sign is read,
    says whether every entry up to it is safe from a failover (see
    :func:`creditbank.db.durable_on_sync_standby`); when it says no, nothing is signed (None).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SIGNING_LOCK})
    log = get_log(session, log_id)
    size = int(log.size)
    previous = latest_checkpoint(session, log_id)
    if previous is not None and previous.size >= size:
        stale = (
            republish_after is not None and (utcnow() - previous.created_at).total_seconds() > republish_after
        )
        if not stale or previous.size > size:
            return None
        if session.get(SignedCheckpoint, (log_id, size)) is not None:
            session.execute(
                update(SignedCheckpoint)
                .where(col(SignedCheckpoint.log_id) == log_id, col(SignedCheckpoint.size) == size)
                .values(created_at=utcnow())
            )
            return None
    if durable is not None and not durable(session):
        return None
    reader = DbNodeReader(session, log_id)
    root = merkle.root(reader, size)
    # the frontier that appends extend must be the tree the nodes hold: a mismatch means one of them
    # was changed behind the service's back, and the next appends would build on the wrong one
    if merkle.Frontier.from_bytes(size, bytes(log.frontier)).root() != root:
        raise InconsistentCheckpoint(
            msg("detail.transparency.store.log_stored_frontier_does", log_id=log_id, size=size)
        )
    if previous is not None and previous.size > 0:
        proof = merkle.consistency_proof(reader, previous.size, size)
        if not merkle.is_valid_consistency(previous.size, size, proof, previous.root, root):
            raise InconsistentCheckpoint(
                msg("detail.transparency.store.log_consistent", log_id=log_id, size=size, size2=previous.size)
            )
    note = sign_checkpoint(Checkpoint(log.origin, size, root), signer(log, master_key)).decode()
    row = SignedCheckpoint(log_id=log_id, size=size, root=root, note=note)
    session.add(row)
    session.flush()
    return row


def published_size(session: Session, log_id: str, size: int | None) -> SignedCheckpoint:
    """The checkpoint a proof is answered against: the latest, or the one of exactly ``size``.

    Raises:
        NoCheckpoint: nothing published yet, or no checkpoint of that size.
    """
    if size is None:
        latest = latest_checkpoint(session, log_id)
        if latest is None:
            raise NoCheckpoint(msg("detail.transparency.store.log_has_no_published", log_id=log_id))
        return latest
    return checkpoint_at(session, log_id, size)


_PG_LATEST_CHECKPOINT = (
    "SELECT size, root, note, created_at FROM tlog_checkpoints WHERE log_id = %s ORDER BY size DESC LIMIT 1"
)
_PG_LOG_EXISTS = "SELECT 1 FROM tlog_logs WHERE id = %s"
_PG_CHECKPOINT_AT = (
    "SELECT size, root, note, created_at FROM tlog_checkpoints WHERE log_id = %s AND size = %s"
)


def published(session: Reader, log_id: str, size: int | None) -> SignedCheckpoint:
    """The checkpoint to answer against (one statement on PostgreSQL); the log row is read only to
    tell 'no log' from 'no checkpoint'.

    Raises:
        LogNotFound, NoCheckpoint.
    """
    driver = _driver(session)
    if driver is not None:  # every proof asks: one prepared statement
        sql = _PG_LATEST_CHECKPOINT if size is None else _PG_CHECKPOINT_AT
        with translated_errors(sql), driver.cursor() as cursor:
            cursor.execute(sql, (log_id,) if size is None else (log_id, size))
            found = cursor.fetchone()
        row = None
        if found is not None:
            if size is None:
                _last_size[log_id] = int(found[0])
            row = construct(
                SignedCheckpoint,
                log_id=log_id,
                size=int(found[0]),
                root=bytes(found[1]),
                note=found[2],
                created_at=found[3],
            )
    else:
        assert isinstance(session, Session)
        row = (
            latest_checkpoint(session, log_id)
            if size is None
            else session.get(SignedCheckpoint, (log_id, size))
        )
    if row is None:
        if isinstance(session, Session):
            get_log(session, log_id)
        else:
            with translated_errors(_PG_LOG_EXISTS), session.cursor() as cursor:
                if cursor.execute(_PG_LOG_EXISTS, (log_id,)).fetchone() is None:
                    raise LogNotFound(msg("detail.transparency.store.no_log", log_id=log_id))
        if size is None:
            raise NoCheckpoint(msg("detail.transparency.store.log_has_no_published", log_id=log_id))
        raise NoCheckpoint(msg("detail.transparency.store.log_has_no_checkpoint", log_id=log_id, size=size))
    return row


_last_size: dict[str, int] = {}  # the latest published size this process has seen, per log


def _pg_one_trip(
    session: Reader,
    log_id: str,
    size: int | None,
    ids_for: Callable[[int], list[NodeId] | None],
) -> tuple[SignedCheckpoint, Mapping[NodeId, bytes]] | None:
    """On PostgreSQL, the checkpoint and the proof's nodes in ONE round trip (a pipeline).

    The nodes depend on the checkpoint's size; for "the latest" the size is guessed as the latest
    this process has seen, and the answer is used only if the checkpoint read in the same trip has
    exactly that size. Returns None (the caller reads the two in turn) on any other case: another
    database, a new checkpoint since, or a request the guess cannot serve.
    """
    driver = _driver(session)
    guess = size if size is not None else _last_size.get(log_id)
    if driver is None or guess is None:
        return None
    ids = ids_for(guess)
    if not ids:
        return None
    wanted = sorted(set(ids))
    cp_sql = _PG_LATEST_CHECKPOINT if size is None else _PG_CHECKPOINT_AT
    with translated_errors(_PG_NODES), driver.cursor() as cp_cursor, driver.cursor() as nodes_cursor:
        with driver.pipeline():
            cp_cursor.execute(cp_sql, (log_id,) if size is None else (log_id, size))
            nodes_cursor.execute(_PG_NODES, ([lv for lv, _ in wanted], [ix for _, ix in wanted], log_id))
        row = cp_cursor.fetchone()
        found = nodes_cursor.fetchall()
    if row is None or int(row[0]) != guess:
        if row is not None and size is None:
            _last_size[log_id] = int(row[0])
        return None
    cp = construct(
        SignedCheckpoint, log_id=log_id, size=int(row[0]), root=bytes(row[1]), note=row[2], created_at=row[3]
    )
    return cp, {(int(level), int(idx)): bytes(h) for level, idx, h in found}


def _checkpoint_and_nodes(
    session: Reader,
    log_id: str,
    size: int | None,
    ids_for: Callable[[int], list[NodeId] | None],
    refusal: Callable[[int], Message],
) -> tuple[SignedCheckpoint, Mapping[NodeId, bytes]]:
    """The checkpoint a proof is answered against and the nodes ``ids_for`` names for its size: one
    round trip when the guess of :func:`_pg_one_trip` holds, else the checkpoint and then the nodes.

    Raises:
        LogNotFound, NoCheckpoint, BadProofRequest (``ids_for`` gives None; ``refusal`` says why).
    """
    found = _pg_one_trip(session, log_id, size, ids_for)
    if found is not None:
        return found
    cp = published(session, log_id, size)
    ids = ids_for(cp.size)
    if ids is None:
        raise BadProofRequest(refusal(cp.size))
    return cp, DbNodeReader(session, log_id).get_nodes(ids)


def inclusion(
    session: Reader, log_id: str, index: int, size: int | None
) -> tuple[bytes, list[bytes], SignedCheckpoint]:
    """Leaf hash, inclusion proof and checkpoint for leaf ``index`` in the tree of a published size.

    One round trip for the checkpoint and every node the proof needs (and the leaf), or two.

    Raises:
        LogNotFound, NoCheckpoint, BadProofRequest (index out of range).
    """

    def ids_for(tree_size: int) -> list[NodeId] | None:
        if not 0 <= index < tree_size:
            return None
        return [*merkle.inclusion_proof_ids(index, tree_size), (0, index)]

    cp, nodes = _checkpoint_and_nodes(
        session,
        log_id,
        size,
        ids_for,
        lambda n: msg("detail.transparency.store.index_outside_tree", index=index, size=n),
    )
    return nodes[(0, index)], merkle.build_inclusion_proof(index, cp.size, nodes), cp


def consistency(
    session: Reader, log_id: str, first: int, second: int | None
) -> tuple[int, list[bytes], SignedCheckpoint]:
    """Consistency proof between ``first`` and a published ``second`` size (one round trip, or two).

    Raises:
        LogNotFound, NoCheckpoint, BadProofRequest (first < 1 or first > second).
    """

    def ids_for(tree_size: int) -> list[NodeId] | None:
        if not 1 <= first <= tree_size:
            return None
        return list(merkle.consistency_proof_ids(first, tree_size))

    cp, nodes = _checkpoint_and_nodes(
        session,
        log_id,
        second,
        ids_for,
        lambda n: msg("detail.transparency.store.first_outside_tree", first=first, size=n),
    )
    return cp.size, merkle.build_consistency_proof(first, cp.size, nodes), cp


def leaf_hashes(session: Session, log_id: str, start: int, end: int) -> dict[int, bytes]:
    rows = session.exec(
        select(MerkleNode.idx, MerkleNode.hash).where(
            col(MerkleNode.log_id) == log_id,
            col(MerkleNode.level) == 0,
            col(MerkleNode.idx) >= start,
            col(MerkleNode.idx) < end,
        )
    ).all()
    return {int(i): bytes(h) for i, h in rows}


def rewrap_all(session: Session, old_master_key: bytes, new_master_key: bytes) -> int:
    """Seal every log's signing key under a new master key.

    Raises:
        DecryptionFailed: a key does not open with ``old_master_key``.
    """
    table = TransparencyLog.__table__  # type: ignore[attr-defined]
    return rewrap_column(
        session, table, table.c.id, table.c.private_key_sealed, _key_context, old_master_key, new_master_key
    )
