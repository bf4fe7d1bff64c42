"""The CPU cost of each kind of read the soak sends, on one served process.

The kinds (``bench/soak.py``'s reads): an archive read as an admin (``GET
/api/v1/learners/{id}/archive``), the latest checkpoint (``GET /logs/{log}/checkpoint``), an
inclusion proof (``GET /logs/{log}/proof/inclusion``) and a certificate verification (``POST
/api/v1/verify``); and, as the same run's baselines, ``GET /healthz`` (the HTTP stack alone) and a raw
Ed25519 verification in this process (what the signature check of a verification costs at least).

The world first: ``--learners`` learners, ``--outcomes`` outcomes batch-posted over HTTP and spread
over them (the soak's learners hold hundreds each by its end, and its log some hundred thousand
entries), the demo's exchange for the certificate, and a signed checkpoint over all of it. Then, kind
after kind, ``--requests`` requests closed loop from ``--clients`` kept-alive connections, with the CPU
seconds (user and system) of the service's process tree and of PostgreSQL's (every backend) from
``/proc`` meanwhile, and PostgreSQL's statements per request (``pg_stat_statements``, reset before each
kind). CPU seconds per request hold on a shared, loaded machine, where a rate does not. The idle CPU
(the checkpoint publisher, the pool) is measured first and given per request as "less idle".

Run: .venv/bin/python bench/reads.py [--requests 400] [--clients 4] [--workers 1] [--outcomes 20000]
     [--py-spy DIR]   (py-spy --gil profiles of the workers, one file per kind)
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, demo_world, descendants, outcome, write_results  # noqa: E402
from posting import PG_STATEMENTS, cpu_of, record_profiles, statements  # noqa: E402

from tests.support.loadgen import Answer, Connection  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.server import ServerProcess, prepare_database  # noqa: E402

DB = "bench_reads"


def populate(base: str, token: str, learners: list[str], n: int, per_request: int = 2_000) -> int:
    """``n`` outcomes batch-posted over HTTP, spread over ``learners``; the rows created."""
    created = 0
    with Connection(base, timeout=600, headers={"Authorization": f"Bearer {token}"}) as http:
        for start in range(0, n, per_request):
            rows = [
                outcome(learners[i % len(learners)], f"fill-{i}", i)
                for i in range(start, min(n, start + per_request))
            ]
            body = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows).encode()
            r = http.request("POST", "/api/v1/outcomes/batch", body, content_type="application/x-ndjson")
            if r.status != 200:
                raise RuntimeError(f"batch upload: {r.status} {r.body[:300]!r}")
            created += sum(1 for row in r.json()["rows"] if row["status"] == "created")
    return created


def published_size(base: str, at_least: int, timeout: float = 600.0) -> tuple[str, int]:
    """The default log's id and published size, once a checkpoint covers ``at_least`` entries."""
    deadline = time.monotonic() + timeout
    with Connection(base) as http:
        while True:
            log = http.get("/logs").json()[0]
            if log["size"] >= at_least or time.monotonic() > deadline:
                return str(log["id"]), int(log["size"])
            time.sleep(0.5)


Request = Callable[[Connection, random.Random], Answer]


def closed_loop(base: str, n: int, clients: int, request: Request, expect: int) -> dict[str, Any]:
    """``n`` requests, each client (its own keep-alive connection) sending its next one as soon as the
    last is answered; the answers other than ``expect`` are counted."""
    errors: list[str] = []
    counter = iter(range(n))
    lock = threading.Lock()

    def run(seed: int) -> None:
        rng = random.Random(seed)
        with Connection(base, timeout=120) as http:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                r = request(http, rng)
                if r.status != expect:
                    with lock:
                        errors.append(f"{r.status} {r.body[:200]!r}")

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "requests": n,
        "errors": len(errors),
        "first_error": errors[:1],
        "seconds": time.perf_counter() - start,
    }


def raw_ed25519(n: int) -> dict[str, float]:
    """CPU seconds of ``n`` Ed25519 verifications of a 64-byte message (what eddsa-rdfc-2022 signs:
    two SHA-256 hashes) in this process, one thread."""
    key = Ed25519PrivateKey.generate()
    message = os.urandom(64)
    signature = key.sign(message)
    public = key.public_key()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        public.verify(signature, message)
    return {"verifications": n, "cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    pg = start_postgres(fsync=True, extra_settings=PG_STATEMENTS)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-reads-"))
    server = None
    kinds: dict[str, Any] = {}
    try:
        url = prepare_database(pg, DB, var)
        with psycopg.connect(pg.url(DB), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        server = ServerProcess(url, var, workers=args.workers)
        world, certificate = demo_world(url, var, server.base_url, institutions=1, learners=args.learners)
        token, admin = world.institutions[0][1], world.admin_token
        server.start()
        assert server.process is not None
        server_pid, pg_pid, base = server.process.pid, pg.process.pid, server.base_url
        filled = populate(base, token, world.learners, args.outcomes)
        log_id, size = published_size(base, filled)
        admin_auth = {"Authorization": f"Bearer {admin}"}
        verify_body = {"certificate": certificate}

        requests: dict[str, tuple[Request, int]] = {
            "GET /healthz (baseline)": (lambda http, rng: http.get("/healthz"), 200),
            "GET /logs/{log}/checkpoint": (lambda http, rng: http.get(f"/logs/{log_id}/checkpoint"), 200),
            "GET /logs/{log}/proof/inclusion": (
                lambda http, rng: http.get(f"/logs/{log_id}/proof/inclusion?index={rng.randrange(size)}"),
                200,
            ),
            "GET /api/v1/learners/{id}/archive": (
                lambda http, rng: http.get(
                    f"/api/v1/learners/{world.learners[rng.randrange(len(world.learners))]}/archive",
                    admin_auth,
                ),
                200,
            ),
            "POST /api/v1/verify": (lambda http, rng: http.post_json("/api/v1/verify", verify_body), 200),
        }
        for name, (request, expect) in requests.items():  # warm every route and cache first
            warm = closed_loop(base, max(20, args.requests // 10), args.clients, request, expect)
            if warm["errors"]:
                raise RuntimeError(f"{name}: {warm['first_error']}")
        time.sleep(1.0)
        _, idle = cpu_of(server_pid, pg_pid, lambda: time.sleep(args.idle))
        for i, (name, (request, expect)) in enumerate(requests.items()):
            with psycopg.connect(pg.url(DB), autocommit=True) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")
            spies = (
                record_profiles([server_pid, *descendants(server_pid)], Path(args.py_spy) / f"kind-{i}")
                if args.py_spy
                else []
            )

            def work(r: Request = request, e: int = expect) -> dict[str, Any]:
                return closed_loop(base, args.requests, args.clients, r, e)

            run, busy = cpu_of(server_pid, pg_pid, work)
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            kinds[name] = {
                "run": run,
                "busy": busy,
                "statements": statements(pg.url(DB), args.requests, limit=20),
            }
        verify_answer = Connection(base).post_json("/api/v1/verify", verify_body).json()
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    return {
        "requests": args.requests,
        "clients": args.clients,
        "workers": args.workers,
        "learners": args.learners,
        "outcomes": filled,
        "log_size": size,
        "certificate_cryptosuite": (certificate.get("proof") or {}).get("cryptosuite"),
        "verify_valid": verify_answer.get("valid"),
        "verify_checks": {c["name"]: [c["ok"], c["detail"]] for c in verify_answer.get("checks", [])},
        "idle_per_second": {k: v / idle["wall_s"] for k, v in idle.items() if k != "wall_s"},
        "kinds": kinds,
        "raw_ed25519": raw_ed25519(args.raw_verifications),
    }


def print_table(out: dict[str, Any]) -> None:
    n, idle = out["requests"], out["idle_per_second"]
    table = Table(
        f"CPU per read: {n} requests a kind, {out['clients']} clients closed loop, "
        f"{out['workers']} worker(s); {out['outcomes']:,} outcomes over {out['learners']} learners, "
        f"a log of {out['log_size']:,} entries"
    )
    for name, kind in out["kinds"].items():
        busy, run = kind["busy"], kind["run"]
        for who, key in (("service", "service"), ("PostgreSQL", "postgres")):
            net = (busy[f"{key}_s"] - idle[f"{key}_s"] * busy["wall_s"]) / n * 1000
            table.add(f"{name}: {who}", busy[f"{key}_s"] / n * 1000, "ms", f"{net:.2f} less idle")
        statements_per = kind["statements"][-1]
        table.add(
            f"{name}: statements, PostgreSQL execution",
            f"{statements_per['calls_per_posting']:.1f}, {statements_per['exec_ms_per_posting']:.2f} ms",
            "",
            f"{n / run['seconds']:.0f}/s answered, {run['errors']} errors",
        )
    raw = out["raw_ed25519"]
    per_verification = raw["cpu_s"] / raw["verifications"] * 1000
    table.add("raw Ed25519 verification (baseline), this process", per_verification, "ms")
    failed = [name for name, (passed, _) in out["verify_checks"].items() if not passed]
    suite = f"{out['certificate_cryptosuite']}, valid: {out['verify_valid']}"
    table.add("certificate", suite, "", f"failed checks: {failed}")
    table.print()
    for name, kind in out["kinds"].items():
        print(name)
        print(f"{'calls':>7} {'rows':>8} {'ms':>7}  statement (per request; * nested)")
        for row in [*kind["statements"][:8], kind["statements"][-1]]:
            mark = " " if row["toplevel"] else "*"
            print(
                f"{row['calls_per_posting']:7.2f} {row['rows_per_posting']:8.2f} "
                f"{row['exec_ms_per_posting']:7.3f} {mark}{row['query'][:110]}"
            )
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests measured per kind")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop connections")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--outcomes", type=int, default=20_000, help="outcomes batch-posted first")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured first")
    parser.add_argument("--raw-verifications", type=int, default=2_000)
    parser.add_argument("--py-spy", default="", help="py-spy --gil profiles of the workers into DIR/kind-N")
    parser.add_argument("--name", default="reads-cpu", help="results go to bench/results/<name>.json")
    args = parser.parse_args()
    out = measure(args)
    print_table(out)
    print(f"written {write_results(args.name, out)}")


if __name__ == "__main__":
    main()
