"""Posting benchmark over real HTTP on PostgreSQL.

* single posting: p50/p99 latency of POST /api/v1/outcomes at a fixed arrival rate (open loop);
* batch posting: outcomes/s end to end (HTTP, rules, outcome rows, ledger, Merkle tree) through
  POST /api/v1/outcomes/batch with 10,000 rows per request;
* baseline, same run, same server: raw INSERTs of the same number of outcome-shaped rows with
  psycopg (executemany in one transaction), so the ratio says what the bank costs over plain storage.

* with ``--cpu N``, instead: the CPU cost of one single posting, N postings sent closed loop from
  ``--cpu-clients`` connections, split between the service's processes and PostgreSQL's (user +
  system seconds from ``/proc``, every process of each tree), with PostgreSQL's statements per posting
  (``pg_stat_statements``: calls, rows, execution time) and, in the same run, the same number of bare
  one-row ``INSERT`` commits from as many connections as the baseline. CPU seconds per posting hold on
  a shared, loaded machine, where a rate does not.

* with ``--trigger-cost ROWS``, instead: what the statistics' triggers cost on the posting path, in one
  run on one server and database: rounds of ``ROWS`` batch-posted outcomes and ``--trigger-singles``
  single postings (closed loop), alternately with the triggers and with them disabled
  (``ALTER TABLE … DISABLE TRIGGER`` on every ``dashboard*`` trigger, by the database's owner), each
  with its wall time and the CPU seconds of the service and of PostgreSQL; the ratios with / without.

Run: .venv/bin/python bench/posting.py [--rate 100] [--seconds 20] [--batch-rows 50000]
     .venv/bin/python bench/posting.py --cpu 2000 [--cpu-clients 8] [--workers 2] [--py-spy DIR]
     .venv/bin/python bench/posting.py --trigger-cost 20000 [--trigger-singles 400] [--trigger-rounds 2]
"""

import argparse
import datetime as dt
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, descendants, outcome, tree_cpu_seconds, write_results  # noqa: E402
from pgwork import SETTINGS as PG_WORK_SETTINGS  # noqa: E402
from pgwork import current_lsn, print_written, snapshot, written_since  # noqa: E402

from tests.support.loadgen import Connection  # noqa: E402
from tests.support.postgres import OWNER, PostgresServer, start_postgres  # noqa: E402
from tests.support.server import ServerProcess, prepare_database  # noqa: E402
from tests.support.world import build_world  # noqa: E402


def single_at_rate(
    base: str,
    token: str,
    learners: list[str],
    rate: float,
    seconds: float,
    *,
    warmup: float = 5.0,
    prefix: str = "s",
) -> dict[str, float]:
    """Open loop: requests leave on a fixed schedule whether or not earlier ones have finished.

    The HTTP clients (32 keep-alive connections) are made before the clock starts, and the first
    ``warmup`` seconds of the schedule are sent but not measured (connections, caches). Each latency
    runs from the request's scheduled time to its answer.
    """
    total = int(rate * (seconds + warmup))
    measured_from = int(rate * warmup)
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    lock = threading.Lock()
    clients: queue.SimpleQueue[Connection] = queue.SimpleQueue()
    for _ in range(32):
        clients.put(Connection(base, timeout=30, headers={"Authorization": f"Bearer {token}"}))

    def send(i: int, at: float) -> None:
        nonlocal errors
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = outcome(learners[i % len(learners)], f"{prefix}-{i}", i)
        http = clients.get()
        try:
            r = http.post_json("/api/v1/outcomes", body, {"Idempotency-Key": f"{prefix}-{i}"})
            # from the scheduled time, not from the send: a request that had to wait for a free
            # connection (the server answering slowly) counts that wait (no coordinated omission)
            took = time.perf_counter() - at
        finally:
            clients.put(http)
        with lock:
            if r.status != 201:
                errors += 1
                if not first_error:
                    first_error.append(f"{r.status} {r.body[:300]!r}")
            elif i >= measured_from:
                latencies.append(took)

    t0 = time.perf_counter() + 0.5
    with ThreadPoolExecutor(32) as pool:
        for i in range(total):
            pool.submit(send, i, t0 + i / rate)
    elapsed = time.perf_counter() - t0
    while not clients.empty():
        clients.get().close()
    latencies.sort()
    if not latencies:
        raise SystemExit(f"no single posting succeeded ({errors} errors), the first: {first_error}")
    return {
        "requests": total - measured_from,
        "warmup_requests": measured_from,
        "errors": errors,
        "achieved_rate": total / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def batch(
    base: str,
    tokens: list[str],
    learners: list[str],
    rows: int,
    per_request: int,
    prefix: str,
    *,
    distinct: bool = False,
) -> dict[str, float]:
    """``rows`` outcomes in requests of ``per_request`` rows, one stream of requests per token, at once.

    The request bodies are built before the clock starts, so the figure is the bank's, not the
    load generator's JSON encoding.
    """
    streams = len(tokens)
    bodies: list[list[bytes]] = [[] for _ in tokens]
    share = rows // streams  # each upload the same number of rows, so they run side by side throughout
    for stream in range(streams):
        low, high = stream * share, rows if stream == streams - 1 else (stream + 1) * share
        for first in range(low, high, per_request):
            bodies[stream].append(
                "\n".join(
                    json.dumps(
                        outcome(learners[i % len(learners)], f"{prefix}-{i}", i, distinct=distinct),
                        ensure_ascii=False,
                    )
                    for i in range(first, min(high, first + per_request))
                ).encode()
            )

    def post(token: str, mine: list[bytes]) -> int:
        created = 0
        with httpx.Client(base_url=base, timeout=600, headers={"Authorization": f"Bearer {token}"}) as http:
            for body in mine:
                r = http.post(
                    "/api/v1/outcomes/batch", content=body, headers={"Content-Type": "application/x-ndjson"}
                )
                r.raise_for_status()
                created += int(r.json()["summary"]["created"])
        return created

    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        created = sum(pool.map(post, tokens, bodies))
    elapsed = time.perf_counter() - start
    return {
        "rows": rows,
        "streams": streams,
        "created": created,
        "seconds": elapsed,
        "outcomes_per_s": created / elapsed,
    }


def single_beside_batch(
    base: str, tokens: list[str], learners: list[str], rate: float, seconds: float, per_request: int
) -> dict[str, Any]:
    """Single postings at ``rate`` (as :func:`single_at_rate`, first token) while a second institution
    uploads batches of ``per_request`` rows one after another for the whole time (second token): how
    far an upload delays the postings beside it, and how many batch rows go in meanwhile."""
    stop = threading.Event()
    uploaded: dict[str, float] = {"created": 0, "requests": 0}

    def upload() -> None:
        n = 0
        auth = {"Authorization": f"Bearer {tokens[1]}"}
        with httpx.Client(base_url=base, timeout=600, headers=auth) as http:
            while not stop.is_set():
                body = "\n".join(
                    json.dumps(outcome(learners[i % len(learners)], f"bs-{n}-{i}", i), ensure_ascii=False)
                    for i in range(per_request)
                ).encode()
                r = http.post(
                    "/api/v1/outcomes/batch", content=body, headers={"Content-Type": "application/x-ndjson"}
                )
                r.raise_for_status()
                uploaded["created"] += int(r.json()["summary"]["created"])
                uploaded["requests"] += 1
                n += 1

    uploader = threading.Thread(target=upload, daemon=True)
    start = time.perf_counter()
    uploader.start()
    try:
        single = single_at_rate(base, tokens[0], learners, rate, seconds, prefix="sb")
    finally:
        stop.set()
        uploader.join(timeout=600)
    elapsed = time.perf_counter() - start
    return {
        **single,
        "batch_requests": uploaded["requests"],
        "batch_rows_created": uploaded["created"],
        "batch_outcomes_per_s": uploaded["created"] / elapsed,
    }


def raw_inserts(url: str, rows: int) -> dict[str, float]:
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bench_raw (id text primary key, learner_id text, institution_id text, "
            "reference text, outcome_type text, title text, achieved_on date, hours numeric(12,2), "
            "created_at timestamptz)"
        )
        conn.commit()
        data = [
            (
                f"r{i}",
                f"lrn_{i % 1000}",
                "ins_x",
                f"ref-{i}",
                "training_course",
                "数字技能培训",
                dt.date.today(),
                16 + 8 * (i % 6),
                dt.datetime.now(dt.UTC),
            )
            for i in range(rows)
        ]
        start = time.perf_counter()
        with conn.cursor() as cur:
            for first in range(0, rows, 10_000):
                cur.executemany(
                    "INSERT INTO bench_raw VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    data[first : first + 10_000],
                )
                conn.commit()
        elapsed = time.perf_counter() - start
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}


# -- the CPU cost of one posting (--cpu) -----------------------------------------------------------

PG_STATEMENTS = ("shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all")


def closed_loop(
    base: str, token: str, learners: list[str], n: int, clients: int, prefix: str
) -> dict[str, Any]:
    """``n`` single postings, each client (its own keep-alive connection) sending its next one as
    soon as the last is answered."""
    errors: list[str] = []
    counter = iter(range(n))
    lock = threading.Lock()

    def run() -> None:
        with Connection(base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = outcome(learners[i % len(learners)], f"{prefix}-{i}", i)
                r = http.post_json("/api/v1/outcomes", body, {"Idempotency-Key": f"{prefix}-{i}"})
                if r.status != 201:
                    with lock:
                        errors.append(f"{r.status} {r.body[:200]!r}")

    start = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"postings": n, "errors": len(errors), "first_error": errors[:1], "seconds": elapsed}


def cpu_of(server_pid: int, pg_pid: int, work: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``work``; the CPU seconds (user and system) the service's process tree, PostgreSQL's and
    this process (the load generator) used meanwhile, and the wall-clock seconds."""

    def now() -> list[float]:
        times = os.times()
        return [*tree_cpu_seconds(server_pid), *tree_cpu_seconds(pg_pid), times.user, times.system]

    before, start = now(), time.perf_counter()
    result = work()
    after, wall = now(), time.perf_counter() - start
    used = [b - a for a, b in zip(before, after, strict=True)]
    names = (
        "service_user_s",
        "service_sys_s",
        "postgres_user_s",
        "postgres_sys_s",
        "client_user_s",
        "client_sys_s",
    )
    out = dict(zip(names, used, strict=True))
    for who in ("service", "postgres", "client"):
        out[f"{who}_s"] = out[f"{who}_user_s"] + out[f"{who}_sys_s"]
    return result, {**out, "wall_s": wall}


def statements(url: str, postings: int, limit: int = 60) -> list[dict[str, Any]]:
    """PostgreSQL's statements since the last reset, the costliest first, per posting (the table
    prints the first 15)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT toplevel, calls, rows, total_exec_time, query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time DESC"
        ).fetchall()
    return [
        {
            "toplevel": toplevel,
            "calls_per_posting": calls / postings,
            "rows_per_posting": n_rows / postings,
            "exec_ms_per_posting": total / postings,
            "query": " ".join(query.split())[:160],
        }
        for toplevel, calls, n_rows, total, query in rows[:limit]
    ] + [
        {
            "toplevel": True,
            "calls_per_posting": sum(r[1] for r in rows if r[0]) / postings,
            "rows_per_posting": sum(r[2] for r in rows if r[0]) / postings,
            "exec_ms_per_posting": sum(r[3] for r in rows if r[0]) / postings,
            "query": "(all top-level statements)",
        }
    ]


def raw_commits(url: str, n: int, clients: int, *, counter: bool) -> None:
    """The baseline: ``n`` one-row INSERT commits from ``clients`` connections (with ``counter``,
    each first updates one shared counter row, as a log append does)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_commit, bench_counter")
        conn.execute("CREATE TABLE bench_commit (id bigserial PRIMARY KEY, body text NOT NULL)")
        conn.execute("CREATE TABLE bench_counter (id int PRIMARY KEY, n bigint NOT NULL)")
        conn.execute("INSERT INTO bench_counter VALUES (1, 0)")
    counts = iter(range(n))
    lock = threading.Lock()

    def run() -> None:
        with psycopg.connect(url) as conn:
            while True:
                with lock:
                    i = next(counts, None)
                if i is None:
                    return
                if counter:
                    conn.execute("UPDATE bench_counter SET n = n + 1 WHERE id = 1")
                conn.execute("INSERT INTO bench_commit (body) VALUES (%s)", ("x" * 500,))
                conn.commit()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def record_profiles(pids: list[int], into: Path, flags: str = "--gil") -> list[subprocess.Popen[bytes]]:
    """py-spy (when installed) sampling each worker until stopped: collapsed stacks, one file each.
    ``flags``: py-spy's own (``--gil``, the default, samples the thread holding the interpreter only;
    under load it also counts a thread waiting with the interpreter released, none other taking it)."""
    into.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    return [
        subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw", "--nonblocking",
             *flags.split(), "--output", str(into / f"worker-{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]  # fmt: skip


def record_postgres(pids: list[int], into: Path) -> subprocess.Popen[bytes]:
    """``perf record`` of PostgreSQL's processes (call graphs) until stopped; ``perf report -i``."""
    into.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["perf", "record", "-F", "499", "-g", "-o", str(into), "-p", ",".join(map(str, pids))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_breakdown(args: argparse.Namespace) -> dict[str, Any]:
    """See the module docstring (``--cpu``)."""
    n, clients = args.cpu, args.cpu_clients
    settings = (*PG_STATEMENTS, *PG_WORK_SETTINGS, *args.pg_setting)
    pg = start_postgres(fsync=True, extra_settings=settings)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    server = None
    try:
        url = prepare_database(pg, "bench_posting", var)
        with psycopg.connect(pg.url("bench_posting"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
            if args.no_dashboard_triggers:  # what the statistics' triggers cost (the figures go stale)
                for table, trigger in conn.execute(
                    "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE 'dashboard%'"
                ).fetchall():
                    conn.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{trigger}"')
        world = build_world(url, var, n_institutions=1, n_learners=args.learners)
        token = world.institutions[0][1]
        server = ServerProcess(url, var, workers=args.workers, extra_env=dict(args.env)).start()
        assert server.process is not None
        server_pid, pg_pid, base = server.process.pid, pg.process.pid, server.base_url
        closed_loop(base, token, world.learners, max(200, n // 10), clients, "warm")
        time.sleep(1.0)
        _, idle = cpu_of(server_pid, pg_pid, lambda: time.sleep(args.cpu_idle))
        _reset_statements(pg)
        if args.checkpoint_first:  # every page's first change after it is a full-page image
            with psycopg.connect(pg.url("bench_posting"), autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        before = snapshot(pg.url("bench_posting"))
        workers = descendants(server_pid)
        spies = record_profiles(workers, Path(args.py_spy), args.py_spy_flags) if args.py_spy else []
        if args.perf:  # PostgreSQL's own profile: every process of its tree now (the pools are open)
            spies.append(record_postgres(descendants(pg_pid), Path(args.perf)))
        run, busy = cpu_of(
            server_pid, pg_pid, lambda: closed_loop(base, token, world.learners, n, clients, "cpu")
        )
        end_lsn = current_lsn(pg.url("bench_posting"))
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        found = statements(pg.url("bench_posting"), n)
        groups = _calls(pg, "FROM ledger_accounts WHERE id = ANY")
        server.stop()
        server = None
        written = written_since(pg.url("bench_posting"), before, end_lsn, per=n)
        owner = pg.url("bench_posting", OWNER)
        _, plain = cpu_of(os.getpid(), pg_pid, lambda: raw_commits(owner, n, clients, counter=False))
        _, counted = cpu_of(os.getpid(), pg_pid, lambda: raw_commits(owner, n, clients, counter=True))
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    return {
        "postings": n,
        "clients": clients,
        "workers": args.workers,
        "env": dict(args.env),
        "dashboard_triggers": not args.no_dashboard_triggers,
        "pg_settings": list(args.pg_setting),
        "checkpoint_first": args.checkpoint_first,
        "run": run,
        "groups": groups,
        "idle_per_second": {k: v / idle["wall_s"] for k, v in idle.items() if k != "wall_s"},
        "busy": busy,
        "statements": found,
        "written": written,
        "baseline_insert_commits": plain,
        "baseline_insert_commits_one_counter_row": counted,
    }


def _reset_statements(pg: PostgresServer) -> None:
    with psycopg.connect(pg.url("bench_posting"), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def _calls(pg: PostgresServer, fragment: str) -> int:
    with psycopg.connect(pg.url("bench_posting")) as conn:
        found = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s", (f"%{fragment}%",)
        ).fetchone()
    return int(found[0]) if found else 0


def print_cpu(out: dict[str, Any]) -> None:
    n = out["postings"]
    busy, idle = out["busy"], out["idle_per_second"]
    table = Table(
        f"CPU per single posting: {n} postings, {out['clients']} clients closed loop, "
        f"{out['workers']} workers, {out['groups']} groups ({n / max(1, out['groups']):.1f} a group)"
        + ("" if out["dashboard_triggers"] else ", the statistics' triggers disabled")
    )
    for what, key in (("service (uvicorn workers)", "service"), ("PostgreSQL (every backend)", "postgres")):
        net = busy[f"{key}_s"] - idle[f"{key}_s"] * busy["wall_s"]
        user, system = busy[f"{key}_user_s"] / n * 1000, busy[f"{key}_sys_s"] / n * 1000
        note = f"user {user:.2f} + system {system:.2f}; {net / n * 1000:.2f} less idle"
        table.add(f"{what}, per posting", busy[f"{key}_s"] / n * 1000, "ms", note)
    table.add("load generator (lean client), per posting", busy["client_s"] / n * 1000, "ms")
    table.add("postings answered per wall second", n / busy["wall_s"], "/s", f"{out['run']['errors']} errors")
    table.add("idle: service CPU per second", idle["service_s"], "s", "publisher, pool")
    table.add("idle: PostgreSQL CPU per second", idle["postgres_s"], "s")
    for label, key in (
        ("baseline: one-row INSERT commit", "baseline_insert_commits"),
        ("baseline: the same behind one counter row", "baseline_insert_commits_one_counter_row"),
    ):
        base = out[key]
        table.add(f"{label}, PostgreSQL per commit", base["postgres_s"] / n * 1000, "ms")
        table.add(f"{label}, client per commit", base["client_s"] / n * 1000, "ms")
    table.add(
        "posting / baseline commit (PostgreSQL CPU)",
        busy["postgres_s"] / max(1e-9, out["baseline_insert_commits"]["postgres_s"]),
        "x",
    )
    table.print()
    print(f"{'calls':>7} {'rows':>7} {'ms':>7}  statement (per posting; * nested in a trigger or function)")
    for row in [*out["statements"][:15], out["statements"][-1]]:  # all of them in the JSON
        mark = " " if row["toplevel"] else "*"
        print(
            f"{row['calls_per_posting']:7.2f} {row['rows_per_posting']:7.2f} "
            f"{row['exec_ms_per_posting']:7.3f} {mark}{row['query']}"
        )
    print_written(out["written"])


def _set_dashboard_triggers(owner_url: str, enabled: bool) -> int:
    """Enable or disable every statistics trigger (``dashboard*``); how many there are."""
    verb = "ENABLE" if enabled else "DISABLE"
    with psycopg.connect(owner_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE 'dashboard%'"
        ).fetchall()
        for table, trigger in found:
            conn.execute(f'ALTER TABLE {table} {verb} TRIGGER "{trigger}"')
    return len(found)


def trigger_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Rounds with and without the statistics' triggers, alternating, on one server (see the module
    docstring): batch uploads of ``--trigger-cost`` rows and ``--trigger-singles`` single postings."""
    pg = start_postgres(fsync=True)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    server = None
    rounds: list[dict[str, Any]] = []
    try:
        url = prepare_database(pg, "bench_posting", var)
        owner = pg.url("bench_posting", OWNER)
        world = build_world(url, var, n_institutions=1, n_learners=args.learners)
        token = world.institutions[0][1]
        server = ServerProcess(url, var, workers=args.workers).start()
        assert server.process is not None
        server_pid, pg_pid, base = server.process.pid, pg.process.pid, server.base_url
        closed_loop(base, token, world.learners, 100, 4, "warm")
        batch(base, [token], world.learners, min(args.trigger_cost, 5_000), args.per_request, "warm-b")
        for n in range(args.trigger_rounds):
            for enabled in (True, False):
                triggers = _set_dashboard_triggers(owner, enabled)
                tag = f"r{n}{'on' if enabled else 'off'}"
                upload = partial(
                    batch, base, [token], world.learners, args.trigger_cost, args.per_request, f"b-{tag}"
                )
                uploaded, upload_cpu = cpu_of(server_pid, pg_pid, upload)
                singles = partial(
                    closed_loop,
                    base,
                    token,
                    world.learners,
                    args.trigger_singles,
                    args.cpu_clients,
                    f"s-{tag}",
                )
                posted, single_cpu = cpu_of(server_pid, pg_pid, singles)
                rounds.append(
                    {
                        "round": n,
                        "triggers": enabled,
                        "trigger_count": triggers,
                        "batch": uploaded,
                        "batch_cpu": upload_cpu,
                        "singles": posted,
                        "singles_cpu": single_cpu,
                    }
                )
        _set_dashboard_triggers(owner, True)
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    return {
        "rows_per_round": args.trigger_cost,
        "singles_per_round": args.trigger_singles,
        "clients": args.cpu_clients,
        "workers": args.workers,
        "rounds": rounds,
        "summary": _trigger_summary(rounds, args.trigger_cost, args.trigger_singles),
    }


def _trigger_summary(rounds: list[dict[str, Any]], rows: int, singles: int) -> dict[str, dict[str, float]]:
    """Per measure, the mean over the rounds with and without the triggers, and their ratio."""
    measures: dict[str, Callable[[dict[str, Any]], float]] = {
        "batch_outcomes_per_s": lambda r: float(r["batch"]["outcomes_per_s"]),
        "batch_postgres_cpu_us_per_outcome": lambda r: r["batch_cpu"]["postgres_s"] / rows * 1e6,
        "batch_service_cpu_us_per_outcome": lambda r: r["batch_cpu"]["service_s"] / rows * 1e6,
        "singles_per_s": lambda r: singles / r["singles"]["seconds"],
        "singles_postgres_cpu_ms_per_posting": lambda r: r["singles_cpu"]["postgres_s"] / singles * 1e3,
        "singles_service_cpu_ms_per_posting": lambda r: r["singles_cpu"]["service_s"] / singles * 1e3,
    }
    out: dict[str, dict[str, float]] = {}
    for name, of in measures.items():
        on = statistics.fmean(of(r) for r in rounds if r["triggers"])
        off = statistics.fmean(of(r) for r in rounds if not r["triggers"])
        out[name] = {"with": on, "without": off, "ratio": on / off if off else float("nan")}
    return out


def print_trigger_cost(out: dict[str, Any]) -> None:
    table = Table(
        f"The statistics' triggers on the posting path: {len(out['rounds']) // 2} rounds each way, "
        f"{out['rows_per_round']:,} batch rows and {out['singles_per_round']} single postings "
        f"({out['clients']} clients) a round, {out['workers']} workers"
    )
    units = {"per_s": "/s", "_us_": "µs", "_ms_": "ms"}
    for name, figures in out["summary"].items():
        unit = next(u for key, u in units.items() if key in name)
        table.add(f"{name}: with triggers", figures["with"], unit)
        table.add(f"{name}: disabled", figures["without"], unit)
        table.add(f"{name}: with / without", figures["ratio"], "x")
    for r in out["rounds"]:
        errors = r["singles"]["errors"]
        table.add(
            f"round {r['round']}, triggers {'on' if r['triggers'] else 'off'}: batch",
            r["batch"]["outcomes_per_s"],
            "/s",
            f"singles {out['singles_per_round'] / r['singles']['seconds']:.1f}/s, {errors} errors",
        )
    table.print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--per-request", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--streams", type=int, default=2, help="concurrent uploads, one institution each")
    parser.add_argument("--learners", type=int, default=200, help="learners the rows are spread over")
    parser.add_argument(
        "--beside-per-request", type=int, default=2_000, help="rows per upload beside the single postings"
    )
    parser.add_argument("--cpu", type=int, default=0, help="measure CPU per posting over this many instead")
    parser.add_argument("--cpu-clients", type=int, default=8, help="closed-loop clients of --cpu")
    parser.add_argument("--cpu-idle", type=float, default=5.0, help="seconds of idle CPU measured before")
    parser.add_argument(
        "--no-dashboard-triggers", action="store_true", help="with --cpu: the statistics' triggers disabled"
    )
    parser.add_argument("--py-spy", default="", help="with --cpu: py-spy profiles of the workers into DIR")
    parser.add_argument("--py-spy-flags", default="--gil", help="with --py-spy: py-spy's own flags")
    parser.add_argument("--perf", default="", help="with --cpu: perf record of PostgreSQL into FILE")
    parser.add_argument(
        "--pg-setting", action="append", default=[], help="with --cpu: NAME=VALUE for PostgreSQL (repeatable)"
    )
    parser.add_argument(
        "--checkpoint-first", action="store_true", help="with --cpu: CHECKPOINT just before measuring"
    )
    parser.add_argument(
        "--trigger-cost", type=int, default=0, help="the statistics' triggers' cost: batch rows a round"
    )
    parser.add_argument(
        "--trigger-singles", type=int, default=400, help="with --trigger-cost: single postings a round"
    )
    parser.add_argument("--trigger-rounds", type=int, default=2, help="with --trigger-cost: rounds each way")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=", 1)),
        help="NAME=VALUE for the server",
    )
    args = parser.parse_args()
    if args.trigger_cost:
        out = trigger_cost(args)
        print_trigger_cost(out)
        print(f"written {write_results('posting-trigger-cost', out)}")
        return
    if args.cpu:
        out = cpu_breakdown(args)
        print_cpu(out)
        name = "posting-cpu" + ("" if out["dashboard_triggers"] else "-no-dashboard-triggers")
        print(f"written {write_results(name, out)}")
        return

    pg = start_postgres(fsync=True)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    server = None
    try:
        url = prepare_database(pg, "bench_posting", var)
        world = build_world(url, var, n_institutions=max(1, args.streams), n_learners=args.learners)
        tokens = [token for _, token in world.institutions]
        server = ServerProcess(url, var, workers=args.workers).start()
        single = single_at_rate(server.base_url, tokens[0], world.learners, args.rate, args.seconds)
        beside = (
            single_beside_batch(
                server.base_url, tokens, world.learners, args.rate, args.seconds, args.beside_per_request
            )
            if len(tokens) > 1
            else None
        )
        one = batch(server.base_url, tokens[:1], world.learners, args.batch_rows, args.per_request, "b1")
        many = batch(
            server.base_url, tokens[: args.streams], world.learners, args.batch_rows, args.per_request, "bn"
        )
        distinct = batch(
            server.base_url,
            tokens[: args.streams],
            world.learners,
            args.batch_rows,
            args.per_request,
            "bd",
            distinct=True,
        )
        # a table of its own: made by the database's owner (the service role may not create tables)
        raw = raw_inserts(pg.url("bench_posting", OWNER), args.batch_rows)
    finally:
        if server is not None:
            server.stop()
        pg.stop()

    best = max(one["outcomes_per_s"], many["outcomes_per_s"])
    ratio = raw["rows_per_s"] / best
    print(f"{'measure':50} {'value':>14}")
    print(f"{'single posting at ' + str(args.rate) + ' req/s: p50':50} {single['p50_ms']:>11.1f} ms")
    print(f"{'single posting p99 (target < 50 ms)':50} {single['p99_ms']:>11.1f} ms")
    print(f"{'single posting errors':50} {single['errors']:>14}")
    if beside is not None:
        print(f"{'single postings beside batch uploads: p50':50} {beside['p50_ms']:>11.1f} ms")
        print(f"{'  p99':50} {beside['p99_ms']:>11.1f} ms")
        print(f"{'  achieved single postings/s':50} {beside['achieved_rate']:>14.1f}")
        print(f"{'  errors':50} {beside['errors']:>14}")
        print(f"{'  batch outcomes/s meanwhile':50} {beside['batch_outcomes_per_s']:>14,.0f}")
    print(f"{'batch outcomes/s, one upload at a time':50} {one['outcomes_per_s']:>14,.0f}")
    label = f"batch outcomes/s, {args.streams} uploads at once (target 5000)"
    print(f"{label:50} {many['outcomes_per_s']:>14,.0f}")
    label = "  the same, no two rows with the same facts"
    print(f"{label:50} {distinct['outcomes_per_s']:>14,.0f}")
    print(f"{'raw PostgreSQL INSERT rows/s (baseline)':50} {raw['rows_per_s']:>14,.0f}")
    print(f"{'baseline / best batch (times slower)':50} {ratio:>14.1f}")
    out = {
        "workers": args.workers,
        "learners": args.learners,
        "single": single,
        "single_beside_batch": beside,
        "batch_one_stream": one,
        "batch_concurrent": many,
        "batch_concurrent_all_rows_distinct": distinct,
        "raw_insert_baseline": raw,
        "baseline_over_batch_ratio": ratio,
    }
    print(f"written {write_results('posting', out)}")


if __name__ == "__main__":
    main()
