"""Benchmark: the tamper-evident ledger on PostgreSQL with fsync on.

Measures, in one run on a private PostgreSQL server:

(a) append throughput through the ledger service (journal rows, postings, lots, balances, Merkle nodes,
    frontier, gapless sequence): one recognition per transaction, and 1,000 recognitions per
    ``record_recognitions`` call; against raw INSERTs of the same rows (ledger_transactions,
    ledger_postings, ledger_lots, tlog_nodes and the log counter, prepared in advance: no service logic)
    by psycopg executemany (single) and COPY (batched), in the same run;
(b) a 1,000,000-entry log (recognitions, conversions, reversals of conversions), built through the
    service in batches of 1,000 or, with ``--build copy``, generated with the same leaf format
    (``build_leaf``) and a :class:`~creditbank.standards.tlog.merkle.Frontier` and written with COPY (a
    genuine tree either way); then inclusion and consistency proof latency, p50/p99 over random requests,
    through ``creditbank.transparency.store`` and over HTTP (TestClient);
(c) the audit of that log: the replay and root computation fed from the database rows and from memory,
    against plain SHA-256 of the same leaf bytes, and ``run_verify`` end to end over HTTP;
(d) ``creditbank audit database`` over the whole database (every log, the served tables recomputed from
    the journal), against a raw read of the same rows in the same run.

Prints a table and writes ``bench/results/ledger.json`` (``ledger-quick.json`` with ``--quick``,
``ledger-append.json`` with ``--only-append``).

    .venv/bin/python bench/ledger.py                 # 1,000,000 entries (a few minutes)
    .venv/bin/python bench/ledger.py --quick         # 20,000 entries, a smoke run
    .venv/bin/python bench/ledger.py --profile       # also cProfile the audit and the batched append
    .venv/bin/python bench/ledger.py --only-database-audit   # build the log by COPY, then (d) alone
    .venv/bin/python bench/ledger.py --only-database-audit --keep-database /var/tmp/audit-1m
        # the same, the database kept in that directory: a later run with the same --entries and
        # directory starts that server again and measures (d) without building
    .venv/bin/python bench/ledger.py --only-append --single 200 --batched 5000   # (a) alone, short
"""

import argparse
import cProfile
import gc
import hashlib
import io
import os
import pstats
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import (
    Table,
    percentiles,
    process_cpu_seconds,
    start_postgres_server,
    stopwatch,
    write_results,
)
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditbank.audit import database as audit_db
from creditbank.audit.replay import Replay
from creditbank.audit.verify import run_verify
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction, utcnow
from creditbank.ids import InstitutionId, LearnerId, LotId, random_id
from creditbank.ledger import service
from creditbank.ledger.models import AccountKind, JournalTransaction, LotLock, TxKind
from creditbank.main import GC_THRESHOLD, create_app
from creditbank.migrate import upgrade
from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.note import NoteVerifier
from creditbank.transparency import store
from creditbank.transparency.publisher import ensure_default_log
from tests.support.server import ServerProcess

TARGET_APPEND = 5_000.0  # entries/s, batched
TARGET_PROOF_MS = 5.0  # p99 at 1M entries
TARGET_AUDIT_S = 60.0  # full audit of 1M entries
TARGET_DATABASE_AUDIT_S = 60.0  # audit database of a 1M-entry database
BATCH = 1_000
SERVICE_BUILD_BUDGET_S = 360.0  # --build auto: use the service if it can build the log within this

# --- a realistic stream of journal entries ------------------------------------------------------------


def _recognition(rnd: random.Random, learners: int, issuers: int) -> service.Recognition:
    return service.Recognition(
        learner_id=LearnerId(f"lrn_{rnd.randrange(learners):07d}"),
        issuer_id=InstitutionId(f"ins_{rnd.randrange(issuers):03d}"),
        credits=Decimal(rnd.choice(["0.50", "1.00", "1.50", "2.00", "2.50", "3.00", "4.00", "6.00"])),
        category=rnd.choice(["vocational", "community", "degree", "mooc"]),
        level=rnd.randint(2, 6),
        field=rnd.choice(["computing", "nursing", "logistics", "accounting"]),
        rule_id="bj-training-hours",
        rule_version="1",
        rule_set_hash="ab" * 32,
        outcome_id=random_id("out"),
    )


@dataclass
class Workload:
    """Entry specs in log order: mostly recognitions, some conversions of earlier lots, some reversals
    of earlier conversions (which free the lots again). Lots and conversions become eligible only once
    the batch that created them is in the log (:meth:`settle`)."""

    seed: int = 25
    learners: int = 100_000
    issuers: int = 50
    conversion_rate: float = 0.08
    reversal_rate: float = 0.02
    seq: int = 0
    rnd: random.Random = field(init=False)
    _free: dict[str, list[tuple[str, Decimal]]] = field(default_factory=dict)
    _with_free: list[str] = field(default_factory=list)
    _pending_lots: list[tuple[str, str, Decimal]] = field(default_factory=list)
    _conversions: list[tuple[int, str, str, list[tuple[str, Decimal]]]] = field(default_factory=list)
    _pending_conversions: list[tuple[int, str, str, list[tuple[str, Decimal]]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rnd = random.Random(self.seed)

    def recognitions_only(self, n: int) -> list[service.EntrySpec]:
        specs = [
            service.recognition_entry(_recognition(self.rnd, self.learners, self.issuers))[0]
            for _ in range(n)
        ]
        self.seq += n
        return specs

    def batch(self, n: int) -> list[service.EntrySpec]:
        specs: list[service.EntrySpec] = []
        for _ in range(n):
            roll = self.rnd.random()
            spec = None
            if roll < self.reversal_rate and self._conversions:
                spec = self._reversal()
            elif roll < self.reversal_rate + self.conversion_rate and self._with_free:
                spec = self._conversion()
            if spec is None:
                spec, lot = service.recognition_entry(_recognition(self.rnd, self.learners, self.issuers))
                self._pending_lots.append((lot.learner_id, lot.id, lot.credits))
            specs.append(spec)
            self.seq += 1
        return specs

    def settle(self) -> None:
        for learner, lot_id, credits in self._pending_lots:
            lots = self._free.setdefault(learner, [])
            if not lots:
                self._with_free.append(learner)
            lots.append((lot_id, credits))
        self._pending_lots.clear()
        self._conversions.extend(self._pending_conversions)
        self._pending_conversions.clear()

    def _conversion(self) -> service.EntrySpec | None:
        while self._with_free:
            i = self.rnd.randrange(len(self._with_free))
            learner = self._with_free[i]
            lots = self._free.get(learner, [])
            if lots:
                break
            self._with_free[i] = self._with_free[-1]
            self._with_free.pop()
        else:
            return None
        take = [lots.pop() for _ in range(min(len(lots), self.rnd.choice([1, 1, 2])))]
        spec = _conversion_spec(learner, take, f"prog_{self.rnd.randrange(200):03d}", "ins_dest")
        self._pending_conversions.append((self.seq, spec.tx_id, learner, take))
        return spec

    def _reversal(self) -> service.EntrySpec:
        i = self.rnd.randrange(len(self._conversions))
        seq, tx_id, learner, lots = self._conversions[i]
        self._conversions[i] = self._conversions[-1]
        self._conversions.pop()
        spec = _reversal_spec(seq, tx_id, learner, lots)
        self._pending_lots.extend((learner, lot_id, credits) for lot_id, credits in lots)
        return spec


def _conversion_spec(
    learner: str, lots: Sequence[tuple[str, Decimal]], programme: str, institution: str
) -> service.EntrySpec:
    """What ``service.convert_lots`` appends, built without its reads."""
    postings: list[service.PostingSpec] = []
    for lot_id, credits in lots:
        postings.append(
            service.PostingSpec(
                service.available_account(learner),
                AccountKind.learner_available,
                learner,
                -credits,
                LotId(lot_id),
            )
        )
        postings.append(
            service.PostingSpec(
                service.converted_account(learner),
                AccountKind.learner_converted,
                learner,
                credits,
                LotId(lot_id),
            )
        )
    spec = service.EntrySpec(
        kind=TxKind.conversion,
        learner_id=LearnerId(learner),
        postings=postings,
        details={"programme": programme, "institution": institution},
    )
    spec.lock_lots = [
        LotLock.model_construct(
            lot_id=lot_id, conversion_tx_id=spec.tx_id, programme_id=programme, institution_id=institution
        )
        for lot_id, _ in lots
    ]
    return spec


def _reversal_spec(
    seq: int, tx_id: str, learner: str, lots: Sequence[tuple[str, Decimal]]
) -> service.EntrySpec:
    """What ``service.reverse`` appends for a conversion: the mirrored postings, freeing its lots."""
    conversion = _conversion_spec(learner, lots, "-", "-")
    return service.EntrySpec(
        kind=TxKind.reversal,
        learner_id=LearnerId(learner),
        postings=[
            service.PostingSpec(p.account, p.kind, p.owner, -p.amount, p.lot_id) for p in conversion.postings
        ],
        reverses=JournalTransaction.model_construct(id=tx_id, seq=seq),
        unlock_lots=sorted(lot_id for lot_id, _ in lots),
        details={"reason": "benchmark", "by": "bench", "reversed_kind": "conversion"},
    )


# --- raw rows: the same tables written without the service --------------------------------------------


@dataclass
class RawRows:
    """Rows of one append, prepared in advance (leaves, hashes, nodes), ready for INSERT or COPY."""

    transactions: list[tuple[Any, ...]] = field(default_factory=list)
    postings: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[tuple[Any, ...]] = field(default_factory=list)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    size: int = 0
    frontier: bytes = b""


LOT_COLUMNS = (
    "id, learner_id, issuer_id, outcome_id, credits, category, level, field, rule_id, rule_version, "
    "rule_set_hash, recognition_tx_id, expires_on, created_at"
)


class RowBuilder:
    """Turns entry specs into the rows ``service.append`` writes, with a genuine Merkle tree."""

    def __init__(self, log_id: str) -> None:
        self.log_id = log_id
        self.frontier = merkle.Frontier()
        self.balances: dict[str, tuple[str, str, Decimal]] = {}
        self.locks: dict[str, tuple[str, str, str, str]] = {}

    def rows(self, specs: Sequence[service.EntrySpec]) -> RawRows:
        out = RawRows()
        now = utcnow()
        for spec in specs:
            seq = self.frontier.size
            leaf = service.build_leaf(self.log_id, seq, spec, now)
            for level, idx, value in self.frontier.append(merkle.leaf_hash(leaf)):
                out.nodes.append((self.log_id, level, idx, value))
            out.transactions.append(
                (
                    spec.tx_id,
                    self.log_id,
                    seq,
                    spec.kind.value,
                    spec.learner_id,
                    spec.reverses.id if spec.reverses is not None else None,
                    len(spec.postings),
                    now,
                    leaf,
                )
            )
            for position, p in enumerate(spec.postings):
                out.postings.append((spec.tx_id, position, p.account, p.amount, p.lot_id))
                kind, owner, balance = self.balances.get(p.account, (p.kind.value, p.owner, Decimal(0)))
                self.balances[p.account] = (kind, owner, balance + p.amount)
            for lot in spec.new_lots:
                out.lots.append(
                    (
                        lot.id,
                        lot.learner_id,
                        lot.issuer_id,
                        lot.outcome_id,
                        lot.credits,
                        lot.category,
                        lot.level,
                        lot.field,
                        lot.rule_id,
                        lot.rule_version,
                        lot.rule_set_hash,
                        spec.tx_id,
                        lot.expires_on,
                        now,
                    )
                )
            for lock in spec.lock_lots:
                self.locks[lock.lot_id] = (lock.lot_id, spec.tx_id, lock.programme_id, lock.institution_id)
            for lot_id in spec.unlock_lots:
                self.locks.pop(lot_id, None)
        out.size = self.frontier.size
        out.frontier = self.frontier.to_bytes()
        return out


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def write_rows_copy(conn: psycopg.Connection[Any], rows: RawRows) -> None:
    with conn.cursor() as cur:
        _copy(cur, "tlog_nodes", "log_id, level, idx, hash", rows.nodes)
        _copy(
            cur,
            "ledger_transactions",
            "id, log_id, seq, kind, learner_id, reverses_id, posting_count, created_at, leaf",
            rows.transactions,
        )
        _copy(cur, "ledger_postings", "transaction_id, position, account_id, amount, lot_id", rows.postings)
        _copy(cur, "ledger_lots", LOT_COLUMNS, rows.lots)
        cur.execute(
            "UPDATE tlog_logs SET size = %s, frontier = %s WHERE id = %s",
            (rows.size, rows.frontier, rows.transactions[0][1]),
        )


def write_rows_insert(conn: psycopg.Connection[Any], rows: RawRows) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO tlog_nodes (log_id, level, idx, hash) VALUES (%s, %s, %s, %s)", rows.nodes
        )
        cur.executemany(
            "INSERT INTO ledger_transactions (id, log_id, seq, kind, learner_id, reverses_id, posting_count, "
            "created_at, leaf) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows.transactions,
        )
        cur.executemany(
            "INSERT INTO ledger_postings (transaction_id, position, account_id, amount, lot_id) "
            "VALUES (%s, %s, %s, %s, %s)",
            rows.postings,
        )
        cur.executemany(
            f"INSERT INTO ledger_lots ({LOT_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})",
            rows.lots,
        )
        cur.execute(
            "UPDATE tlog_logs SET size = %s, frontier = %s WHERE id = %s",
            (rows.size, rows.frontier, rows.transactions[0][1]),
        )


def create_accounts(conn: psycopg.Connection[Any], builder: RowBuilder) -> None:
    """The accounts the rows refer to (foreign keys), with their final balances."""
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bench_accounts (id text, kind text, owner_id text, balance numeric)")
        _copy(
            cur,
            "bench_accounts",
            "id, kind, owner_id, balance",
            [(a, kind, owner, balance) for a, (kind, owner, balance) in builder.balances.items()],
        )
        cur.execute(
            "INSERT INTO ledger_accounts (id, kind, owner_id, balance) "
            "SELECT id, kind, owner_id, balance FROM bench_accounts "
            "ON CONFLICT (id) DO UPDATE SET balance = ledger_accounts.balance + EXCLUDED.balance"
        )
        cur.execute("DROP TABLE bench_accounts")


# --- the measurements -----------------------------------------------------------------------------------


@dataclass
class Bench:
    ctx: AppContext
    raw_url: str
    table: Table
    results: dict[str, Any]
    profile: bool

    def new_log(self, log_id: str) -> None:
        for session in transaction(self.ctx.sessions):
            store.ensure_log(
                session, self.ctx.secrets.master_key, log_id, store.origin_for("http://bench.example", log_id)
            )

    # (a) --------------------------------------------------------------------------------------------------

    def append_single(self, n: int) -> float:
        self.new_log("single")
        workload = Workload(seed=1)
        specs = workload.recognitions_only(n)
        _as_served()
        with stopwatch() as elapsed:
            for spec in specs:
                for session in transaction(self.ctx.sessions):
                    service.append(session, "single", [spec])
        return n / elapsed[0]

    def append_batched(self, n: int) -> float:
        self.new_log("batched")
        workload = Workload(seed=2)
        batches = [workload.recognitions_only(BATCH) for _ in range(n // BATCH)]
        _as_served()
        profiler = cProfile.Profile() if self.profile else None
        with stopwatch() as elapsed:
            if profiler:
                profiler.enable()
            for specs in batches:
                for session in transaction(self.ctx.sessions):
                    service.append(session, "batched", specs)
            if profiler:
                profiler.disable()
        if profiler:
            self.results["profile_append_batched"] = _top(profiler)
        self.results["append_batched_time"] = {"wall_s": elapsed[0], "python_cpu_s": elapsed[1]}
        return len(batches) * BATCH / elapsed[0]

    def raw_baseline(self, n: int, per_transaction: int, writer: Callable[..., None], log_id: str) -> float:
        self.new_log(log_id)
        builder = RowBuilder(log_id)
        workload = Workload(seed=3)
        prepared = [
            builder.rows(workload.recognitions_only(per_transaction)) for _ in range(n // per_transaction)
        ]
        with psycopg.connect(self.raw_url) as conn:
            create_accounts(conn, builder)
            conn.commit()
            with stopwatch() as elapsed:
                for rows in prepared:
                    writer(conn, rows)
                    conn.commit()
        return len(prepared) * per_transaction / elapsed[0]

    # (b) --------------------------------------------------------------------------------------------------

    def build_with_service(self, log_id: str, entries: int, checkpoint_at: int) -> float:
        workload = Workload(seed=4)
        with stopwatch() as elapsed:
            while workload.seq < entries:
                specs = workload.batch(min(BATCH, entries - workload.seq))
                for session in transaction(self.ctx.sessions):
                    service.append(session, log_id, specs)
                workload.settle()
                if workload.seq == checkpoint_at:
                    self.publish(log_id)
                _progress("built", workload.seq, entries)
        return entries / elapsed[0]

    def build_with_copy(self, log_id: str, entries: int, checkpoint_at: int) -> float:
        """Generate the entries (the service's leaf encoder, a genuine tree) and write them with COPY,
        1,000 at a time as they are generated (memory stays flat at any size)."""
        workload = Workload(seed=4)
        builder = RowBuilder(log_id)
        with stopwatch() as elapsed, psycopg.connect(self.raw_url) as conn:
            # A bulk load of rows generated consistent (the audit checks them all afterwards): the
            # triggers (foreign keys, the deferred zero-sum check, append-only guards) stay off
            # for this session, as in a restore (superuser only).
            conn.execute("SET session_replication_role = replica")
            batches = 0
            while workload.seq < entries:
                specs = workload.batch(min(BATCH, entries - workload.seq))
                rows = builder.rows(specs)
                workload.settle()
                write_rows_copy(conn, rows)
                batches += 1
                if batches % 50 == 0 or rows.size in (entries, checkpoint_at):
                    conn.commit()
                    _progress("built", rows.size, entries)
                if rows.size == checkpoint_at:
                    self.publish(log_id)
            # the accounts last, with their final balances (the foreign keys are off meanwhile)
            create_accounts(conn, builder)
            with conn.cursor() as cur:
                _copy(
                    cur,
                    "ledger_lot_locks",
                    "lot_id, conversion_tx_id, programme_id, institution_id",
                    list(builder.locks.values()),
                )
            conn.commit()
        return entries / elapsed[0]

    def publish(self, log_id: str) -> None:
        for session in transaction(self.ctx.sessions):
            store.publish_checkpoint(session, self.ctx.secrets.master_key, log_id)

    def proofs(self, log_id: str, size: int, requests: int, base_url: str) -> dict[str, Any]:
        """Proof latencies. The benchmark process's own garbage collector is paused while it
        measures (a full collection of its big heap would land in the figures as the server's
        latency), and each client first sends 50 unmeasured requests (connections, caches)."""
        gc.collect()
        gc.disable()
        try:
            return self._proofs(log_id, size, requests, base_url)
        finally:
            gc.enable()

    def _proofs(self, log_id: str, size: int, requests: int, base_url: str) -> dict[str, Any]:
        rnd = random.Random(7)
        indexes = [rnd.randrange(size) for _ in range(requests)]
        firsts = [rnd.randrange(1, size) for _ in range(requests)]
        out: dict[str, Any] = {}
        # through the store, one session per request (as the endpoint does)
        for warm in range(50):
            with self.ctx.sessions() as session:
                store.inclusion(session, log_id, warm % size, None)
        samples: list[float] = []
        for index in indexes:
            start = time.perf_counter()
            with self.ctx.sessions() as session:
                leaf_hash, proof, cp = store.inclusion(session, log_id, index, None)
            samples.append(time.perf_counter() - start)
            merkle.verify_inclusion(leaf_hash, index, cp.size, proof, cp.root)
        out["inclusion_store"] = percentiles(samples)
        samples = []
        for first in firsts:
            start = time.perf_counter()
            with self.ctx.sessions() as session:
                store.consistency(session, log_id, first, None)
            samples.append(time.perf_counter() - start)
        out["consistency_store"] = percentiles(samples)
        # over HTTP: in process (TestClient: routing, dependencies, JSON, no network), and from a
        # uvicorn server process over loopback TCP with a keep-alive client
        clients: list[tuple[str, httpx.Client]] = [
            ("testclient", TestClient(create_app(ctx=self.ctx))),
            ("server", httpx.Client(base_url=base_url)),
        ]
        for transport, client in clients:
            with client:
                for warm in range(50):
                    client.get(f"/logs/{log_id}/proof/inclusion", params={"index": warm % size})
                for kind, params in (
                    ("inclusion", [{"index": i} for i in indexes]),
                    ("consistency", [{"first": f} for f in firsts]),
                ):
                    samples = []
                    for query in params:
                        start = time.perf_counter()
                        response = client.get(f"/logs/{log_id}/proof/{kind}", params=query)
                        samples.append(time.perf_counter() - start)
                        assert response.status_code == 200, response.text
                    out[f"{kind}_{transport}"] = percentiles(samples)
        # a page of 1,000 entries from the server (what the audit downloads 1,000 times)
        with httpx.Client(base_url=base_url, timeout=60) as client:
            samples = []
            for _ in range(min(requests, 200)):
                start_index = rnd.randrange(max(1, size - BATCH))
                start = time.perf_counter()
                response = client.get(
                    f"/logs/{log_id}/entries", params={"start": start_index, "end": start_index + BATCH}
                )
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200 and len(response.json()["entries"]) == BATCH
            out["entries_page_server"] = percentiles(samples)
        return out

    # (c) --------------------------------------------------------------------------------------------------

    def audit_from_db(self, log_id: str, size: int, root: bytes) -> dict[str, Any]:
        """The audit's hashing, root and replay fed from database rows (streamed), and from memory."""
        out: dict[str, Any] = {}
        leaves: list[bytes] = []
        with stopwatch() as read, psycopg.connect(self.raw_url) as conn, conn.cursor(name="leaves") as cur:
            cur.itersize = 20_000
            cur.execute(
                "SELECT leaf FROM ledger_transactions WHERE log_id = %s AND seq < %s ORDER BY seq",
                (log_id, size),
            )
            for (leaf,) in cur:
                leaves.append(leaf)
        out["read_leaves_s"] = read[0]
        # plain SHA-256 of the same bytes: the floor
        sha = hashlib.sha256
        with stopwatch() as raw:
            for leaf in leaves:
                sha(leaf).digest()
        out["raw_sha256_s"] = raw[0]
        # what the audit does per leaf: leaf hash, frontier, replay
        profiler = cProfile.Profile() if self.profile else None
        with stopwatch() as audit:
            if profiler:
                profiler.enable()
            frontier = merkle.Frontier()
            replay = Replay(log_id)
            prefix = merkle.LEAF_PREFIX
            for leaf in leaves:
                frontier.append(sha(prefix + leaf).digest())
                replay.feed(leaf)
            if profiler:
                profiler.disable()
        if profiler:
            self.results["profile_audit_replay"] = _top(profiler)
        assert frontier.root() == root, "the recomputed root differs from the checkpoint"
        assert replay.ok, [str(f) for f in replay.findings[:5]]
        out["replay_and_root_s"] = audit[0]
        out["replay_and_root_cpu_s"] = audit[1]
        with stopwatch() as parse:
            for leaf in leaves:
                replay._load(leaf)
        out["json_parse_s"] = parse[0]
        with stopwatch() as no_canonical:
            quick = Replay(log_id, check_canonical=False)
            for leaf in leaves:
                quick.feed(leaf)
        out["replay_without_canonical_check_s"] = no_canonical[0]
        with stopwatch() as hashing:
            frontier = merkle.Frontier()
            for leaf in leaves:
                frontier.append(sha(prefix + leaf).digest())
        out["hash_and_root_s"] = hashing[0]
        out["replay_stats"] = {"kinds": replay.stats().kinds, "lots": replay.stats().lots}
        out["mean_leaf_bytes"] = sum(map(len, leaves)) / max(1, len(leaves))
        return out

    def audit_database(self) -> dict[str, Any]:
        """``audit database`` (all logs, all served tables) against the baseline: plain ``SELECT``s that
        stream the journal in seq order and every other table the audit compares, in one snapshot, rows
        fetched and dropped (no parsing, no comparison)."""
        with stopwatch() as raw, audit_db.snapshot(self.ctx.engine) as driver:
            db = audit_db.Db(driver)
            rows = 0
            logs = [row[0] for row in db.all("SELECT id FROM tlog_logs")]
            for log_id in logs:
                rows += sum(1 for _ in db.stream(audit_db._TX_SQL, (log_id,)))
            for table in (
                "ledger_postings",
                "ledger_lots",
                "tlog_nodes",
                "ledger_accounts",
                "ledger_lot_locks",
                "recognitions",
                "outcomes",
            ):
                rows += sum(1 for _ in db.stream(f"SELECT * FROM {table}"))
        profiler = cProfile.Profile() if self.profile else None
        load_before = os.getloadavg()
        with (
            stopwatch() as elapsed,
            audit_db.snapshot(self.ctx.engine) as driver,
            audit_db.helper_connection(self.ctx.engine) as helper,
        ):
            if profiler:
                profiler.enable()
            report = audit_db.audit_database(
                driver, progress=lambda step: print(f"  audit database: {step}"), helper=helper
            )
            if profiler:
                profiler.disable()
        if profiler:
            self.results["profile_audit_database"] = _top(profiler)
        assert report.ok, [str(d) for d in report.differences[:5]]
        entries = sum(report.entries.values())
        return {
            "engine": report.engine,
            "load_average_before_after": [list(load_before), list(os.getloadavg())],
            "seconds": elapsed[0],
            "python_cpu_s": elapsed[1],
            "entries": entries,
            "entries_per_s": entries / elapsed[0],
            "rows_compared": report.rows,
            "raw_read_s": raw[0],
            "raw_read_python_cpu_s": raw[1],
            "raw_read_rows": rows,
            "over_raw_read": elapsed[0] / raw[0],
        }

    def audit_over_http(self, log_id: str, base_url: str, server_pid: int) -> dict[str, Any]:
        """``run_verify`` as ``creditbank audit verify`` runs it: httpx against the server process."""
        key_text = ""
        for session in transaction(self.ctx.sessions):
            key_text = store.verifier(store.get_log(session, log_id)).to_text()
        profiler = cProfile.Profile() if self.profile else None
        server_cpu = process_cpu_seconds(server_pid)
        with httpx.Client(base_url=base_url, timeout=120) as client, stopwatch() as elapsed:
            if profiler:
                profiler.enable()
            report = run_verify(client, NoteVerifier.parse(key_text), log_id=log_id, progress=True)
            if profiler:
                profiler.disable()
        if profiler:
            self.results["profile_audit_http_client"] = _top(profiler)
        server_cpu = process_cpu_seconds(server_pid) - server_cpu
        assert report.ok, [str(f) for f in report.findings[:5]]
        return {
            "seconds": elapsed[0],
            "client_cpu_s": elapsed[1],
            "server_cpu_s": server_cpu,
            "entries": report.entries,
        }


PROJECTIONS = [
    # the rows posting would have written beside each lot: its institution, learner, outcome and
    # recognition (the workload's lots name outcomes that only the journal knows)
    "INSERT INTO institutions (id, name_zh, name_en, credit_code, kind, district, created_at) "
    "SELECT issuer_id, issuer_id, issuer_id, upper(left(md5(issuer_id), 18)), 'vocational_school', 'bench', "
    "now() FROM (SELECT DISTINCT issuer_id FROM ledger_lots) i ON CONFLICT DO NOTHING",
    "INSERT INTO learners (id, lookup_hmac, registered_by, created_at) "
    "SELECT learner_id, md5(learner_id), NULL, now() FROM (SELECT DISTINCT learner_id FROM ledger_lots) l "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO outcomes (id, learner_id, institution_id, reference, outcome_type, title, achieved_on, "
    "identity_verified, attributes, request_hash, created_at) "
    "SELECT outcome_id, learner_id, issuer_id, outcome_id, 'training_course', 'bench', DATE '2026-01-01', "
    "false, '{}'::json, md5(outcome_id), now() FROM ledger_lots WHERE outcome_id IS NOT NULL "
    "ON CONFLICT DO NOTHING",
    "INSERT INTO recognitions (outcome_id, status, credits, level, category, field, rule_id, rule_version, "
    "rule_set_id, rule_set_version, rule_set_hash, explanation_zh, explanation_en, expires_on, lot_id, "
    "updated_at) "
    "SELECT outcome_id, 'recognised', credits, level, category, field, rule_id, rule_version, 'bench', '1', "
    "rule_set_hash, '', '', expires_on, id, now() FROM ledger_lots WHERE outcome_id IS NOT NULL "
    "ON CONFLICT DO NOTHING",
]


def add_projections(url: str) -> None:
    """Write the served rows of every lot that has none (see :data:`PROJECTIONS`), before (d)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in PROJECTIONS:
            conn.execute(sql)
        conn.execute("VACUUM (ANALYZE) institutions, learners, outcomes, recognitions")


def settle(url: str) -> None:
    """Bring the freshly built log to the state of a live one before reading from it: statistics
    and visibility maps made (``VACUUM (ANALYZE)``; otherwise autovacuum starts on a million new
    rows during the measurements) and the dirty pages written (``CHECKPOINT``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "VACUUM (ANALYZE) ledger_transactions, ledger_postings, ledger_lots, ledger_accounts, tlog_nodes"
        )
        conn.execute("CHECKPOINT")


def _as_served() -> None:
    """The garbage collector as in a served process (``creditbank.main``): a higher first-generation
    threshold, and what exists now (here the prepared workload) frozen out of full collections."""
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    gc.collect()
    gc.freeze()


def _top(profiler: cProfile.Profile, limit: int = 15) -> list[str]:
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(limit)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    return lines[-(limit + 1) :]


_last_progress = [0.0]


def _progress(what: str, done: int, total: int) -> None:
    now = time.monotonic()
    if now - _last_progress[0] > 10 or done == total:
        _last_progress[0] = now
        print(f"  {what} {done:,} / {total:,}", flush=True)


def _status(value: float, target: float, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "meets target" if ok else "MISSES target"


def _built(server_url: str, entries: int) -> bool:
    """Whether the server holds a bench database whose log "big" has ``entries`` entries and the
    served rows of (d) (a run with ``--keep-database`` got that far)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'bench_ledger'").fetchone():
            return False
    with psycopg.connect(server_url.rsplit("/", 1)[0] + "/bench_ledger") as conn:
        try:
            size = conn.execute("SELECT count(*) FROM ledger_transactions WHERE log_id = 'big'").fetchone()
            served = conn.execute("SELECT count(*) FROM recognitions").fetchone()
        except psycopg.errors.UndefinedTable:
            return False
    return size is not None and size[0] == entries and served is not None and served[0] > 0


def database_audit(bench: Bench, table: Table, results: dict[str, Any], entries: int) -> None:
    print("(d) audit database", flush=True)
    audit = bench.audit_database()
    results["database_audit"] = audit
    table.add(
        "baseline: plain SELECTs streaming the journal and every compared table",
        audit["raw_read_s"],
        "s",
        f"{audit['raw_read_rows']:,} rows; Python CPU {audit['raw_read_python_cpu_s']:.1f} s",
    )
    table.add(
        f"audit database ({audit['entries']:,} entries in all logs, every served table; "
        f"recomputed by {audit['engine']})",
        audit["seconds"],
        "s",
        f"{audit['entries_per_s']:,.0f} entries/s; x{audit['over_raw_read']:.1f} the baseline; "
        f"Python CPU {audit['python_cpu_s']:.1f} s; target < {TARGET_DATABASE_AUDIT_S:.0f} s at 1,000,000: "
        + _status(audit["seconds"], TARGET_DATABASE_AUDIT_S, False),
    )


def run_all(
    bench: Bench,
    table: Table,
    results: dict[str, Any],
    args: argparse.Namespace,
    url: str,
    ctx: AppContext,
    settings: Settings,
) -> None:
    """(a), (b), (c) and (d) on one log."""
    server: ServerProcess | None = None
    try:
        print("(a) append throughput", flush=True)
        single = bench.append_single(args.single)
        raw_single = bench.raw_baseline(args.single, 1, write_rows_insert, "raw_single")
        batched = bench.append_batched(args.batched)
        raw_batched = bench.raw_baseline(args.batched, BATCH, write_rows_copy, "raw_batched")
        results["append"] = {
            "single_entries_per_s": single,
            "raw_single_entries_per_s": raw_single,
            "single_raw_over_service": raw_single / single,
            "batched_entries_per_s": batched,
            "raw_batched_entries_per_s": raw_batched,
            "batched_raw_over_service": raw_batched / batched,
            "batch_size": BATCH,
        }
        table.add("append, 1 recognition per transaction (service)", single, "entries/s")
        table.add(
            "  raw INSERTs of the same rows, 1 per transaction",
            raw_single,
            "entries/s",
            f"x{raw_single / single:.1f}",
        )
        timing = results["append_batched_time"]
        table.add(
            f"append, {BATCH:,} recognitions per call (service)",
            batched,
            "entries/s",
            f"target >= {TARGET_APPEND:,.0f}: {_status(batched, TARGET_APPEND, True)}; "
            f"Python CPU {timing['python_cpu_s'] / timing['wall_s']:.0%} of the time",
        )
        table.add(
            f"  raw COPY of the same rows, {BATCH:,} per transaction",
            raw_batched,
            "entries/s",
            f"x{raw_batched / batched:.1f}",
        )
        if args.only_append:
            return

        print(f"(b) building a log of {args.entries:,} entries", flush=True)
        method = args.build
        if method == "auto":
            method = "service" if batched * SERVICE_BUILD_BUDGET_S >= args.entries else "copy"
        bench.new_log("big")
        build = bench.build_with_service if method == "service" else bench.build_with_copy
        build_rate = build("big", args.entries, args.entries // 2)
        bench.publish("big")
        settle(url)
        with ctx.sessions() as session:
            checkpoint = store.latest_checkpoint(session, "big")
            assert checkpoint is not None and checkpoint.size == args.entries
            root = checkpoint.root
            stored_nodes = session.execute(
                text("SELECT count(*) FROM tlog_nodes WHERE log_id = 'big'")
            ).scalar_one()
        how = (
            "service.append, mixed batches of 1,000"
            if method == "service"
            else "generated: build_leaf + Frontier, written with COPY"
        )
        results["build"] = {
            "method": how,
            "entries": args.entries,
            "entries_per_s": build_rate,
            "nodes": stored_nodes,
        }
        table.add(f"build the {args.entries:,}-entry log ({how})", build_rate, "entries/s")
        server = ServerProcess(url, settings.var_dir, publisher=False).start()
        proofs = bench.proofs("big", args.entries, args.requests, server.base_url)
        results["proofs"] = proofs
        page = proofs["entries_page_server"]
        table.add(
            f"GET entries, one page of {BATCH:,} at {args.entries:,}: p50 / p99",
            f"{page['p50_ms']:.1f} / {page['p99_ms']:.1f}",
            "ms",
        )
        for name, label, judged in (
            ("inclusion_store", "inclusion proof, store", True),
            ("consistency_store", "consistency proof, store", True),
            # Starlette's test client runs the app in the benchmark's own process and thread pool: a
            # diagnostic of the routing cost, not how the endpoint is served
            ("inclusion_testclient", "inclusion proof, HTTP in process", False),
            ("consistency_testclient", "consistency proof, HTTP in process", False),
            ("inclusion_server", "inclusion proof, HTTP to uvicorn", True),
            ("consistency_server", "consistency proof, HTTP to uvicorn", True),
        ):
            stats = proofs[name]
            table.add(
                f"{label} at {args.entries:,}: p50 / p99",
                f"{stats['p50_ms']:.2f} / {stats['p99_ms']:.2f}",
                "ms",
                f"target p99 < {TARGET_PROOF_MS:.0f} ms: {_status(stats['p99_ms'], TARGET_PROOF_MS, False)}"
                if judged
                else "test client in the same process: not judged",
            )

        print("(c) audit", flush=True)
        audit = bench.audit_from_db("big", args.entries, root)
        ratio = audit["replay_and_root_s"] / audit["raw_sha256_s"]
        table.add("read all leaves from PostgreSQL", audit["read_leaves_s"], "s")
        table.add("raw SHA-256 of the same leaf bytes", audit["raw_sha256_s"], "s")
        table.add("leaf hashes + root (Frontier)", audit["hash_and_root_s"], "s")
        table.add("  of which: JSON parsing of the leaves", audit["json_parse_s"], "s")
        table.add(
            "  replay without the RFC 8785 canonical check", audit["replay_without_canonical_check_s"], "s"
        )
        table.add(
            "leaf hashes + root + replay of the invariants",
            audit["replay_and_root_s"],
            "s",
            f"x{ratio:.0f} raw SHA-256; {audit['replay_and_root_cpu_s']:.1f} s of CPU",
        )
        from_db = audit["read_leaves_s"] + audit["replay_and_root_s"]
        table.add(
            "audit fed from the database (read + hash + root + replay)",
            from_db,
            "s",
            f"target < {TARGET_AUDIT_S:.0f} s: {_status(from_db, TARGET_AUDIT_S, False)}",
        )
        assert server.process is not None
        http = bench.audit_over_http("big", server.base_url, server.process.pid)
        audit["http_end_to_end_s"] = http["seconds"]
        audit["http_client_cpu_s"] = http["client_cpu_s"]
        audit["http_server_cpu_s"] = http["server_cpu_s"]
        audit["replay_over_raw_sha256"] = ratio
        results["audit"] = audit
        table.add(
            "audit verify end to end over HTTP (uvicorn, loopback)",
            http["seconds"],
            "s",
            f"target < {TARGET_AUDIT_S:.0f} s: {_status(http['seconds'], TARGET_AUDIT_S, False)}; "
            f"CPU: client {http['client_cpu_s']:.1f} s, server {http['server_cpu_s']:.1f} s",
        )
        add_projections(url)
        database_audit(bench, table, results, args.entries)
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the log for (b) and (c)")
    parser.add_argument("--single", type=int, default=1_000, help="single-recognition transactions in (a)")
    parser.add_argument("--batched", type=int, default=50_000, help="recognitions appended in batches in (a)")
    parser.add_argument("--requests", type=int, default=1_000, help="proof requests of each kind")
    parser.add_argument("--build", choices=["auto", "service", "copy"], default="auto")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 entries")
    parser.add_argument("--profile", action="store_true", help="cProfile the batched append and the audit")
    parser.add_argument(
        "--only-append", action="store_true", help="(a) alone: the in-process append against raw writes"
    )
    parser.add_argument(
        "--only-database-audit",
        action="store_true",
        help="skip (a), the proofs and (c): build the log by COPY and measure (d) alone",
    )
    parser.add_argument(
        "--keep-database",
        type=Path,
        metavar="DIR",
        help="with --only-database-audit: keep the server's data in DIR, and reuse the log built there",
    )
    args = parser.parse_args()
    if args.only_database_audit and args.build == "auto":
        args.build = "copy"
    if args.quick:
        args.entries, args.single, args.batched, args.requests = 20_000, 200, 5_000, 200

    scale = (
        f"append alone: {args.single:,} single, {args.batched:,} batched"
        if args.only_append
        else f"{args.entries:,} entries"
    )
    table = Table(f"ledger benchmark: {scale}, PostgreSQL with fsync on")
    arguments = {key: str(v) if isinstance(v, Path) else v for key, v in vars(args).items()}
    results: dict[str, Any] = {"arguments": arguments, "load_average_at_start": list(os.getloadavg())}
    if args.keep_database and not args.only_database_audit:
        parser.error("--keep-database goes with --only-database-audit")
    pg = start_postgres_server(args.keep_database)
    engine = None
    try:
        built = args.keep_database is not None and _built(pg.url(), args.entries)
        url = pg.url("bench_ledger") if built else pg.create_database("bench_ledger")
        engine = create_engine(url, pool_size=4)
        upgrade(engine)
        settings = Settings(
            # a kept database keeps its secrets beside it: a new master key would not open it
            var_dir=(
                args.keep_database / "var"
                if args.keep_database
                else Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
            ),
            database_url=url,
            base_url="http://bench.example",
            background_publisher=False,
            log_level="WARNING",
        )
        ctx = build_context(settings, engine=engine)
        ensure_default_log(ctx)
        bench = Bench(ctx, url, table, results, args.profile)

        if args.only_database_audit and built:
            results["build"] = {"method": f"reused from {args.keep_database}", "entries": args.entries}
            table.add(f"the {args.entries:,}-entry log", f"reused from {args.keep_database}")
            database_audit(bench, table, results, args.entries)
        elif args.only_database_audit:
            bench.new_log("big")
            rate = bench.build_with_copy("big", args.entries, args.entries // 2)
            bench.publish("big")
            settle(url)
            results["build"] = {"method": "generated, COPY", "entries": args.entries, "entries_per_s": rate}
            table.add(f"build the {args.entries:,}-entry log (generated, COPY)", rate, "entries/s")
            add_projections(url)
            database_audit(bench, table, results, args.entries)
        else:
            run_all(bench, table, results, args, url, ctx, settings)
    finally:
        if engine is not None:
            engine.dispose()
        pg.stop()

    table.print()
    for key in (
        "profile_append_batched",
        "profile_audit_replay",
        "profile_audit_http_client",
        "profile_audit_database",
    ):
        if key in results:
            print(f"{key} (cProfile, by own time):")
            print("\n".join(results[key]))
            print()
    name = "ledger-quick" if args.quick else "ledger"
    if args.only_append:
        name = "ledger-append"
    if args.only_database_audit:
        name = f"ledger-database-audit-{args.entries}"
    print(f"written {write_results(name, results)}")


if __name__ == "__main__":
    main()
