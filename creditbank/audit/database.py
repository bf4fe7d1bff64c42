"""The operator's internal audit: the tables the service serves, recomputed from the journal.

How this works
--------------
``creditbank audit verify`` proves that the log's leaves are what the signed checkpoints commit to and
that they obey the journal's invariants. But the service answers from other tables: balances from
``ledger_accounts``, lots from ``ledger_lots``, "converted" from ``ledger_lot_locks``, an outcome's state
from ``recognitions``, a conversion from ``conversions``, proofs from ``tlog_nodes``. Whoever can write to
the database can change those without touching a leaf. :func:`audit_database` reads the journal (each
log's leaves, in sequence order) and recomputes every one of them, then compares row by row and reports
each :class:`Difference` by table and row id.

1. **Journal rows.** Each ``ledger_transactions`` row must say what its leaf says (id, seq, kind, the
   entry it reverses, the number of postings), and each leaf hash goes into a Merkle
from creditbank.standards.tlog.merkle import HASH_SIZE, LEAF_PREFIX, Frontier, root_from_levels, tree_levels
from creditbank.standards.tlog.note import Checkpoint, NoteVerifier, open_note
   note must carry a valid signature of the log's key.
   Leaves are in the format of :mod:`creditbank.standards.ledger.leaf` (read here with ``json`` for speed, the
   shape checked field by field).
2. **Postings and lots** are compared a chunk of entries at a time, after their leaves are read: every
   ``ledger_postings`` row of those entries (fetched by entry id, one index scan for the chunk) must be
   the leaf's posting at its position, and the ``ledger_lots`` rows with the ids the recognition leaves
   create must be those lots, recorded for that entry. A lot row no leaf creates shows in the count of
   the table against the lots found, and is then named.
3. **State** carried forward from the leaves: the balance of every account, which conversion holds each
   lot (a conversion takes the lots it lists, reversing it frees them), and per outcome what the journal
   says happened to it (its recognition and lot, review decisions, revocation or correction). At the end
   these are compared with ``ledger_accounts``, ``ledger_lot_locks``, ``recognitions`` (and the outcome's
   learner and institution) and ``conversions``.
4. Rows that belong to no journal entry (a posting or lot whose entry does not exist) are differences
   too.

Every expected value comes from the leaves (the bytes whose hashes the tree and the signed checkpoints
commit to), parsed here; the database only supplies the stored rows to compare them with.

That is the Python audit (``engine="python"``), the one SQLite runs. On PostgreSQL the server
recomputes everything instead, and this process judges with the same per-row code only the rows the
server could not prove equal (:func:`audit_with_sql`; the statements and how they work are in
:mod:`creditbank.audit.database_sql`); both engines name the same rows with the same messages.

Everything runs in one read-only snapshot (the caller's transaction: see :func:`snapshot`), on PostgreSQL
through psycopg's server-side cursors in binary format (the journal read ahead by a thread, so that the
server produces the next batch while this process checks the current one) and on SQLite through
``sqlite3`` cursors; nothing is written.
What the journal cannot tell (the proposed credits of an outcome still in review before any decision,
the stage of an undecided outcome, the texts of explanations) is not checked.
"""

import datetime as dt
import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import psycopg
from psycopg import sql
from sqlalchemy import Engine

from creditbank.audit.database_sql import (
    CANDIDATES_SQL,
    FAST,
    LEAF_HASHES_SQL,
    SEQ_GAPS_SQL,
    SETTINGS,
    SPLIT,
    candidates_sql,
)
from creditbank.errors import CreditBankError
from creditbank.i18n import Message, Said, msg, text_of
from creditbank.standards.ledger.leaf import learner_of_account
from creditbank.standards.tlog.merkle import HASH_SIZE, LEAF_PREFIX, Frontier, root_from_levels, tree_levels
from creditbank.standards.tlog.note import Checkpoint, NoteVerifier, open_note

_ITERSIZE: Final = 20_000
_REVOKED: Final = "revoked"
_SUPERSEDED: Final = "superseded"
_FINAL_BY_ACTION: Final = {"revoked": _REVOKED, "corrected": _SUPERSEDED}


@dataclass(frozen=True)
class Difference:
    """One row of a served table that the journal contradicts (or that is missing, or extra)."""

    table: str
    row_id: str
    said: Said
    """What differs: a :class:`~creditbank.i18n.Message` rendered in its reader's language (``message``
    and ``--json`` keep the English text)."""

    @property
    def message(self) -> str:
        """What differs, in English."""
        return text_of(self.said, "en")

    def line(self) -> Message:
        """The difference as one line for people, rendered in their language when printed."""
        return msg("audit.db.difference", table=self.table, row_id=self.row_id, message=self.said)

    def __str__(self) -> str:
        return self.line().text("en")

    def as_dict(self) -> dict[str, str]:
        return {"table": self.table, "id": self.row_id, "message": self.message}


@dataclass
class DatabaseReport:
    """What :func:`audit_database` found. ``differences`` keeps the first ``max_differences``."""

    max_differences: int = 10_000
    differences: list[Difference] = field(default_factory=list)
    difference_count: int = 0
    entries: dict[str, int] = field(default_factory=dict)
    """Journal entries read, per log."""
    rows: dict[str, int] = field(default_factory=dict)
    """Rows compared, per table."""
    engine: str = "python"
    """Who recomputed the tables: ``python`` (this process, entry by entry) or ``postgresql`` (the
    server, by :mod:`creditbank.audit.database_sql`)."""

    @property
    def ok(self) -> bool:
        return self.difference_count == 0

    def add(self, table: str, row_id: object, said: Said) -> None:
        self.difference_count += 1
        if len(self.differences) < self.max_differences:
            self.differences.append(Difference(table, str(row_id), said))

    def count(self, table: str, n: int = 1) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


# --- database access: DBAPI cursors, streamed --------------------------------------------------------


class Db:
    """Plain DBAPI reads on one connection (psycopg or sqlite3), inside the caller's transaction."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.postgres = type(driver).__module__.startswith("psycopg")
        self._cursors = 0

    def _sql(self, sql: str) -> str:
        return sql if self.postgres else sql.replace("%s", "?")

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of a query, fetched in batches.

        On PostgreSQL a server-side cursor in binary format, read ahead by a thread: while this
        thread checks one batch, the server produces the next (psycopg waits for the server without
        holding the interpreter lock, and serialises the connection's use between threads).
        """
        if not self.postgres:
            cursor = self.driver.cursor()
            try:
                cursor.execute(self._sql(sql), tuple(params))
                while rows := cursor.fetchmany(_ITERSIZE):
                    yield from rows
            finally:
                cursor.close()
            return
        self._cursors += 1
        cursor = self.driver.cursor(name=f"audit_{self._cursors}", binary=True)
        cursor.itersize = _ITERSIZE
        batches: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def read_ahead() -> None:
            try:
                cursor.execute(sql, tuple(params))
                while not stop.is_set():
                    rows = cursor.fetchmany(_ITERSIZE)
                    batches.put(rows)
                    if not rows:
                        return
            except BaseException as exc:  # handed to the reading thread, which raises it
                batches.put(exc)

        reader = threading.Thread(target=read_ahead, name=f"audit-read-{self._cursors}", daemon=True)
        reader.start()
        try:
            while True:
                batch = batches.get()
                if isinstance(batch, BaseException):
                    raise batch
                if not batch:
                    return
                yield from batch
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting to hand over a batch
                with suppress(queue.Empty):
                    batches.get(timeout=0.05)
            reader.join()
            cursor.close()

    def rows_in(self, sql: str, keys: Sequence[str]) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose ``{in_}`` is ``IN`` the keys: one array parameter on PostgreSQL
        (an index scan for all of them), lists of at most 500 on SQLite."""
        if not keys:
            return []
        if self.postgres:
            return self.all(sql.format(in_="= ANY(%s)"), (list(keys),))
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            out.extend(self.all(sql.format(in_=f"IN ({', '.join(['%s'] * len(part))})"), part))
        return out

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if not self.postgres:
            return list(self.stream(sql, params))
        with self.driver.cursor(binary=True) as cursor:
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall())


def _amount(value: Any) -> Decimal | None:
    """A credit amount from a leaf (a string) or a column (Decimal on PostgreSQL, text on SQLite)."""
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _rule(lot: dict[str, Any]) -> dict[str, Any]:
    rule = lot.get("rule")
    return rule if isinstance(rule, dict) else {}


def _date(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return list(value) if isinstance(value, list) else []


def _reason(exc: Exception) -> Said:
    """Why an exception was raised, in its reader's language when it says so."""
    return exc.said if isinstance(exc, CreditBankError) else str(exc)


def _show(value: Any) -> str:
    return str(value) if isinstance(value, Decimal) else repr(value)


def _compare(
    report: DatabaseReport, table: str, row_id: object, pairs: Sequence[tuple[str, Any, Any]], where: Said
) -> None:
    """Report each (column, stored, journal) pair that differs."""
    for column, stored, expected in pairs:
        if stored != expected:
            report.add(
                table,
                row_id,
                msg(
                    "audit.db.column",
                    column=column,
                    stored=_show(stored),
                    expected=_show(expected),
                    where=where,
                ),
            )


# --- what the journal says -------------------------------------------------------------------------------


@dataclass
class OutcomeFacts:
    """What the journal records about one outcome."""

    lot: dict[str, Any] | None = None
    lot_reversed: bool = False
    final: str | None = None
    decision: dict[str, Any] | None = None
    learner: str | None = None
    issuer: str | None = None


@dataclass
class Journal:
    """State carried from leaf to leaf (across all logs)."""

    balances: dict[str, Decimal] = field(default_factory=dict)
    locks: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """lot id -> (conversion entry id, programme, institution) while a conversion holds it."""
    outcomes: dict[str, OutcomeFacts] = field(default_factory=dict)
    outcome_of_recognition: dict[str, str] = field(default_factory=dict)
    conversions: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversion_entries: set[str] = field(default_factory=set)
    lots_found: int = 0
    """Lot rows found by the ids the leaves create (see :func:`_check_extra_lots`)."""


_TX_SQL = (
    "SELECT seq, id, kind, learner_id, reverses_id, posting_count, leaf "
    "FROM ledger_transactions WHERE log_id = %s ORDER BY seq"
)
# the stored rows of a chunk of entries, found by key (no join, no sort of the whole table)
_POSTINGS_SQL = (
    "SELECT transaction_id, position, account_id, amount, lot_id FROM ledger_postings "
    "WHERE transaction_id {in_} ORDER BY transaction_id, position"
)
_LOTS_SQL = (
    "SELECT recognition_tx_id, id, learner_id, issuer_id, outcome_id, credits, category, level, field, "
    "rule_id, rule_version, rule_set_hash, expires_on FROM ledger_lots WHERE id {in_}"
)
_NODES_SQL = "SELECT idx, hash FROM tlog_nodes WHERE log_id = %s AND level = %s ORDER BY idx"
# each level of a log's tree in one value: its hashes concatenated in index order (PostgreSQL only)
_LEVELS_SQL = (
    "SELECT level, count(*), min(idx), max(idx), min(length(hash)), max(length(hash)), "
    "string_agg(hash, ''::bytea ORDER BY idx) FROM tlog_nodes WHERE log_id = %s GROUP BY level"
)
_CHUNK: Final = 10_000
_decode: Final = json.JSONDecoder().decode  # leaves are UTF-8 (no encoding detection per leaf)
"""Entries whose postings and lots are fetched and compared together."""


@dataclass
class Chunk:
    """Entries read but whose postings and lots are not compared yet: what their leaves say."""

    postings: dict[str, tuple[list[tuple[Any, ...]], Said]] = field(default_factory=dict)
    """entry id -> ((position, account, amount, lot) of each leaf posting, where)"""
    lots: dict[str, tuple[list[dict[str, Any]], str | None, Said]] = field(default_factory=dict)
    """entry id -> (the leaf's lots, its outcome, where), for entries that create lots"""
    lot_ids: list[str] = field(default_factory=list)


def log_facts(
    db: Db, report: DatabaseReport, log_id: str
) -> tuple[dict[int, tuple[bytes, str]], int | None, NoteVerifier | None]:
    """A log's stored checkpoints (size -> root, signed note), its stored size (None without a log
    row) and the verifier of its key (None if unusable: reported)."""
    checkpoints: dict[int, tuple[bytes, str]] = {
        int(size): (bytes(root), str(note))
        for size, root, note in db.all(
            "SELECT size, root, note FROM tlog_checkpoints WHERE log_id = %s", (log_id,)
        )
    }
    log_rows = db.all("SELECT origin, public_key, size FROM tlog_logs WHERE id = %s", (log_id,))
    verifier: NoteVerifier | None = None
    if not log_rows:
        report.add("tlog_logs", log_id, msg("audit.db.no_log_row"))
    else:
        origin, public_key, _ = log_rows[0]
        try:
            verifier = NoteVerifier(str(origin), bytes(public_key))
        except Exception as exc:  # any unusable key is a difference
            report.add("tlog_logs", log_id, msg("audit.db.log_key_unusable", reason=_reason(exc)))
    return checkpoints, int(log_rows[0][2]) if log_rows else None, verifier


def _audit_log(db: Db, report: DatabaseReport, journal: Journal, log_id: str) -> None:
    """Steps 1-3 for one log: its entries in order, with their postings, lots and tree nodes."""
    checkpoints, stored_size, verifier = log_facts(db, report, log_id)
    frontier = Frontier()
    # the tree the leaves make: per level, the hashes of its nodes in index order
    tree: list[bytearray] = []
    chunk = Chunk()
    sha256 = hashlib.sha256
    balances = journal.balances
    entries = 0
    if 0 in checkpoints:  # a publisher that starts on an empty log signs the empty tree
        check_checkpoint(report, log_id, 0, checkpoints.pop(0), frontier.root(), verifier)
    # Each comparison first puts the stored rows and the leaf's facts in the same shape (tuples of
    # the same text) and compares them whole; only a mismatch goes through the detailed diagnosis.
    for seq, tx_id, kind, learner_id, reverses_id, posting_count, stored_leaf in db.stream(
        _TX_SQL, (log_id,)
    ):
        leaf = bytes(stored_leaf)
        entries += 1
        if seq != frontier.size:
            report.add(
                "ledger_transactions",
                tx_id,
                msg("audit.db.seq", seq=seq, log_id=log_id, position=frontier.size),
            )
        for level, _, value in frontier.append(sha256(LEAF_PREFIX + leaf).digest()):
            if level == len(tree):
                tree.append(bytearray())
            tree[level] += value
        where = msg("audit.db.where", log_id=log_id, seq=seq)
        read = read_entry(
            report,
            chunk,
            log_id,
            (tx_id, kind, learner_id, reverses_id, posting_count),
            leaf,
            where,
            balances,
        )
        if read is None:
            continue
        body, leaf_postings = read
        _apply(journal, tx_id, body, leaf_postings)
        size = frontier.size
        if size in checkpoints:
            check_checkpoint(report, log_id, size, checkpoints.pop(size), frontier.root(), verifier)
        if len(chunk.postings) >= _CHUNK:
            check_chunk(db, report, journal, chunk)
            chunk = Chunk()
    check_chunk(db, report, journal, chunk)
    check_tree(db, report, log_id, tree)
    for size in sorted(checkpoints):
        report.add(
            "tlog_checkpoints",
            f"{log_id}/{size}",
            msg("audit.db.checkpoint_beyond", size=size, entries=frontier.size),
        )
    if stored_size is not None and stored_size != frontier.size:
        report.add("tlog_logs", log_id, msg("audit.db.log_size", size=stored_size, entries=frontier.size))
    report.entries[log_id] = entries
    report.count("ledger_transactions", entries)


def read_entry(
    report: DatabaseReport,
    chunk: "Chunk",
    log_id: str,
    row: tuple[Any, ...],
    leaf: bytes,
    where: Said,
    balances: dict[str, Decimal],
) -> tuple[dict[str, Any], list[Any]] | None:
    """One journal row against its leaf: the row's columns and learner are checked now, the leaf's
    postings and lots are put in ``chunk`` to be compared with the stored rows, and the postings move
    ``balances``. Returns the parsed leaf and its postings, or None when the leaf is not a JSON object.

    ``row`` is (id, kind, learner_id, reverses_id, posting_count).
    """
    tx_id, kind, learner_id, reverses_id, posting_count = row
    zero = Decimal(0)
    try:
        body = _decode(leaf.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        body = None
    if not isinstance(body, dict):
        report.add("ledger_transactions", tx_id, msg("audit.db.leaf_not_object", where=where))
        chunk.postings[tx_id] = ([], where)
        chunk.lots[tx_id] = ([], None, where)
        return None
    leaf_postings = body.get("postings")
    if not isinstance(leaf_postings, list) or not all(isinstance(p, dict) for p in leaf_postings):
        report.add("ledger_transactions", tx_id, msg("audit.db.postings_not_list", where=where))
        leaf_postings = []
    leaf_reverses = body.get("reverses")
    leaf_kind = body.get("kind")
    expected_row = (
        body.get("id"),
        body.get("log"),
        leaf_kind,
        leaf_reverses.get("id") if isinstance(leaf_reverses, dict) else None,
        len(leaf_postings),
    )
    if (tx_id, log_id, kind, reverses_id, posting_count) != expected_row:
        _compare(
            report,
            "ledger_transactions",
            tx_id,
            list(
                zip(
                    ("id", "log_id", "kind", "reverses_id", "posting_count"),
                    (tx_id, log_id, kind, reverses_id, posting_count),
                    expected_row,
                    strict=True,
                )
            ),
            where,
        )
    leaf_shape = [
        (position, p.get("account"), p.get("amount"), p.get("lot"))
        for position, p in enumerate(leaf_postings)
    ]
    chunk.postings[tx_id] = (leaf_shape, where)
    learner = None
    for _, account, amount, _ in leaf_shape:
        credits = _amount(amount)
        if isinstance(account, str) and credits is not None:
            balances[account] = balances.get(account, zero) + credits
            if learner is None:
                learner = learner_of_account(account)
    leaf_lots = body.get("lots") if leaf_kind == "recognition" else None
    if not isinstance(leaf_lots, list) or not all(isinstance(lot, dict) for lot in leaf_lots):
        leaf_lots = []
    if learner is None and leaf_lots:
        learner = leaf_lots[0].get("learner")
    if learner is not None and learner_id != learner:
        report.add(
            "ledger_transactions",
            tx_id,
            msg("audit.db.learner", stored=repr(learner_id), leaf=repr(learner), where=where),
        )
    if leaf_lots:
        details = body.get("details")
        outcome = details.get("outcome") if isinstance(details, dict) else None
        chunk.lots[tx_id] = (leaf_lots, outcome if isinstance(outcome, str) else None, where)
        for lot in leaf_lots:
            lot_id = lot.get("id")
            if isinstance(lot_id, str):
                chunk.lot_ids.append(lot_id)
    return body, leaf_postings


def check_chunk(db: Db, report: DatabaseReport, journal: Journal, chunk: Chunk) -> None:
    """Step 2 for a chunk of entries: their stored postings and lots, fetched by key, against their leaves.

    Postings are found by their entry (every row of these entries, so an added row shows too); lots by
    the ids the leaves create. A lot row no leaf creates is caught by :func:`_check_extra_lots`.
    """
    if not chunk.postings:
        return
    stored_postings: dict[str, list[tuple[Any, ...]]] = {}
    rows = 0
    for row in db.rows_in(_POSTINGS_SQL, list(chunk.postings)):
        rows += 1
        stored_postings.setdefault(row[0], []).append(row)
    report.count("ledger_postings", rows)
    for tx_id, (leaf_shape, where) in chunk.postings.items():
        stored = stored_postings.get(tx_id, [])
        if [(r[1], r[2], str(r[3]), r[4]) for r in stored] != leaf_shape:
            _check_postings(report, tx_id, stored, leaf_shape, where)
    stored_lots: dict[str, list[tuple[Any, ...]]] = {}
    rows = 0
    for row in db.rows_in(_LOTS_SQL, chunk.lot_ids):
        rows += 1
        stored_lots.setdefault(row[0], []).append(row)
    report.count("ledger_lots", rows)
    journal.lots_found += rows
    for tx_id, (leaf_lots, outcome, where) in chunk.lots.items():
        stored = stored_lots.pop(tx_id, [])
        if sorted(_lot_shape_of_row(row) for row in stored) != sorted(
            _lot_shape_of_leaf(lot, outcome) for lot in leaf_lots
        ):
            _check_lots(report, tx_id, stored, leaf_lots, outcome, where)
    for tx_id, stored in stored_lots.items():  # lots a leaf creates, recorded under another entry
        for row in stored:
            report.add("ledger_lots", row[1], msg("audit.db.lot_not_created", tx_id=tx_id))


def _check_extra_lots(db: Db, report: DatabaseReport, journal: Journal) -> None:
    """Lot rows that no leaf creates (the chunks found the others by id): counted first, named if any."""
    (total,) = db.all("SELECT count(*) FROM ledger_lots")[0]
    if int(total) == journal.lots_found:
        return
    created: set[str] = set()
    for (leaf,) in db.stream("SELECT leaf FROM ledger_transactions WHERE kind = 'recognition'"):
        try:
            body = json.loads(bytes(leaf))
        except ValueError:
            continue
        lots = body.get("lots") if isinstance(body, dict) else None
        for lot in lots if isinstance(lots, list) else []:
            if isinstance(lot, dict) and isinstance(lot.get("id"), str):
                created.add(lot["id"])
    for lot_id, tx_id in db.stream("SELECT id, recognition_tx_id FROM ledger_lots ORDER BY id"):
        if lot_id not in created:
            report.add("ledger_lots", lot_id, msg("audit.db.lot_no_such", tx_id=tx_id))


def check_tree(
    db: Db,
    report: DatabaseReport,
    log_id: str,
    tree: Sequence[bytes | bytearray],
    summaries: dict[int, tuple[Any, ...]] | None = None,
) -> None:
    """The stored ``tlog_nodes`` of a log against the tree its leaves make, level by level.

    On PostgreSQL each level comes as one value (its hashes concatenated in index order, with the
    count, first and last index and the shortest and longest hash): a level whose value is the
    journal's, with 32-byte hashes at indexes 0 to n - 1, is exactly the journal's level. Any other
    level, and every level on SQLite, is read node by node to name each difference.
    """
    if db.postgres:
        if summaries is None:
            summaries = {int(row[0]): row[1:] for row in db.all(_LEVELS_SQL, (log_id,))}
        levels = sorted(set(summaries) | set(range(len(tree))))
    else:
        levels = [
            int(row[0])
            for row in db.all("SELECT DISTINCT level FROM tlog_nodes WHERE log_id = %s", (log_id,))
        ]
        levels = sorted(set(levels) | set(range(len(tree))))
    rows = 0
    for level in levels:
        want = bytes(tree[level]) if level < len(tree) else b""
        count = len(want) // HASH_SIZE
        if summaries is not None:
            summary = summaries.get(level)
            if summary is None and not want:
                continue
            if summary is not None:
                n, first, last, shortest, longest, joined = summary
                if (n, first, last, shortest, longest) == (count, 0, count - 1, HASH_SIZE, HASH_SIZE) and (
                    bytes(joined) == want
                ):
                    rows += n
                    continue
        rows += _check_level(db, report, log_id, level, want)
    report.count("tlog_nodes", rows)


def _check_level(db: Db, report: DatabaseReport, log_id: str, level: int, want: bytes) -> int:
    """Name each stored node of one level that differs from the journal's, and each one missing."""
    count = len(want) // HASH_SIZE
    rows = 0
    expected = 0  # the next index the journal has a node for
    for stored_idx, value in db.stream(_NODES_SQL, (log_id, level)):
        rows += 1
        idx = int(stored_idx)
        for missing in range(expected, min(idx, count)):
            _missing_node(report, log_id, level, missing)
        expected = max(expected, idx + 1)
        if idx >= count:
            report.add("tlog_nodes", f"{log_id}/{level}/{idx}", msg("audit.db.node_beyond"))
        elif bytes(value) != want[idx * HASH_SIZE : (idx + 1) * HASH_SIZE]:
            completed = ((idx + 1) << level) - 1
            report.add(
                "tlog_nodes",
                f"{log_id}/{level}/{idx}",
                msg("audit.db.node_hash", entry=completed),
            )
    for missing in range(expected, count):
        _missing_node(report, log_id, level, missing)
    return rows


def _missing_node(report: DatabaseReport, log_id: str, level: int, idx: int) -> None:
    # a perfect node is complete once its last leaf, ((idx + 1) << level) - 1, is appended
    report.add(
        "tlog_nodes", f"{log_id}/{level}/{idx}", msg("audit.db.node_missing", entry=((idx + 1) << level) - 1)
    )


def check_checkpoint(
    report: DatabaseReport,
    log_id: str,
    size: int,
    stored: tuple[bytes, str],
    root: bytes,
    verifier: NoteVerifier | None,
) -> None:
    row_id = f"{log_id}/{size}"
    stored_root, note = stored
    if stored_root != root:
        report.add("tlog_checkpoints", row_id, msg("audit.db.checkpoint_root"))
    if verifier is None:
        return
    try:
        checkpoint = Checkpoint.parse(open_note(note.encode("utf-8"), [verifier]).text)
    except Exception as exc:  # a forged or broken note, whatever the cause
        report.add("tlog_checkpoints", row_id, msg("audit.db.note_unverified", reason=_reason(exc)))
        return
    if checkpoint.size != size or checkpoint.root_hash != root:
        report.add("tlog_checkpoints", row_id, msg("audit.db.note_other"))


def _learner_of_postings(postings: list[Any]) -> str | None:
    for posting in postings:
        account = posting.get("account") if isinstance(posting, dict) else None
        learner = learner_of_account(account) if isinstance(account, str) else None
        if learner is not None:
            return learner
    return None


def _check_postings(
    report: DatabaseReport,
    tx_id: str,
    stored: list[tuple[Any, ...]],
    leaf_shape: list[tuple[Any, ...]],
    where: Said,
) -> None:
    """``stored``: the entry's ``_POSTINGS_SQL`` rows; ``leaf_shape``: (position, account, amount, lot)."""
    by_position = {int(row[1]): row for row in stored}
    for position, account, leaf_amount, lot in leaf_shape:
        amount = _amount(leaf_amount)
        row = by_position.pop(position, None)
        if row is None:
            report.add("ledger_postings", f"{tx_id}/{position}", msg("audit.db.missing_at", where=where))
            continue
        _, _, stored_account, stored_amount, stored_lot = row
        _compare(
            report,
            "ledger_postings",
            f"{tx_id}/{position}",
            [
                ("account_id", stored_account, account),
                ("amount", _amount(stored_amount), amount),
                ("lot_id", stored_lot, lot),
            ],
            where,
        )
    for position in sorted(by_position):
        report.add(
            "ledger_postings",
            f"{tx_id}/{position}",
            msg("audit.db.no_posting", position=position, where=where),
        )


def _lot_shape_of_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A ``_LOTS_SQL`` row as comparable text (credits and the expiry date as the leaf writes them)."""
    return (*row[1:5], str(row[5]), *row[6:12], _date(row[12]))


def _lot_shape_of_leaf(lot: dict[str, Any], outcome: str | None) -> tuple[Any, ...]:
    rule = _rule(lot)
    return (
        lot.get("id"),
        lot.get("learner"),
        lot.get("issuer"),
        outcome,
        lot.get("credits"),
        lot.get("category"),
        lot.get("level"),
        lot.get("field"),
        rule.get("id"),
        rule.get("version"),
        rule.get("set_hash"),
        lot.get("expires"),
    )


def _check_lots(
    report: DatabaseReport,
    tx_id: str,
    stored: list[tuple[Any, ...]],
    leaf_lots: list[dict[str, Any]],
    outcome: str | None,
    where: Said,
) -> None:
    expected = {lot.get("id"): lot for lot in leaf_lots}
    for row in stored:
        (_, lot_id, learner, issuer, outcome_id, credits, category, level, fld, rule_id, rule_version) = row[
            :11
        ]
        rule_set_hash, expires_on = row[11], row[12]
        lot = expected.pop(lot_id, None)
        if lot is None:
            report.add("ledger_lots", lot_id, msg("audit.db.lot_no_such_at", tx_id=tx_id, where=where))
            continue
        rule = _rule(lot)
        _compare(
            report,
            "ledger_lots",
            lot_id,
            [
                ("learner_id", learner, lot.get("learner")),
                ("issuer_id", issuer, lot.get("issuer")),
                ("outcome_id", outcome_id, outcome),
                ("credits", _amount(credits), _amount(lot.get("credits"))),
                ("category", category, lot.get("category")),
                ("level", level, lot.get("level")),
                ("field", fld, lot.get("field")),
                ("rule_id", rule_id, rule.get("id")),
                ("rule_version", rule_version, rule.get("version")),
                ("rule_set_hash", rule_set_hash, rule.get("set_hash")),
                ("expires_on", _date(expires_on), lot.get("expires")),
            ],
            where,
        )
    for lot_id in expected:
        report.add("ledger_lots", lot_id, msg("audit.db.lot_missing", tx_id=tx_id, where=where))


def _apply(journal: Journal, tx_id: str, body: dict[str, Any], postings: list[Any]) -> None:
    """Carry the entry's effect on lot states, outcomes and conversions forward."""
    kind = body.get("kind")
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    assert isinstance(details, dict)
    outcome = details.get("outcome")
    if kind == "recognition":
        leaf_lots = [lot for lot in body.get("lots") or [] if isinstance(lot, dict)]
        if isinstance(outcome, str) and leaf_lots:
            facts = journal.outcomes.setdefault(outcome, OutcomeFacts())
            facts.lot = leaf_lots[0]
            facts.lot_reversed = False
            facts.learner = leaf_lots[0].get("learner")
            facts.issuer = leaf_lots[0].get("issuer")
            journal.outcome_of_recognition[tx_id] = outcome
    elif kind == "conversion":
        journal.conversion_entries.add(tx_id)
        institution = str(details.get("institution", ""))
        converts = [c for c in body.get("converts") or [] if isinstance(c, dict)]
        for item in converts:
            journal.locks[str(item.get("lot"))] = (tx_id, str(item.get("programme", "")), institution)
        conversion = details.get("conversion")
        if isinstance(conversion, str):
            journal.conversions[conversion] = {
                "ledger_tx_id": tx_id,
                "learner_id": _learner_of_postings(postings),
                "institution_id": details.get("institution"),
                "programme_id": details.get("programme"),
                "lot_ids": sorted(str(c.get("lot")) for c in converts),
                "credits": _amount(details.get("credits")),
            }
    elif kind == "reversal":
        reverses = body.get("reverses")
        target = reverses.get("id") if isinstance(reverses, dict) else None
        if target in journal.conversion_entries:
            for posting in postings:
                lot = posting.get("lot") if isinstance(posting, dict) else None
                held = journal.locks.get(str(lot))
                if held is not None and held[0] == target:
                    del journal.locks[str(lot)]
        elif isinstance(target, str) and target in journal.outcome_of_recognition:
            facts = journal.outcomes[journal.outcome_of_recognition[target]]
            facts.lot_reversed = True
            reason = str(details.get("reason", ""))
            verb = reason.split(":", 1)[0]
            if verb in _FINAL_BY_ACTION:
                facts.final = _FINAL_BY_ACTION[verb]
    elif kind == "review_decision" and isinstance(outcome, str):
        journal.outcomes.setdefault(outcome, OutcomeFacts()).decision = details
    elif kind == "note" and isinstance(outcome, str):
        action = details.get("action")
        if action in _FINAL_BY_ACTION:
            journal.outcomes.setdefault(outcome, OutcomeFacts()).final = _FINAL_BY_ACTION[str(action)]


# --- the served tables against the journal's state -------------------------------------------------------


def _check_accounts(db: Db, report: DatabaseReport, journal: Journal) -> None:
    expected = dict(journal.balances)
    rows = 0
    for account_id, kind, owner, balance in db.stream(
        "SELECT id, kind, owner_id, balance FROM ledger_accounts ORDER BY id"
    ):
        rows += 1
        check_account(report, (account_id, kind, owner, balance), expected.pop(account_id, Decimal(0)))
    for account_id, want in sorted(expected.items()):
        check_account(report, None, want, account_id)
    report.count("ledger_accounts", rows)


def check_account(
    report: DatabaseReport, row: tuple[Any, ...] | None, want: Decimal, account_id: str = ""
) -> None:
    """One ``ledger_accounts`` row (id, kind, owner_id, balance), or None if there is none for
    ``account_id``, against the sum of the journal's postings to it."""
    if row is None:
        if want:
            report.add("ledger_accounts", account_id, msg("audit.db.account_missing", want=want))
        return
    account_id, kind, owner, balance = row
    if _amount(balance) != want:
        report.add("ledger_accounts", account_id, msg("audit.db.balance", balance=balance, want=want))
    parts = str(account_id).split(":")
    if parts[0] == "learner" and len(parts) == 3:
        want_kind, want_owner = f"learner_{parts[2]}", parts[1]
    elif parts[0] == "issuer" and len(parts) == 2:
        want_kind, want_owner = "issuer", parts[1]
    else:
        return
    _compare(
        report,
        "ledger_accounts",
        account_id,
        [("kind", kind, want_kind), ("owner_id", owner, want_owner)],
        msg("audit.db.from_account_id"),
    )


def _check_locks(db: Db, report: DatabaseReport, journal: Journal) -> None:
    expected = dict(journal.locks)
    rows = 0
    for lot_id, tx_id, programme, institution in db.stream(
        "SELECT lot_id, conversion_tx_id, programme_id, institution_id FROM ledger_lot_locks ORDER BY lot_id"
    ):
        rows += 1
        check_lock(report, lot_id, (tx_id, programme, institution), expected.pop(lot_id, None))
    for lot_id, held in sorted(expected.items()):
        check_lock(report, lot_id, None, held)
    report.count("ledger_lot_locks", rows)


def check_lock(
    report: DatabaseReport,
    lot_id: str,
    stored: tuple[Any, ...] | None,
    held: tuple[str, str, str] | None,
) -> None:
    """One lot's ``ledger_lot_locks`` row (conversion, programme, institution) or None, against the
    conversion that holds it in the journal (entry id, programme, institution) or None."""
    if held is None:
        if stored is not None:
            report.add("ledger_lot_locks", lot_id, msg("audit.db.lock_extra"))
        return
    if stored is None:
        report.add("ledger_lot_locks", lot_id, msg("audit.db.lock_missing", conversion=held[0]))
        return
    tx_id, programme, institution = stored
    _compare(
        report,
        "ledger_lot_locks",
        lot_id,
        [("conversion_tx_id", tx_id, held[0]), ("programme_id", programme, held[1])]
        + ([("institution_id", institution, held[2])] if held[2] else []),
        msg("audit.db.conversion", conversion=held[0]),
    )


RECOGNITIONS_SQL = (
    "SELECT r.outcome_id, r.status, r.stage, r.credits, r.level, r.category, r.field, r.rule_id, "
    "r.rule_version, r.rule_set_hash, r.expires_on, r.lot_id, o.learner_id, o.institution_id "
    "FROM recognitions r LEFT JOIN outcomes o ON o.id = r.outcome_id {where} ORDER BY r.outcome_id"
)


def _check_recognitions(db: Db, report: DatabaseReport, journal: Journal) -> None:
    pending = dict(journal.outcomes)
    rows = 0
    for row in db.stream(RECOGNITIONS_SQL.format(where="")):
        rows += 1
        check_recognition(report, row[0], row, pending.pop(row[0], None))
    for outcome_id in sorted(pending):
        check_recognition(report, outcome_id, None, pending[outcome_id])
    report.count("recognitions", rows)


def check_recognition(
    report: DatabaseReport, outcome_id: str, row: tuple[Any, ...] | None, facts: OutcomeFacts | None
) -> None:
    """One outcome's ``RECOGNITIONS_SQL`` row or None, against what the journal records about it."""
    if row is None:
        if facts is not None:
            report.add("recognitions", outcome_id, msg("audit.db.recognition_missing"))
        return
    status, lot_id, learner, institution = row[1], row[11], row[12], row[13]
    if learner is None:
        report.add("recognitions", outcome_id, msg("audit.db.recognition_no_outcome"))
    if facts is None:
        # the journal never heard of it: only an outcome the rules rejected or sent to review
        if status not in ("review", "rejected") or lot_id is not None:
            report.add(
                "recognitions",
                outcome_id,
                msg("audit.db.recognition_unrecorded", status=repr(status), lot_id=repr(lot_id)),
            )
        return
    lot = facts.lot
    if (
        lot is not None
        and facts.final is None
        and not facts.lot_reversed
        and _recognition_shape(row) == _recognition_shape_of_lot(lot)
    ):
        pass  # the common case, all in one comparison
    else:
        _check_recognition(report, facts, row)
    if lot is not None and learner is not None and (learner, institution) != (facts.learner, facts.issuer):
        _compare(
            report,
            "outcomes",
            outcome_id,
            [("learner_id", learner, facts.learner), ("institution_id", institution, facts.issuer)],
            msg("audit.db.lot", lot_id=lot.get("id")),
        )


def _recognition_shape(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A recognised ``RECOGNITIONS_SQL`` row as the lot's leaf would state it (see
    :func:`creditbank.outcomes.records.recognition_for_lot` for the defaults)."""
    status, _, credits, level, category, fld, rule_id, rule_version, rule_set_hash, expires_on, lot_id = row[
        1:12
    ]
    return (
        status,
        lot_id,
        str(credits),
        level or 1,
        category or "general",
        fld or "",
        rule_id or "manual",
        rule_version or "0",
        rule_set_hash,
        _date(expires_on),
    )


def _recognition_shape_of_lot(lot: dict[str, Any]) -> tuple[Any, ...]:
    rule = _rule(lot)
    return (
        "recognised",
        lot.get("id"),
        lot.get("credits"),
        lot.get("level"),
        lot.get("category"),
        lot.get("field"),
        rule.get("id"),
        rule.get("version"),
        rule.get("set_hash"),
        lot.get("expires"),
    )


def _check_recognition(report: DatabaseReport, facts: OutcomeFacts, row: tuple[Any, ...]) -> None:
    outcome_id, status, stage, credits, level, category, fld, rule_id, rule_version = row[:9]
    rule_set_hash, expires_on, lot_id = row[9:12]
    lot = facts.lot
    want_lot = lot.get("id") if lot is not None else None
    if lot_id != want_lot:
        report.add(
            "recognitions",
            outcome_id,
            msg("audit.db.recognition_lot", lot_id=repr(lot_id), want=repr(want_lot)),
        )
    if facts.final is not None:
        want_status: str | tuple[str, ...] = facts.final
    elif lot is not None:
        want_status = (_REVOKED, _SUPERSEDED) if facts.lot_reversed else "recognised"
    elif facts.decision is not None:
        decision = facts.decision
        if decision.get("decision") == "reject":
            want_status = "rejected"
        elif decision.get("stage") == "district":
            want_status = "review"
            _compare(
                report,
                "recognitions",
                outcome_id,
                [("stage", stage, "city"), ("credits", _amount(credits), _amount(decision.get("credits")))],
                msg("audit.db.district_approval"),
            )
        else:
            report.add("recognitions", outcome_id, msg("audit.db.recognition_no_lot"))
            return
    else:  # pragma: no cover - an outcome enters the journal's facts by one of the above
        return
    if status != want_status and not (isinstance(want_status, tuple) and status in want_status):
        report.add(
            "recognitions",
            outcome_id,
            msg("audit.db.recognition_status", status=repr(status), want=repr(want_status)),
        )
    if lot is not None and status == "recognised" and not facts.lot_reversed:
        rule = _rule(lot)
        _compare(
            report,
            "recognitions",
            outcome_id,
            [
                ("credits", _amount(credits), _amount(lot.get("credits"))),
                ("level", level or 1, lot.get("level")),
                ("category", category or "general", lot.get("category")),
                ("field", fld or "", lot.get("field")),
                ("rule_id", rule_id or "manual", rule.get("id")),
                ("rule_version", rule_version or "0", rule.get("version")),
                ("rule_set_hash", rule_set_hash, rule.get("set_hash")),
                ("expires_on", _date(expires_on), lot.get("expires")),
            ],
            msg("audit.db.lot", lot_id=want_lot),
        )


def _check_conversions(db: Db, report: DatabaseReport, journal: Journal) -> None:
    pending = dict(journal.conversions)
    rows = 0
    for row in db.stream(CONVERSIONS_SQL.format(where="")):
        rows += 1
        check_conversion(report, row[0], row, pending.pop(row[0], None))
    for conversion_id, want in sorted(pending.items()):
        check_conversion(report, conversion_id, None, want)
    report.count("conversions", rows)


CONVERSIONS_SQL: Final = (
    "SELECT id, learner_id, institution_id, programme_id, lot_ids, credits, ledger_tx_id FROM conversions "
    "{where} ORDER BY id"
)


def check_conversion(
    report: DatabaseReport, conversion_id: str, row: tuple[Any, ...] | None, want: dict[str, Any] | None
) -> None:
    """One ``CONVERSIONS_SQL`` row or None, against the conversion entry of the journal or None."""
    if want is None:
        if row is not None:
            report.add("conversions", conversion_id, msg("audit.db.conversion_extra"))
        return
    if row is None:
        report.add(
            "conversions", conversion_id, msg("audit.db.conversion_missing", tx_id=want["ledger_tx_id"])
        )
        return
    _, learner, institution, programme, lot_ids, credits, tx_id = row
    _compare(
        report,
        "conversions",
        conversion_id,
        [
            ("ledger_tx_id", tx_id, want["ledger_tx_id"]),
            ("learner_id", learner, want["learner_id"]),
            ("institution_id", institution, want["institution_id"]),
            ("programme_id", programme, want["programme_id"]),
            ("lot_ids", sorted(str(i) for i in _json_list(lot_ids)), want["lot_ids"]),
            ("credits", _amount(credits), want["credits"]),
        ],
        msg("audit.db.entry", tx_id=want["ledger_tx_id"]),
    )


_ORPHANS_SQL: Final = (
    "SELECT p.transaction_id, p.position FROM ledger_postings p "
    "LEFT JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.id IS NULL",
    "SELECT l.id FROM ledger_lots l LEFT JOIN ledger_transactions t ON t.id = l.recognition_tx_id "
    "WHERE t.id IS NULL",
    "SELECT o.id FROM outcomes o LEFT JOIN recognitions r ON r.outcome_id = o.id WHERE r.outcome_id IS NULL",
)


def check_orphans(
    db: Db, report: DatabaseReport, found: Sequence[Sequence[tuple[Any, ...]]] | None = None
) -> None:
    """Step 4: rows pointing at no journal entry (only possible with the foreign keys bypassed);
    ``found``: the rows of :data:`_ORPHANS_SQL`, if read already."""
    postings, lots, outcomes = found if found is not None else [db.all(text) for text in _ORPHANS_SQL]
    for tx_id, position in postings:
        report.add("ledger_postings", f"{tx_id}/{position}", msg("audit.db.posting_no_entry"))
    for (lot_id,) in lots:
        report.add("ledger_lots", lot_id, msg("audit.db.lot_no_entry"))
    for (outcome_id,) in outcomes:
        report.add("recognitions", outcome_id, msg("audit.db.recognition_row_missing"))


# --- the same audit on PostgreSQL: the server recomputes (see creditbank.audit.database_sql) ----------

_ENTRY_SQL: Final = (
    "SELECT seq, id, kind, learner_id, reverses_id, posting_count, leaf, log_id "
    "FROM ledger_transactions WHERE id = ANY(%s) ORDER BY log_id, seq"
)
_COUNTED: Final = (
    "ledger_postings",
    "ledger_lots",
    "ledger_accounts",
    "ledger_lot_locks",
    "recognitions",
    "conversions",
    "tlog_nodes",
)
_COUNTS_SQL: Final = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in _COUNTED)  # noqa: S608


def candidates(db: Db, checks: Sequence[str] | None = None) -> list[tuple[str, str, Any]] | None:
    """Run :data:`CANDIDATES_SQL` (or the statement of ``checks`` alone) under a savepoint, with its
    settings; None if a leaf is not UTF-8 JSON of the shape the statement assumes (the Python audit
    must then read every leaf)."""
    statement = CANDIDATES_SQL if checks is None else candidates_sql(checks)
    return _candidates(db.driver, statement, savepoint=True)


def _candidates(driver: Any, statement: str, *, savepoint: bool) -> list[tuple[str, str, Any]] | None:
    if savepoint:
        driver.execute("SAVEPOINT audit_candidates")
    try:
        for setting in SETTINGS:
            driver.execute(setting)
        rows: list[tuple[str, str, Any]] = list(driver.execute(statement).fetchall())
    except psycopg.errors.DataError:  # not UTF-8, not JSON, an amount that is not a number
        rows = [("malformed", "", None)]
    if savepoint:
        driver.execute("ROLLBACK TO SAVEPOINT audit_candidates")  # the settings end here
        driver.execute("RELEASE SAVEPOINT audit_candidates")
    if any(what == "malformed" for what, _, _ in rows):
        return None
    return rows


@dataclass
class OnTwo:
    """What :func:`read_on_two` read: the candidates, and what the tree and the counts need."""

    found: list[tuple[str, str, Any]] | None = None
    fast: bool = False
    """True when :data:`FAST` found nothing (the statements of :data:`SPLIT` did not run)."""
    hashes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    levels: dict[str, list[bytes]] = field(default_factory=dict)
    summaries: dict[str, dict[int, tuple[Any, ...]]] = field(default_factory=dict)
    orphans: list[list[tuple[Any, ...]]] | None = None
    counts: tuple[Any, ...] | None = None


def read_on_two(db: Db, helper: Any, logs: Sequence[str]) -> OnTwo:
    """The server's part of the audit on two connections: ``helper``, a second connection to the same
    database, imports this transaction's snapshot (``pg_export_snapshot``), so both read the same
    state, and each connection takes the next statement when it is free. First the four statements
    of :data:`FAST` (each leaf parsed once), each log's :data:`LEAF_HASHES_SQL` (whose tree is built
    while the server works on), its stored tree levels, the orphans and the counts; only if a
    statement of :data:`FAST` finds anything, the two of :data:`SPLIT`, whose candidates are judged."""
    snapshot_id = db.driver.execute("SELECT pg_export_snapshot()").fetchone()[0]
    helper.rollback()
    helper.isolation_level, helper.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    helper.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot_id)))
    out = OnTwo()
    try:
        order = (2, 0, 1, 3)  # the longest first, so that the two connections finish together
        done = _share([_statement(FAST[i]) for i in order] + _reads(out, logs), db.driver, helper)
        fast = {i: done[k] for k, i in enumerate(order)}
        if any(found is None for found in fast.values()):
            return out
        out.fast = not fast[0] and not fast[1]
        if out.fast:  # the state statements' candidates are then those of SPLIT (see FAST)
            out.found = fast[2] + fast[3]
        else:  # something differs: the statements whose candidates name it as the Python audit does
            found = _share([_statement(candidates_sql(checks)) for checks in SPLIT], db.driver, helper)
            if all(half is not None for half in found):
                out.found = [row for half in found for row in half]
    finally:
        helper.rollback()
    return out


def _statement(text: str) -> Callable[[Any], Any]:
    return lambda driver: _candidates(driver, text, savepoint=True)


def _reads(out: OnTwo, logs: Sequence[str]) -> list[Callable[[Any], Any]]:
    """The plain reads :func:`read_on_two` shares out with the statements (each returns True)."""

    def hashes(log_id: str) -> Callable[[Any], Any]:
        def read(driver: Any) -> bool:
            row = Db(driver).all(LEAF_HASHES_SQL, (log_id,))[0]
            out.hashes[log_id] = row
            out.levels[log_id] = tree_levels(bytes(row[3]) if row[3] is not None else b"")
            return True

        return read

    def levels(log_id: str) -> Callable[[Any], Any]:
        def read(driver: Any) -> bool:
            out.summaries[log_id] = {int(row[0]): row[1:] for row in Db(driver).all(_LEVELS_SQL, (log_id,))}
            return True

        return read

    def orphans(driver: Any) -> bool:
        out.orphans = [Db(driver).all(text) for text in _ORPHANS_SQL]
        return True

    def counts(driver: Any) -> bool:
        out.counts = Db(driver).all(_COUNTS_SQL)[0]
        return True

    return [hashes(log_id) for log_id in logs] + [levels(log_id) for log_id in logs] + [orphans, counts]


def _share(work: Sequence[Callable[[Any], Any]], first: Any, second: Any) -> list[Any]:
    """Run ``work`` (each item given a connection) on two connections, each taking the next item when
    it is free; the results in the order of ``work``. The first error stops both and is raised."""
    results: list[Any] = [None] * len(work)
    taken = iter(range(len(work)))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(driver: Any) -> None:
        while True:
            with lock:
                index = next(taken, None)
                if index is None or errors:
                    return
            try:
                results[index] = work[index](driver)
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return

    thread = threading.Thread(target=worker, args=(second,), name="audit-database-helper", daemon=True)
    thread.start()
    try:
        worker(first)
    finally:
        thread.join()
    if errors:
        raise errors[0]
    return results


def fast_candidates(db: Db) -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, Any]]] | None:
    """The statements of :data:`FAST` one after the other on one connection (the tests' cross-check
    of :func:`read_on_two`): what the per-entry ones find, and what the state ones find; None as
    :func:`candidates`."""
    found = [_candidates(db.driver, text, savepoint=True) for text in FAST]
    if any(half is None for half in found):
        return None
    return [row for half in found[:2] for row in half or []], [
        row for half in found[2:] for row in half or []
    ]


def audit_with_sql(
    db: Db,
    report: DatabaseReport,
    logs: Sequence[str],
    progress: Callable[[Said], None] | None = None,
    helper: Any | None = None,
) -> bool:
    """The audit of :func:`creditbank.audit.database.audit_database` on PostgreSQL, the per-entry work
    done by the server (see the module docstring), on two connections when ``helper`` is given (see
    :func:`read_on_two`). False, with nothing reported, when a leaf cannot be parsed by the server:
    the caller runs the Python audit."""
    if progress:
        progress(msg("audit.db.step.sql"))
    read = OnTwo()
    if helper is None:
        read.found = candidates(db)
    else:
        read = read_on_two(db, helper, logs)
    found = read.found
    if found is None:
        return False
    for log_id in logs:
        if progress:
            progress(msg("audit.db.step.tree", log_id=log_id))
        _audit_tree(
            db, report, log_id, read.hashes.get(log_id), read.levels.get(log_id), read.summaries.get(log_id)
        )
    by_kind: dict[str, dict[str, Any]] = {}
    for what, key, value in found:
        by_kind.setdefault(what, {})[key] = value
    _judge_entries(db, report, sorted(by_kind.get("entry", {})))
    for lot_id, tx_id in sorted(by_kind.get("lot", {}).items()):
        report.add("ledger_lots", lot_id, msg("audit.db.lot_no_such", tx_id=tx_id))
    _judge_rows(db, report, by_kind)
    check_orphans(db, report, read.orphans)
    counts = read.counts if read.counts is not None else db.all(_COUNTS_SQL)[0]
    for table, count in zip(_COUNTED, counts, strict=True):
        report.rows[table] = int(count)
    return True


def _audit_tree(
    db: Db,
    report: DatabaseReport,
    log_id: str,
    hashes: tuple[Any, ...] | None = None,
    levels: list[bytes] | None = None,
    summaries: dict[int, tuple[Any, ...]] | None = None,
) -> None:
    """Step 1 for one log: the leaves' hashes (``hashes``: the :data:`LEAF_HASHES_SQL` row if read
    already, ``levels`` the tree they make) make the stored tree and the signed checkpoints' roots
    (``summaries``: the stored levels, if read already)."""
    checkpoints, stored_size, verifier = log_facts(db, report, log_id)
    count, first, last, joined = hashes if hashes is not None else db.all(LEAF_HASHES_SQL, (log_id,))[0]
    size = int(count)
    if size and (first, last) != (0, size - 1):
        for tx_id, seq, position in db.all(SEQ_GAPS_SQL, (log_id,)):
            report.add(
                "ledger_transactions", tx_id, msg("audit.db.seq", seq=seq, log_id=log_id, position=position)
            )
    if levels is None:
        levels = tree_levels(bytes(joined) if joined is not None else b"")
    check_tree(db, report, log_id, levels, summaries)
    for checkpoint_size in sorted(checkpoints):
        if checkpoint_size <= size:
            root = root_from_levels(levels, checkpoint_size)
            check_checkpoint(report, log_id, checkpoint_size, checkpoints[checkpoint_size], root, verifier)
        else:
            report.add(
                "tlog_checkpoints",
                f"{log_id}/{checkpoint_size}",
                msg("audit.db.checkpoint_beyond", size=checkpoint_size, entries=size),
            )
    if stored_size is not None and stored_size != size:
        report.add("tlog_logs", log_id, msg("audit.db.log_size", size=stored_size, entries=size))
    report.entries[log_id] = size
    report.rows["ledger_transactions"] = report.rows.get("ledger_transactions", 0) + size


def _judge_entries(db: Db, report: DatabaseReport, ids: list[str]) -> None:
    """The candidate entries, each judged as the Python audit judges it (row, postings, lots)."""
    for start in range(0, len(ids), 10_000):
        chunk = Chunk()
        balances: dict[str, Decimal] = {}  # the balances were recomputed by the server
        for seq, tx_id, kind, learner_id, reverses_id, posting_count, leaf, log_id in db.all(
            _ENTRY_SQL, (ids[start : start + 10_000],)
        ):
            row = (tx_id, kind, learner_id, reverses_id, posting_count)
            read_entry(
                report,
                chunk,
                log_id,
                row,
                bytes(leaf),
                msg("audit.db.where", log_id=log_id, seq=seq),
                balances,
            )
        check_chunk(db, report, Journal(), chunk)


def _judge_rows(db: Db, report: DatabaseReport, by_kind: dict[str, dict[str, Any]]) -> None:
    """The candidate rows of the state tables, each with the journal's values the server computed."""
    accounts = by_kind.get("account", {})
    stored = {row[0]: row for row in db.all(_ACCOUNTS_SQL, (list(accounts),))} if accounts else {}
    for account_id, want in sorted(accounts.items()):
        check_account(report, stored.get(account_id), Decimal(want) if want else Decimal(0), account_id)
    locks = by_kind.get("lock", {})
    stored = {row[0]: row for row in db.all(_LOCKS_SQL, (list(locks),))} if locks else {}
    for lot_id, held in sorted(locks.items()):
        row = stored.get(lot_id)
        check_lock(report, lot_id, row[1:] if row else None, tuple(held) if held else None)
    outcomes = by_kind.get("recognition", {})
    where = "WHERE r.outcome_id = ANY(%s)"
    stored = {row[0]: row for row in db.all(RECOGNITIONS_SQL.format(where=where), (list(outcomes),))}
    for outcome_id, facts in sorted(outcomes.items()):
        check_recognition(report, outcome_id, stored.get(outcome_id), _facts(facts))
    conversions = by_kind.get("conversion", {})
    where = "WHERE id = ANY(%s)"
    stored = {row[0]: row for row in db.all(CONVERSIONS_SQL.format(where=where), (list(conversions),))}
    for conversion_id, found in sorted(conversions.items()):
        want = None
        if found is not None:
            want = {**found, "credits": Decimal(found["credits"]) if found["credits"] is not None else None}
        check_conversion(report, conversion_id, stored.get(conversion_id), want)


_ACCOUNTS_SQL: Final = "SELECT id, kind, owner_id, balance FROM ledger_accounts WHERE id = ANY(%s)"
_LOCKS_SQL: Final = (
    "SELECT lot_id, conversion_tx_id, programme_id, institution_id FROM ledger_lot_locks "
    "WHERE lot_id = ANY(%s)"
)


def _facts(value: dict[str, Any] | None) -> OutcomeFacts | None:
    if value is None:
        return None
    lot = value["lot"]
    return OutcomeFacts(
        lot=lot,
        lot_reversed=bool(value["lot_reversed"]),
        final=value["final"],
        decision=value["decision"],
        learner=lot.get("learner") if isinstance(lot, dict) else None,
        issuer=lot.get("issuer") if isinstance(lot, dict) else None,
    )


def audit_database(
    driver: Any,
    *,
    max_differences: int = 10_000,
    progress: Callable[[Said], None] | None = None,
    engine: str = "auto",
    helper: Any | None = None,
) -> DatabaseReport:
    """Recompute the served tables from the journal and compare (see the module docstring).

    ``driver`` is a psycopg or sqlite3 connection inside the transaction to read in (see
    :func:`snapshot`). Nothing is written. ``engine``: ``auto`` recomputes on the server on PostgreSQL
    (:mod:`creditbank.audit.database_sql`; this process takes over if a leaf is not JSON the server can
    read) and in this process on SQLite; ``python`` always in this process, entry by entry (the
    cross-check of the tests). ``helper``: on PostgreSQL, a second psycopg connection to the same
    database, outside any transaction (see :func:`helper_connection`), with which the server uses two
    cores; it reads this transaction's snapshot, so it cannot see what this transaction wrote.
    """
    db = Db(driver)
    logs = sorted(
        row[0]
        for row in db.all("SELECT id FROM tlog_logs UNION SELECT DISTINCT log_id FROM ledger_transactions")
    )
    if db.postgres and engine != "python":
        report = DatabaseReport(max_differences=max_differences, engine="postgresql")
        if audit_with_sql(db, report, logs, progress, helper):
            return report
    report = DatabaseReport(max_differences=max_differences)
    journal = Journal()
    for log_id in logs:
        if progress:
            progress(msg("audit.db.step.log", log_id=log_id))
        _audit_log(db, report, journal, log_id)
    if progress:
        progress(msg("audit.db.step.tables"))
    _check_extra_lots(db, report, journal)
    _check_accounts(db, report, journal)
    _check_locks(db, report, journal)
    _check_recognitions(db, report, journal)
    _check_conversions(db, report, journal)
    check_orphans(db, report)
    return report


@contextmanager
def snapshot(engine: Engine) -> Iterator[Any]:
    """A driver connection in one read-only snapshot (REPEATABLE READ READ ONLY on PostgreSQL; one
    read transaction on SQLite), rolled back at the end."""
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        raw.rollback()
        if engine.dialect.name == "postgresql":
            saved = (driver.isolation_level, driver.read_only)
            driver.isolation_level, driver.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
            try:
                yield driver
            finally:
                driver.rollback()
                driver.isolation_level, driver.read_only = saved
        else:
            driver.execute("BEGIN")
            try:
                yield driver
            finally:
                driver.rollback()
    finally:
        raw.close()


@contextmanager
def helper_connection(engine: Engine) -> Iterator[Any | None]:
    """A second driver connection for :func:`audit_database` on PostgreSQL (None on SQLite)."""
    if engine.dialect.name != "postgresql":
        yield None
        return
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        raw.rollback()
        saved = (driver.isolation_level, driver.read_only)
        try:
            yield driver
        finally:
            driver.rollback()
            driver.isolation_level, driver.read_only = saved
    finally:
        raw.close()
