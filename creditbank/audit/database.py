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
   :class:`~creditbank.transparency.merkle.Frontier`: the perfect nodes it produces must be the stored
   ``tlog_nodes``, and the root at every stored checkpoint's size must be that checkpoint's root, whose
   note must carry a valid signature of the log's key.
   Leaves are in the format of :mod:`creditbank.ledger.leaf` (read here with ``json`` for speed, the
   shape checked field by field).
2. **Postings and lots** are streamed beside the leaves (joined to their entry, ordered by its seq), so
   a million entries are compared without holding them all: each ``ledger_postings`` row must be the
   leaf's posting at its position, and each ``ledger_lots`` row the lot its recognition leaf created.
3. **State** carried forward from the leaves: the balance of every account, which conversion holds each
   lot (a conversion takes the lots it lists, reversing it frees them), and per outcome what the journal
   says happened to it (its recognition and lot, review decisions, revocation or correction). At the end
   these are compared with ``ledger_accounts``, ``ledger_lot_locks``, ``recognitions`` (and the outcome's
   learner and institution) and ``conversions``.
4. Rows that belong to no journal entry (a posting or lot whose entry does not exist) are differences
   too.

Everything runs in one read-only snapshot (the caller's transaction: see :func:`snapshot`), on PostgreSQL
through psycopg's server-side cursors and on SQLite through ``sqlite3`` cursors; nothing is written.
What the journal cannot tell (the proposed credits of an outcome still in review before any decision,
the stage of an undecided outcome, the texts of explanations) is not checked.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import psycopg
from sqlalchemy import Engine

from creditbank.ledger.leaf import learner_of_account
from creditbank.transparency.merkle import LEAF_PREFIX, Frontier
from creditbank.transparency.note import Checkpoint, NoteVerifier, open_note

_ITERSIZE: Final = 20_000
_REVOKED: Final = "revoked"
_SUPERSEDED: Final = "superseded"
_FINAL_BY_ACTION: Final = {"revoked": _REVOKED, "corrected": _SUPERSEDED}


@dataclass(frozen=True)
class Difference:
    """One row of a served table that the journal contradicts (or that is missing, or extra)."""

    table: str
    row_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.table} {self.row_id}: {self.message}"

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

    @property
    def ok(self) -> bool:
        return self.difference_count == 0

    def add(self, table: str, row_id: object, message: str) -> None:
        self.difference_count += 1
        if len(self.differences) < self.max_differences:
            self.differences.append(Difference(table, str(row_id), message))

    def count(self, table: str, n: int = 1) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


# --- database access: DBAPI cursors, streamed --------------------------------------------------------


class _Db:
    """Plain DBAPI reads on one connection (psycopg or sqlite3), inside the caller's transaction."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.postgres = type(driver).__module__.startswith("psycopg")
        self._cursors = 0

    def _sql(self, sql: str) -> str:
        return sql if self.postgres else sql.replace("%s", "?")

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of a query, fetched in batches (a server-side cursor on PostgreSQL)."""
        if self.postgres:
            self._cursors += 1
            cursor = self.driver.cursor(name=f"audit_{self._cursors}")
            cursor.itersize = _ITERSIZE
        else:
            cursor = self.driver.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            while rows := cursor.fetchmany(_ITERSIZE):
                yield from rows
        finally:
            cursor.close()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.stream(sql, params))


class _Following:
    """Rows ordered by the seq of their journal entry (first column): hands out one entry's rows at a time."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def take(self, seq: int) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        while self._next is not None and self._next[0] <= seq:
            if self._next[0] == seq:
                out.append(self._next)
            self._next = next(self._rows, None)
        return out


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


def _show(value: Any) -> str:
    return str(value) if isinstance(value, Decimal) else repr(value)


def _compare(
    report: DatabaseReport, table: str, row_id: object, pairs: Sequence[tuple[str, Any, Any]], where: str
) -> None:
    """Report each (column, stored, journal) pair that differs."""
    for column, stored, expected in pairs:
        if stored != expected:
            report.add(
                table, row_id, f"{column} is {_show(stored)}, the journal says {_show(expected)} ({where})"
            )


# --- what the journal says -------------------------------------------------------------------------------


@dataclass
class _OutcomeFacts:
    """What the journal records about one outcome."""

    lot: dict[str, Any] | None = None
    lot_reversed: bool = False
    final: str | None = None
    decision: dict[str, Any] | None = None
    learner: str | None = None
    issuer: str | None = None


@dataclass
class _Journal:
    """State carried from leaf to leaf (across all logs)."""

    balances: dict[str, Decimal] = field(default_factory=dict)
    locks: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """lot id -> (conversion entry id, programme, institution) while a conversion holds it."""
    outcomes: dict[str, _OutcomeFacts] = field(default_factory=dict)
    outcome_of_recognition: dict[str, str] = field(default_factory=dict)
    conversions: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversion_entries: set[str] = field(default_factory=set)


_TX_SQL = (
    "SELECT seq, id, kind, learner_id, reverses_id, posting_count, leaf "
    "FROM ledger_transactions WHERE log_id = %s ORDER BY seq"
)
_POSTINGS_SQL = (
    "SELECT t.seq, p.position, p.account_id, p.amount, p.lot_id, p.transaction_id "
    "FROM ledger_postings p JOIN ledger_transactions t ON t.id = p.transaction_id "
    "WHERE t.log_id = %s ORDER BY t.seq, p.position"
)
_LOTS_SQL = (
    "SELECT t.seq, l.id, l.learner_id, l.issuer_id, l.outcome_id, l.credits, l.category, l.level, l.field, "
    "l.rule_id, l.rule_version, l.rule_set_hash, l.expires_on "
    "FROM ledger_lots l JOIN ledger_transactions t ON t.id = l.recognition_tx_id "
    "WHERE t.log_id = %s ORDER BY t.seq, l.id"
)
# a perfect node is complete once its last leaf, ((idx + 1) << level) - 1, is appended
_NODES_SQL = (
    "SELECT ((idx + 1) * (1 << level)) - 1 AS last, level, idx, hash FROM tlog_nodes "
    "WHERE log_id = %s ORDER BY last, level"
)


def _audit_log(db: _Db, report: DatabaseReport, journal: _Journal, log_id: str) -> None:
    """Steps 1-3 for one log: its entries in order, with their postings, lots and tree nodes."""
    checkpoints: dict[int, tuple[bytes, str]] = {
        int(size): (bytes(root), str(note))
        for size, root, note in db.all(
            "SELECT size, root, note FROM tlog_checkpoints WHERE log_id = %s", (log_id,)
        )
    }
    log_rows = db.all("SELECT origin, public_key, size FROM tlog_logs WHERE id = %s", (log_id,))
    verifier: NoteVerifier | None = None
    if not log_rows:
        report.add("tlog_logs", log_id, "the journal has entries of this log, but there is no log row")
    else:
        origin, public_key, _ = log_rows[0]
        try:
            verifier = NoteVerifier(str(origin), bytes(public_key))
        except Exception as exc:  # any unusable key is a difference
            report.add("tlog_logs", log_id, f"the log's public key is unusable: {exc}")
    postings = _Following(db.stream(_POSTINGS_SQL, (log_id,)))
    lots = _Following(db.stream(_LOTS_SQL, (log_id,)))
    nodes = _Following(db.stream(_NODES_SQL, (log_id,)))
    frontier = Frontier()
    sha256 = hashlib.sha256
    loads = json.loads
    balances = journal.balances
    zero = Decimal(0)
    entries = posting_rows = lot_rows = node_rows = 0
    if 0 in checkpoints:  # a publisher that starts on an empty log signs the empty tree
        _check_checkpoint(report, log_id, 0, checkpoints.pop(0), frontier.root(), verifier)
    # Each comparison first puts the stored rows and the leaf's facts in the same shape (tuples of
    # the same text) and compares them whole; only a mismatch goes through the detailed diagnosis.
    for seq, tx_id, kind, learner_id, reverses_id, posting_count, stored_leaf in db.stream(
        _TX_SQL, (log_id,)
    ):
        leaf = bytes(stored_leaf)
        entries += 1
        if seq != frontier.size:
            where = f"log {log_id} entry {frontier.size}"
            report.add("ledger_transactions", tx_id, f"seq is {seq} ({where})")
        grown = frontier.append(sha256(LEAF_PREFIX + leaf).digest())
        stored_nodes = nodes.take(seq)
        node_rows += len(stored_nodes)
        if [(level, idx, bytes(value)) for _, level, idx, value in stored_nodes] != grown:
            _check_nodes(report, log_id, seq, grown, stored_nodes)
        stored_postings = postings.take(seq)
        posting_rows += len(stored_postings)
        stored_lots = lots.take(seq)
        lot_rows += len(stored_lots)
        where = f"log {log_id} entry {seq}"
        try:
            body = loads(leaf)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            report.add("ledger_transactions", tx_id, f"the leaf is not a JSON object ({where})")
            continue
        leaf_postings = body.get("postings")
        if not isinstance(leaf_postings, list) or not all(isinstance(p, dict) for p in leaf_postings):
            report.add(
                "ledger_transactions", tx_id, f"the leaf's postings are not a list of objects ({where})"
            )
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
            (position, p.get("account"), p.get("amount"), p.get("lot"), tx_id)
            for position, p in enumerate(leaf_postings)
        ]
        if [(r[1], r[2], str(r[3]), r[4], r[5]) for r in stored_postings] != leaf_shape:
            _check_postings(report, tx_id, stored_postings, leaf_postings, where)
        learner = None
        for _, account, amount, _, _ in leaf_shape:
            value = _amount(amount)
            if isinstance(account, str) and value is not None:
                balances[account] = balances.get(account, zero) + value
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
                f"learner_id is {learner_id!r}, the leaf's is {learner!r} ({where})",
            )
        if stored_lots or leaf_lots:
            details = body.get("details")
            outcome = details.get("outcome") if isinstance(details, dict) else None
            outcome = outcome if isinstance(outcome, str) else None
            if [_lot_shape_of_row(row) for row in stored_lots] != sorted(
                _lot_shape_of_leaf(lot, outcome) for lot in leaf_lots
            ):
                _check_lots(report, tx_id, stored_lots, leaf_lots, outcome, where)
        _apply(journal, tx_id, body, leaf_postings)
        size = frontier.size
        if size in checkpoints:
            _check_checkpoint(report, log_id, size, checkpoints.pop(size), frontier.root(), verifier)
    report.count("ledger_postings", posting_rows)
    report.count("ledger_lots", lot_rows)
    report.count("tlog_nodes", node_rows)
    for size in sorted(checkpoints):
        report.add(
            "tlog_checkpoints",
            f"{log_id}/{size}",
            f"a checkpoint of size {size}, but the journal has {frontier.size} entries",
        )
    leftover = nodes.take(2**62)
    for _, level, idx, _ in leftover:
        report.add("tlog_nodes", f"{log_id}/{level}/{idx}", "a tree node beyond the journal's entries")
    if log_rows and int(log_rows[0][2]) != frontier.size:
        report.add("tlog_logs", log_id, f"size is {log_rows[0][2]}, the journal has {frontier.size} entries")
    report.entries[log_id] = entries
    report.count("ledger_transactions", entries)


def _check_nodes(
    report: DatabaseReport,
    log_id: str,
    seq: int,
    grown: Sequence[tuple[int, int, bytes]],
    stored: list[tuple[Any, ...]],
) -> None:
    have = {(int(level), int(idx)): bytes(value) for _, level, idx, value in stored}
    for level, idx, value in grown:
        found = have.pop((level, idx), None)
        if found is None:
            report.add("tlog_nodes", f"{log_id}/{level}/{idx}", f"missing (completed by entry {seq})")
        elif found != value:
            report.add(
                "tlog_nodes", f"{log_id}/{level}/{idx}", f"the hash is not the journal's (entry {seq})"
            )
    for level, idx in have:
        report.add("tlog_nodes", f"{log_id}/{level}/{idx}", "a tree node the journal does not produce")


def _check_checkpoint(
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
        report.add("tlog_checkpoints", row_id, "the root is not the root of the journal's first entries")
    if verifier is None:
        return
    try:
        checkpoint = Checkpoint.parse(open_note(note.encode("utf-8"), [verifier]).text)
    except Exception as exc:  # a forged or broken note, whatever the cause
        report.add("tlog_checkpoints", row_id, f"the note does not verify with the log's key: {exc}")
        return
    if checkpoint.size != size or checkpoint.root_hash != root:
        report.add("tlog_checkpoints", row_id, "the signed note states another size or root")


def _learner_of_postings(postings: list[Any]) -> str | None:
    for posting in postings:
        account = posting.get("account") if isinstance(posting, dict) else None
        learner = learner_of_account(account) if isinstance(account, str) else None
        if learner is not None:
            return learner
    return None


def _check_postings(
    report: DatabaseReport, tx_id: str, stored: list[tuple[Any, ...]], leaf_postings: list[Any], where: str
) -> None:
    by_position = {int(row[1]): row for row in stored}
    for position, posting in enumerate(leaf_postings):
        account, amount, lot = posting.get("account"), _amount(posting.get("amount")), posting.get("lot")
        row = by_position.pop(position, None)
        if row is None:
            report.add("ledger_postings", f"{tx_id}/{position}", f"missing ({where})")
            continue
        _, _, stored_account, stored_amount, stored_lot, stored_tx = row
        _compare(
            report,
            "ledger_postings",
            f"{tx_id}/{position}",
            [
                ("transaction_id", stored_tx, tx_id),
                ("account_id", stored_account, account),
                ("amount", _amount(stored_amount), amount),
                ("lot_id", stored_lot, lot),
            ],
            where,
        )
    for position in sorted(by_position):
        report.add("ledger_postings", f"{tx_id}/{position}", f"the leaf has no posting {position} ({where})")


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
    where: str,
) -> None:
    expected = {lot.get("id"): lot for lot in leaf_lots}
    for row in stored:
        (_, lot_id, learner, issuer, outcome_id, credits, category, level, fld, rule_id, rule_version) = row[
            :11
        ]
        rule_set_hash, expires_on = row[11], row[12]
        lot = expected.pop(lot_id, None)
        if lot is None:
            report.add(
                "ledger_lots", lot_id, f"recorded for entry {tx_id}, whose leaf creates no such lot ({where})"
            )
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
        report.add("ledger_lots", lot_id, f"missing: entry {tx_id} created it ({where})")


def _apply(journal: _Journal, tx_id: str, body: dict[str, Any], postings: list[Any]) -> None:
    """Carry the entry's effect on lot states, outcomes and conversions forward."""
    kind = body.get("kind")
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    assert isinstance(details, dict)
    outcome = details.get("outcome")
    if kind == "recognition":
        leaf_lots = [lot for lot in body.get("lots") or [] if isinstance(lot, dict)]
        if isinstance(outcome, str) and leaf_lots:
            facts = journal.outcomes.setdefault(outcome, _OutcomeFacts())
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
        journal.outcomes.setdefault(outcome, _OutcomeFacts()).decision = details
    elif kind == "note" and isinstance(outcome, str):
        action = details.get("action")
        if action in _FINAL_BY_ACTION:
            journal.outcomes.setdefault(outcome, _OutcomeFacts()).final = _FINAL_BY_ACTION[str(action)]


# --- the served tables against the journal's state -------------------------------------------------------


def _check_accounts(db: _Db, report: DatabaseReport, journal: _Journal) -> None:
    expected = dict(journal.balances)
    rows = 0
    for account_id, kind, owner, balance in db.stream(
        "SELECT id, kind, owner_id, balance FROM ledger_accounts ORDER BY id"
    ):
        rows += 1
        want = expected.pop(account_id, Decimal(0))
        if _amount(balance) != want:
            report.add(
                "ledger_accounts", account_id, f"balance is {balance}, the journal's postings sum to {want}"
            )
        parts = str(account_id).split(":")
        if parts[0] == "learner" and len(parts) == 3:
            want_kind, want_owner = f"learner_{parts[2]}", parts[1]
        elif parts[0] == "issuer" and len(parts) == 2:
            want_kind, want_owner = "issuer", parts[1]
        else:
            continue
        _compare(
            report,
            "ledger_accounts",
            account_id,
            [("kind", kind, want_kind), ("owner_id", owner, want_owner)],
            "from the account id",
        )
    for account_id, want in sorted(expected.items()):
        if want:
            report.add("ledger_accounts", account_id, f"missing: the journal's postings sum to {want}")
    report.count("ledger_accounts", rows)


def _check_locks(db: _Db, report: DatabaseReport, journal: _Journal) -> None:
    expected = dict(journal.locks)
    rows = 0
    for lot_id, tx_id, programme, institution in db.stream(
        "SELECT lot_id, conversion_tx_id, programme_id, institution_id FROM ledger_lot_locks ORDER BY lot_id"
    ):
        rows += 1
        held = expected.pop(lot_id, None)
        if held is None:
            report.add("ledger_lot_locks", lot_id, "the lot is locked, but the journal leaves it unconverted")
            continue
        _compare(
            report,
            "ledger_lot_locks",
            lot_id,
            [("conversion_tx_id", tx_id, held[0]), ("programme_id", programme, held[1])]
            + ([("institution_id", institution, held[2])] if held[2] else []),
            f"conversion {held[0]}",
        )
    for lot_id, held in sorted(expected.items()):
        report.add("ledger_lot_locks", lot_id, f"missing: conversion {held[0]} holds the lot")
    report.count("ledger_lot_locks", rows)


_RECOGNITIONS_SQL = (
    "SELECT r.outcome_id, r.status, r.stage, r.credits, r.level, r.category, r.field, r.rule_id, "
    "r.rule_version, r.rule_set_hash, r.expires_on, r.lot_id, o.learner_id, o.institution_id "
    "FROM recognitions r LEFT JOIN outcomes o ON o.id = r.outcome_id ORDER BY r.outcome_id"
)


def _check_recognitions(db: _Db, report: DatabaseReport, journal: _Journal) -> None:
    pending = dict(journal.outcomes)
    rows = 0
    for row in db.stream(_RECOGNITIONS_SQL):
        rows += 1
        outcome_id, status, lot_id, learner, institution = row[0], row[1], row[11], row[12], row[13]
        if learner is None:
            report.add("recognitions", outcome_id, "the outcome it recognises does not exist")
        facts = pending.pop(outcome_id, None)
        if facts is None:
            # the journal never heard of it: only an outcome the rules rejected or sent to review
            if status not in ("review", "rejected") or lot_id is not None:
                report.add(
                    "recognitions",
                    outcome_id,
                    f"status {status!r} with lot {lot_id!r}, but the journal records no decision, lot or "
                    "revocation for this outcome",
                )
            continue
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
        if (
            lot is not None
            and learner is not None
            and (learner, institution) != (facts.learner, facts.issuer)
        ):
            _compare(
                report,
                "outcomes",
                outcome_id,
                [("learner_id", learner, facts.learner), ("institution_id", institution, facts.issuer)],
                f"lot {lot.get('id')}",
            )
    for outcome_id in sorted(pending):
        report.add("recognitions", outcome_id, "missing: the journal records this outcome")
    report.count("recognitions", rows)


def _recognition_shape(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A recognised ``_RECOGNITIONS_SQL`` row as the lot's leaf would state it (see
    :func:`creditbank.outcomes.service.recognition_for_lot` for the defaults)."""
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


def _check_recognition(report: DatabaseReport, facts: _OutcomeFacts, row: tuple[Any, ...]) -> None:
    outcome_id, status, stage, credits, level, category, fld, rule_id, rule_version = row[:9]
    rule_set_hash, expires_on, lot_id = row[9:12]
    lot = facts.lot
    want_lot = lot.get("id") if lot is not None else None
    if lot_id != want_lot:
        report.add("recognitions", outcome_id, f"lot_id is {lot_id!r}, the journal says {want_lot!r}")
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
                "the district's approval",
            )
        else:
            report.add(
                "recognitions", outcome_id, "the journal approves it at the city stage but records no lot"
            )
            return
    else:  # pragma: no cover - an outcome enters the journal's facts by one of the above
        return
    if status != want_status and not (isinstance(want_status, tuple) and status in want_status):
        report.add("recognitions", outcome_id, f"status is {status!r}, the journal says {want_status!r}")
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
            f"lot {want_lot}",
        )


def _check_conversions(db: _Db, report: DatabaseReport, journal: _Journal) -> None:
    pending = dict(journal.conversions)
    rows = 0
    for conversion_id, learner, institution, programme, lot_ids, credits, tx_id in db.stream(
        "SELECT id, learner_id, institution_id, programme_id, lot_ids, credits, ledger_tx_id "
        "FROM conversions ORDER BY id"
    ):
        rows += 1
        want = pending.pop(conversion_id, None)
        if want is None:
            report.add("conversions", conversion_id, "no conversion entry of the journal names it")
            continue
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
            f"entry {want['ledger_tx_id']}",
        )
    for conversion_id, want in sorted(pending.items()):
        report.add("conversions", conversion_id, f"missing: entry {want['ledger_tx_id']} records it")
    report.count("conversions", rows)


def _check_orphans(db: _Db, report: DatabaseReport) -> None:
    """Step 4: rows pointing at no journal entry (only possible with the foreign keys bypassed)."""
    for tx_id, position in db.all(
        "SELECT p.transaction_id, p.position FROM ledger_postings p "
        "LEFT JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.id IS NULL"
    ):
        report.add("ledger_postings", f"{tx_id}/{position}", "its journal entry does not exist")
    for (lot_id,) in db.all(
        "SELECT l.id FROM ledger_lots l LEFT JOIN ledger_transactions t ON t.id = l.recognition_tx_id "
        "WHERE t.id IS NULL"
    ):
        report.add("ledger_lots", lot_id, "its recognition entry does not exist")
    for (outcome_id,) in db.all(
        "SELECT o.id FROM outcomes o LEFT JOIN recognitions r ON r.outcome_id = o.id "
        "WHERE r.outcome_id IS NULL"
    ):
        report.add("recognitions", outcome_id, "missing: the outcome has no recognition row")


def audit_database(
    driver: Any, *, max_differences: int = 10_000, progress: Callable[[str], None] | None = None
) -> DatabaseReport:
    """Recompute the served tables from the journal and compare (see the module docstring).

    ``driver`` is a psycopg or sqlite3 connection inside the transaction to read in (see
    :func:`snapshot`). Nothing is written.
    """
    db = _Db(driver)
    report = DatabaseReport(max_differences=max_differences)
    journal = _Journal()
    logs = [
        row[0]
        for row in db.all("SELECT id FROM tlog_logs UNION SELECT DISTINCT log_id FROM ledger_transactions")
    ]
    for log_id in sorted(logs):
        if progress:
            progress(f"log {log_id}")
        _audit_log(db, report, journal, log_id)
    if progress:
        progress("accounts, lot locks, recognitions, conversions")
    _check_accounts(db, report, journal)
    _check_locks(db, report, journal)
    _check_recognitions(db, report, journal)
    _check_conversions(db, report, journal)
    _check_orphans(db, report)
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
