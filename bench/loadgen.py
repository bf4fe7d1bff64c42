"""The load generator's own CPU per request: the lean client (``tests/support/loadgen.py``) against httpx.

On this machine the load generator runs on the same cores as the service, so its CPU is taken from
the service. Same run, same server (``creditbank serve --workers 2`` on a private PostgreSQL), in
alternating rounds of each client: ``--postings`` single postings (``POST /api/v1/outcomes`` with an
Idempotency-Key, closed loop from ``--clients`` kept-alive connections) and ``--gets`` ``GET /healthz``.
The generator's CPU is this process's user + system seconds (``os.times``: every thread; nothing else
runs in it meanwhile); the service's is its process tree's (``/proc``). Both clients send the same
bodies, each encoded by its own JSON call, and both check every status.

Run: .venv/bin/python bench/loadgen.py [--postings 600] [--gets 2000] [--clients 8] [--rounds 2]
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, outcome, tree_cpu_seconds, write_results  # noqa: E402

from tests.support.loadgen import Connection  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.server import ServerProcess, prepare_database  # noqa: E402
from tests.support.world import build_world  # noqa: E402


def _closed_loop(n: int, clients: int, one: Callable[[Any, int], int], make: Callable[[], Any]) -> int:
    """``n`` requests from ``clients`` threads, each with its own connection; how many went wrong."""
    counter = iter(range(n))
    lock = threading.Lock()
    wrong = [0]

    def run() -> None:
        client = make()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                if not one(client, i):
                    with lock:
                        wrong[0] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wrong[0]


def _measure(server_pid: int, work: Callable[[], int]) -> dict[str, float]:
    times, service, start = os.times(), sum(tree_cpu_seconds(server_pid)), time.perf_counter()
    wrong = work()
    after = os.times()
    return {
        "client_s": (after.user - times.user) + (after.system - times.system),
        "service_s": sum(tree_cpu_seconds(server_pid)) - service,
        "wall_s": time.perf_counter() - start,
        "wrong": wrong,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=600, help="single postings a round")
    parser.add_argument("--gets", type=int, default=2000, help="GET /healthz a round")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each client, alternating")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    pg = start_postgres(fsync=True)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    server = None
    rounds: list[dict[str, Any]] = []
    try:
        url = prepare_database(pg, "bench_loadgen", var)
        world = build_world(url, var, n_institutions=1, n_learners=200)
        token, learners = world.institutions[0][1], world.learners
        world.ctx.engine.dispose()
        server = ServerProcess(url, var, workers=args.workers).start()
        assert server.process is not None
        base, auth = server.base_url, {"Authorization": f"Bearer {token}"}

        def httpx_post(tag: str) -> Callable[[Any, int], int]:
            def one(http: httpx.Client, i: int) -> int:
                ref = f"{tag}-{i}"
                r = http.post(
                    "/api/v1/outcomes",
                    json=outcome(learners[i % 200], ref, i),
                    headers={"Idempotency-Key": ref},
                )
                return int(r.status_code == 201)

            return one

        def lean_post(tag: str) -> Callable[[Any, int], int]:
            def one(http: Connection, i: int) -> int:
                ref = f"{tag}-{i}"
                r = http.post_json(
                    "/api/v1/outcomes", outcome(learners[i % 200], ref, i), {"Idempotency-Key": ref}
                )
                return int(r.status == 201)

            return one

        clients: dict[str, Callable[[], Any]] = {
            "httpx": lambda: httpx.Client(base_url=base, timeout=60, headers=auth),
            "lean": lambda: Connection(base, timeout=60, headers=auth),
        }
        posts = {"httpx": httpx_post, "lean": lean_post}
        gets: dict[str, Callable[[Any, int], int]] = {
            "httpx": lambda http, _i: int(http.get("/healthz").status_code == 200),
            "lean": lambda http, _i: int(http.get("/healthz").status == 200),
        }
        for name, make in clients.items():  # warm both (connections, the server's caches)
            _closed_loop(100, args.clients, posts[name](f"warm-{name}"), make)
        for n in range(args.rounds):
            for name, make in clients.items():
                post = _measure(
                    server.process.pid,
                    partial(_closed_loop, args.postings, args.clients, posts[name](f"r{n}-{name}"), make),
                )
                get = _measure(
                    server.process.pid, partial(_closed_loop, args.gets, args.clients, gets[name], make)
                )
                rounds.append({"round": n, "client": name, "postings": post, "gets": get})
    finally:
        if server is not None:
            server.stop()
        pg.stop()

    def mean(client: str, what: str, key: str, per: int) -> float:
        return statistics.fmean(r[what][key] / per * 1000 for r in rounds if r["client"] == client)

    table = Table(
        f"Load generator CPU per request: {args.rounds} rounds each of {args.postings} single postings "
        f"and {args.gets} GET /healthz, {args.clients} clients closed loop, {args.workers} workers"
    )
    summary: dict[str, dict[str, float]] = {}
    for what, per, label in (
        ("postings", args.postings, "POST /api/v1/outcomes"),
        ("gets", args.gets, "GET /healthz"),
    ):
        for client in clients:
            figures = {key: mean(client, what, key, per) for key in ("client_s", "service_s")}
            summary[f"{what}_{client}"] = figures
            wrong = sum(r[what]["wrong"] for r in rounds if r["client"] == client)
            table.add(f"{label}: {client}, generator CPU per request", figures["client_s"], "ms",
                      f"service {figures['service_s']:.2f} ms; {wrong} wrong answers")  # fmt: skip
        ratio = summary[f"{what}_httpx"]["client_s"] / max(1e-9, summary[f"{what}_lean"]["client_s"])
        table.add(f"{label}: httpx / lean", ratio, "x")
    table.print()
    out = {"args": vars(args), "rounds": rounds, "summary_ms_per_request": summary}
    print(f"written {write_results('loadgen', out)}")


if __name__ == "__main__":
    main()
