"""Posting benchmark over real HTTP on PostgreSQL.

* single posting: p50/p99 latency of POST /api/v1/outcomes at a fixed arrival rate (open loop);
* batch posting: outcomes/s end to end (HTTP, rules, outcome rows, ledger, Merkle tree) through
  POST /api/v1/outcomes/batch with 10,000 rows per request;
* baseline, same run, same server: raw INSERTs of the same number of outcome-shaped rows with
  psycopg (executemany in one transaction), so the ratio says what the bank costs over plain storage.

Run: .venv/bin/python bench/posting.py [--rate 100] [--seconds 20] [--batch-rows 50000]
"""

import argparse
import datetime as dt
import json
import queue
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import write_results  # noqa: E402

from tests.support.postgres import OWNER, start_postgres  # noqa: E402
from tests.support.server import ServerProcess, prepare_database  # noqa: E402
from tests.support.world import build_world  # noqa: E402


def outcome(learner_id: str, ref: str, i: int, *, distinct: bool = False) -> dict[str, Any]:
    """A training course, as a training body posts them: one course in six lengths, completed on
    300 different days (a 1,000-row chunk holds 300 different sets of facts, evaluated once each).
    ``distinct`` gives every row a title of its own, so no two rows are evaluated alike."""
    return {
        "learner_id": learner_id,
        "reference": ref,
        "outcome_type": "training_course",
        "title": f"数字技能培训（第 {i} 期）" if distinct else "数字技能培训",
        "achieved_on": (dt.date.today() - dt.timedelta(days=1 + i % 300)).isoformat(),
        "hours": 16 + 8 * (i % 6),
    }


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
    clients: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    for _ in range(32):
        clients.put(httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}))

    def send(i: int, at: float) -> None:
        nonlocal errors
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        body = outcome(learners[i % len(learners)], f"{prefix}-{i}", i)
        http = clients.get()
        try:
            r = http.post("/api/v1/outcomes", json=body, headers={"Idempotency-Key": f"{prefix}-{i}"})
            # from the scheduled time, not from the send: a request that had to wait for a free
            # connection (the server answering slowly) counts that wait (no coordinated omission)
            took = time.perf_counter() - at
        finally:
            clients.put(http)
        with lock:
            if r.status_code != 201:
                errors += 1
                if not first_error:
                    first_error.append(f"{r.status_code} {r.text[:300]}")
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
    args = parser.parse_args()

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
