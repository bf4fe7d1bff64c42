"""The append machinery of the ledger: the only way credits move.

How this works (one call of :func:`append`, inside the caller's transaction):

1. Validate every entry: postings sum to zero, amounts are exact to 0.01 credits.
2. Create missing accounts, then lock every touched account in sorted id order (no deadlocks),
   compute the new balances and refuse any learner account going negative.
3. Check and take lot locks for conversions (the table's primary key is the backstop).
4. Lock the log's counter row last, assign gapless sequence numbers, build each entry's leaf
   (RFC 8785 JSON, in the format of :mod:`creditbank.standards.ledger.leaf`), append the leaves to the Merkle
   tree, and insert journal rows, postings, lots.

Everything commits or rolls back with the caller's transaction, so an acknowledged posting is in
the journal, in the tree and in the balances, or nowhere.
"""

import datetime as dt
import functools
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import bindparam, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from creditbank.db import (
    Writes,
    construct,
    fields_of,
    pg_connection,
    prepared,
    set_fields,
    translated_errors,
    utcnow,
)
from creditbank.i18n import msg
from creditbank.ids import InstitutionId, LearnerId, LogId, LotId, random_id
from creditbank.ledger.errors import (
    AlreadyReversed,
    InsufficientCredits,
    LotAlreadyConverted,
    UnbalancedTransaction,
)
from creditbank.ledger.models import Account, AccountKind, JournalTransaction, Lot, LotLock, Posting
from creditbank.standards.ledger import leaf as leaf_format
from creditbank.standards.ledger.leaf import (
    AccountId,
    TransactionId,
    TxKind,
    available_account,
    converted_account,
    issuer_account,
)
from creditbank.standards.tlog import merkle
from creditbank.transparency import store

CENT = Decimal("0.01")


def credits(value: Decimal | int | str) -> Decimal:
    """The one place that builds a credit amount: an exact Decimal to 0.01 (never from a float)."""
    if isinstance(value, float):
        raise TypeError("credits are never floats")
    amount = Decimal(value)
    if amount != amount.quantize(CENT):
        raise UnbalancedTransaction(msg("detail.ledger.append.has_more_than_two", value=value))
    return amount.quantize(CENT)


__all__ = ["available_account", "converted_account", "issuer_account"]  # the account names, re-exported


@dataclass(frozen=True)
class PostingSpec:
    account: AccountId
    kind: AccountKind
    owner: str
    amount: Decimal
    lot_id: LotId | None = None


@dataclass
class EntrySpec:
    """One journal transaction to append."""

    kind: TxKind
    postings: list[PostingSpec]
    learner_id: LearnerId | None = None
    new_lots: list[Lot] = field(default_factory=list)
    lock_lots: list[LotLock] = field(default_factory=list)
    unlock_lots: list[str] = field(default_factory=list)
    reverses: JournalTransaction | None = None
    details: dict[str, Any] = field(default_factory=dict)
    tx_id: TransactionId = field(default_factory=lambda: TransactionId(random_id("jtx")))


@functools.lru_cache(maxsize=4)  # one append stamps all its entries with one time
def _iso(moment: dt.datetime) -> str:
    return leaf_format.format_time(moment)


def _new_lot(lot: Lot) -> leaf_format.NewLot:
    return leaf_format.NewLot(
        id=LotId(lot.id),
        learner=LearnerId(lot.learner_id),
        issuer=InstitutionId(lot.issuer_id),
        credits=lot.credits,
        category=lot.category,
        level=lot.level,
        field=lot.field,
        rule=leaf_format.RuleCitation(id=lot.rule_id, version=lot.rule_version, set_hash=lot.rule_set_hash),
        expires=lot.expires_on,
    )


def build_leaf(log_id: str, seq: int, spec: EntrySpec, at: dt.datetime) -> bytes:
    """The leaf of a journal entry (:mod:`creditbank.standards.ledger.leaf`): what the tree commits to."""
    return leaf_format.encode(
        leaf_format.Leaf(
            log=LogId(log_id),
            seq=seq,
            id=spec.tx_id,
            kind=spec.kind,
            time=_iso(at),
            postings=tuple(leaf_format.Posting(p.account, p.amount, p.lot_id) for p in spec.postings),
            lots=tuple(_new_lot(lot) for lot in spec.new_lots),
            converts=tuple(
                leaf_format.Conversion(LotId(lock.lot_id), lock.programme_id) for lock in spec.lock_lots
            ),
            reverses=leaf_format.Reverses(TransactionId(spec.reverses.id), spec.reverses.seq)
            if spec.reverses is not None
            else None,
            details=spec.details,
        )
    )


_PG_INSERT_ACCOUNTS = (
    "INSERT INTO ledger_accounts (id, kind, owner_id, balance) "
    "SELECT id, kind, owner_id, 0 FROM unnest(%s::text[], %s::text[], %s::text[]) AS a(id, kind, owner_id) "
    "ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id"
)
_PG_LOCK_ACCOUNTS = (
    "SELECT id, kind, balance FROM ledger_accounts WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE"
)
_PG_UPDATE_BALANCES = (
    "UPDATE ledger_accounts SET balance = v.balance "
    "FROM unnest(%s::text[], %s::numeric[]) AS v(id, balance) WHERE ledger_accounts.id = v.id"
)


def _update_balances(writes: Writes, changed: list[dict[str, Any]]) -> None:
    """Write new balances: one statement on PostgreSQL, an executemany elsewhere."""
    driver = writes.driver
    if driver is not None:
        with translated_errors(_PG_UPDATE_BALANCES), driver.cursor() as cursor:
            cursor.execute(
                _PG_UPDATE_BALANCES,
                ([r["account"] for r in changed], [r["new_balance"] for r in changed]),
            )
        return
    table = Account.__table__  # type: ignore[attr-defined]
    writes.session.connection().execute(
        table.update().where(table.c.id == bindparam("account")).values(balance=bindparam("new_balance")),
        [{"account": r["account"], "new_balance": str(r["new_balance"])} for r in changed],
    )


@dataclass
class _LockedAccount:
    kind: str
    balance: Decimal


def _wanted_accounts(specs: Sequence[EntrySpec]) -> dict[str, PostingSpec]:
    wanted: dict[str, PostingSpec] = {}
    for spec in specs:
        for p in spec.postings:
            wanted.setdefault(p.account, p)
    return wanted


def _lock_accounts(session: Session, specs: Sequence[EntrySpec]) -> dict[str, _LockedAccount]:
    """Lock every touched account in id order (creating missing ones), so appends never deadlock."""
    wanted = _wanted_accounts(specs)
    if not wanted:
        return {}
    ids = sorted(wanted)
    driver = pg_connection(session)
    if driver is None:
        rows = [
            {"id": a, "kind": wanted[a].kind.value, "owner_id": wanted[a].owner, "balance": Decimal(0)}
            for a in ids
        ]
        session.execute(sqlite_insert(Account).values(rows).on_conflict_do_nothing(index_elements=["id"]))
        stmt = select(col(Account.id), col(Account.kind), col(Account.balance)).where(
            col(Account.id).in_(ids)
        )
        return {i: _LockedAccount(kind, balance) for i, kind, balance in session.exec(stmt).all()}
    accounts, _ = _pg_lock(driver, wanted, None)
    return accounts


class _KnownAccounts:
    """Ids of accounts known to exist in the database (this process's memory, at most
    :data:`KNOWN_ACCOUNTS_MAX`, forgotten all at once when full): an append creates only the accounts
    it does not know, so a posting to an issuer and a learner seen before runs no ``INSERT``.

    Safe because the service never deletes an account (:mod:`creditbank.privileges`: no ``DELETE`` on
    ``ledger_accounts``). An id is learnt from an ``INSERT … ON CONFLICT DO NOTHING`` that did not
    insert it (the row was there before the statement), never from the row an append creates itself,
    whose transaction may still roll back. Should an id be known wrongly all the same (a database
    rebuilt under a running process, or a row its own transaction created and then rolled back), the
    lock finds no row for it, and the append creates it then (:func:`_pg_lock`).
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._mutex = threading.Lock()

    def unknown(self, ids: Sequence[str]) -> list[str]:
        known = self._ids
        return [i for i in ids if i not in known]

    def learn(self, ids: Iterable[str]) -> None:
        with self._mutex:
            if len(self._ids) >= KNOWN_ACCOUNTS_MAX:
                self._ids.clear()
            self._ids.update(ids)

    def forget(self, ids: Iterable[str]) -> None:
        with self._mutex:
            self._ids.difference_update(ids)


KNOWN_ACCOUNTS_MAX = 50_000  # about 5 MB of ids per process
known_accounts = _KnownAccounts()


def _create_accounts(cursor: "psycopg.Cursor[Any]", wanted: dict[str, PostingSpec], ids: list[str]) -> None:
    cursor.execute(
        _PG_INSERT_ACCOUNTS,
        (ids, [wanted[a].kind.value for a in ids], [wanted[a].owner for a in ids]),
        prepare=True,
    )


def _pg_lock(
    driver: "psycopg.Connection[Any]", wanted: dict[str, PostingSpec], log_id: str | None
) -> tuple[dict[str, _LockedAccount], store.LockedLog | None]:
    """PostgreSQL: create the accounts not known to exist (:class:`_KnownAccounts`), lock the
    accounts in id order and then (given ``log_id``) the log row, all in ONE round trip (a
    pipeline): the shorter the time between taking these locks and committing, the more postings
    per second one log takes.

    Raises:
        LogNotFound: no such log.
    """
    ids = sorted(wanted)
    unknown = known_accounts.unknown(ids)
    # the accounts' INSERT and the log's lock are prepared (no plan to choose: values inserted, and
    # a table of a few rows, one a log); the accounts' lock is not (a table that grows)
    with driver.cursor() as create, driver.cursor() as lock, driver.cursor() as log_cursor, prepared(driver):
        with translated_errors(_PG_LOCK_ACCOUNTS), driver.pipeline():
            if unknown:
                _create_accounts(create, wanted, unknown)
            if ids:
                lock.execute(_PG_LOCK_ACCOUNTS, (ids,))
            if log_id is not None:
                log_cursor.execute(store.PG_LOCK_LOG, (log_id,), prepare=True)
        created = {row[0] for row in create.fetchall()} if unknown else set()
        rows = lock.fetchall() if ids else []
        found = log_cursor.fetchone() if log_id is not None else None
        known_accounts.learn(i for i in unknown if i not in created)
        if len(rows) < len(ids):  # known wrongly (see _KnownAccounts): create them now
            missing = sorted(set(ids) - {row[0] for row in rows})
            known_accounts.forget(missing)
            with translated_errors(_PG_LOCK_ACCOUNTS):
                _create_accounts(create, wanted, missing)
                lock.execute(_PG_LOCK_ACCOUNTS, (missing,))
                rows += lock.fetchall()
    accounts = {i: _LockedAccount(kind, Decimal(balance)) for i, kind, balance in rows}
    locked = None
    if log_id is not None:
        if found is None:
            raise store.LogNotFound(msg("detail.ledger.append.no_log", log_id=log_id))
        locked = store.LockedLog(
            log_id=log_id, frontier=merkle.Frontier.from_bytes(int(found[0]), bytes(found[1]))
        )
    return accounts, locked


def append(session: Session, log_id: str, specs: Sequence[EntrySpec]) -> list[JournalTransaction]:
    """Append journal transactions to a log, atomically with the caller's transaction.

    Raises:
        UnbalancedTransaction: postings of an entry do not sum to zero, or an amount is zero.
        InsufficientCredits: a learner account would go negative.
        LotAlreadyConverted: a lot to convert is already converted.
        AlreadyReversed: the transaction to reverse was reversed already.
        LogNotFound: no such log.
    """
    # 1. validate
    for spec in specs:
        if sum((p.amount for p in spec.postings), Decimal(0)) != 0:
            raise UnbalancedTransaction(
                msg("detail.ledger.append.postings_entry_sum_non", value=spec.kind.value)
            )
        if any(p.amount == 0 for p in spec.postings):
            raise UnbalancedTransaction(msg("detail.ledger.append.posting_zero_credits"))
    # 2. accounts, in sorted order (the lock also serialises conversions of one learner's lots);
    #    on PostgreSQL, when no lot or reversal needs checking in between, the log row in the same trip
    to_lock = [lock for spec in specs for lock in spec.lock_lots]
    reversed_ids = [spec.reverses.id for spec in specs if spec.reverses is not None]
    driver = pg_connection(session)
    locked: store.LockedLog | None = None
    if driver is not None and not to_lock and not reversed_ids:
        accounts, locked = _pg_lock(driver, _wanted_accounts(specs), log_id)
    else:
        accounts = _lock_accounts(session, specs)
    # 3. lot locks and reversals (checked before balances, so the error names the real cause)
    if to_lock:
        lot_ids = [lock.lot_id for lock in to_lock]
        if len(set(lot_ids)) != len(lot_ids):
            raise LotAlreadyConverted(msg("detail.ledger.append.same_lot_appears_twice"))
        taken = session.exec(select(LotLock.lot_id).where(col(LotLock.lot_id).in_(lot_ids))).all()
        if taken:
            raise LotAlreadyConverted(
                msg("detail.ledger.append.lot_already_converted", value=sorted(taken)[0]), lots=sorted(taken)
            )
    if reversed_ids:
        done = session.exec(
            select(JournalTransaction.reverses_id).where(
                col(JournalTransaction.reverses_id).in_(reversed_ids)
            )
        ).all()
        if done:
            raise AlreadyReversed(msg("detail.ledger.append.transaction_was_already_reversed", value=done[0]))
    # balances entry by entry: no learner account may go negative even in the middle of a batch
    deltas: dict[str, Decimal] = defaultdict(Decimal)
    for spec in specs:
        for p in spec.postings:
            deltas[p.account] += p.amount
        for p in spec.postings:
            account = accounts[p.account]
            running = account.balance + deltas[p.account]
            if account.kind in (AccountKind.learner_available, AccountKind.learner_converted) and running < 0:
                raise InsufficientCredits(
                    msg(
                        "detail.ledger.append.holds_credits_needs",
                        account=p.account,
                        value=account.balance + deltas[p.account] - p.amount,
                        value2=-p.amount,
                    ),
                    account=p.account,
                )
    # 4. the log, last: sequence numbers, leaves, tree
    if locked is None:
        locked = store.lock_log(session, log_id)
    unlock = [lot_id for spec in specs for lot_id in spec.unlock_lots]
    # the writes: on PostgreSQL a few rows go in ONE round trip (a pipeline; errors surface at its
    # end, still inside the transaction); many go by COPY, chunk by chunk
    plain = driver is not None and not to_lock and not unlock
    pipelined = plain and len(specs) <= PIPELINE_MAX_ENTRIES
    with _pipeline(driver if pipelined else None):
        return _write(Writes(session), specs, locked, accounts, deltas, to_lock, unlock)


PIPELINE_MAX_ENTRIES = 16
WRITE_CHUNK = 250  # entries per COPY statement of a big append (bounded memory for its rows)


@contextmanager
def _pipeline(driver: "psycopg.Connection[Any] | None") -> Iterator[None]:
    if driver is None:
        yield
        return
    with translated_errors("ledger append (pipeline)"), driver.pipeline():
        yield


def _write(
    writes: Writes,
    specs: Sequence[EntrySpec],
    locked: store.LockedLog,
    accounts: dict[str, _LockedAccount],
    deltas: dict[str, Decimal],
    to_lock: list[LotLock],
    unlock: list[str],
) -> list[JournalTransaction]:
    session = writes.session
    log_id = locked.log_id
    now = utcnow()
    first = locked.frontier.size
    tx_rows: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    for start in range(0, len(specs), WRITE_CHUNK):
        chunk = specs[start : start + WRITE_CHUNK]
        rows: list[dict[str, Any]] = []
        for seq, spec in enumerate(chunk, first + start):
            leaf = build_leaf(log_id, seq, spec, now)
            leaves.append(merkle.leaf_hash(leaf))
            rows.append(
                {
                    "id": spec.tx_id,
                    "log_id": log_id,
                    "seq": seq,
                    "kind": spec.kind.value,
                    "learner_id": spec.learner_id,
                    "reverses_id": spec.reverses.id if spec.reverses is not None else None,
                    "posting_count": len(spec.postings),
                    "created_at": now,
                    "leaf": leaf,
                }
            )
        writes.insert(JournalTransaction, rows)
        writes.insert(
            Posting,
            [
                {
                    "transaction_id": spec.tx_id,
                    "position": i,
                    "account_id": p.account,
                    "amount": p.amount,
                    "lot_id": p.lot_id,
                }
                for spec in chunk
                for i, p in enumerate(spec.postings)
            ],
        )
        for spec in chunk:
            for lot in spec.new_lots:
                set_fields(lot, recognition_tx_id=spec.tx_id)
        writes.insert(Lot, [fields_of(lot) for spec in chunk for lot in spec.new_lots])
        tx_rows.extend(rows)
    store.append_leaves(writes, locked, leaves)
    if to_lock:
        try:
            with session.begin_nested():
                session.execute(insert(LotLock), [lock.model_dump() for lock in to_lock])
        except IntegrityError as exc:
            raise LotAlreadyConverted(msg("detail.ledger.append.lot_was_converted_concurrently")) from exc
    if unlock:
        session.execute(LotLock.__table__.delete().where(col(LotLock.lot_id).in_(unlock)))  # type: ignore[attr-defined]
    changed: list[dict[str, Any]] = [
        {"account": account_id, "new_balance": accounts[account_id].balance + delta}
        for account_id, delta in sorted(deltas.items())
        if delta
    ]
    if changed:
        writes.call(lambda: _update_balances(writes, changed))
        for row in changed:
            accounts[row["account"]].balance = row["new_balance"]
    # the rows just written, without reading them back (constructed, not validated: they are ours)
    return [construct(JournalTransaction, **row) for row in tx_rows]
