"""CPU per batch row: the service's and PostgreSQL's CPU seconds per row of a batch upload.

The soak sends a batch of 2,000 NDJSON rows a minute (``bench/common.py``'s :func:`soak_batch`: one
training course per row, each row a different learner). This sends ``--batches`` such uploads one
after the other over one kept-alive connection to ``creditbank serve --workers N`` on a private
PostgreSQL (fsync on), after ``--warm`` uploads that touch every learner once (so the measured rows
meet existing ledger accounts, as in a soak past its first minutes), and reports, per row, the CPU
seconds (user + system, from ``/proc``) that the service's process tree, PostgreSQL's (every backend)
and this process used meanwhile, less what each uses idle, with PostgreSQL's statements per row
(``pg_stat_statements``), as ``bench/posting.py --cpu`` does for a single posting. CPU seconds per row
hold on a shared, loaded machine, where a rate does not. With ``--py-spy DIR``, collapsed stacks of the
workers while the batches run.

Run: .venv/bin/python bench/batch_cpu.py [--batches 5] [--rows 2000] [--learners 2000] [--workers 2]
"""

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, descendants, soak_batch, write_results  # noqa: E402
from posting import PG_STATEMENTS, cpu_of, record_profiles, statements  # noqa: E402

from tests.support.loadgen import Connection  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.server import ServerProcess, prepare_database  # noqa: E402
from tests.support.world import build_world  # noqa: E402

DATABASE = "bench_batch"


def upload(http: Connection, body: bytes, rows: int) -> dict[str, int]:
    """One upload; its summary, which must say every row was created."""
    answer = http.request("POST", "/api/v1/outcomes/batch", body, content_type="application/x-ndjson")
    if answer.status != 200:
        raise SystemExit(f"upload answered {answer.status}: {answer.body[:300]!r}")
    report = answer.json()
    summary: dict[str, int] = report["summary"]
    if "error" in report or summary["created"] != rows:
        raise SystemExit(f"upload incomplete: {summary} {report.get('error')}")
    return summary


def measure(args: argparse.Namespace) -> dict[str, Any]:
    pg = start_postgres(fsync=True, extra_settings=PG_STATEMENTS)
    var = Path(tempfile.mkdtemp(prefix="creditbank-bench-"))
    server = None
    try:
        url = prepare_database(pg, DATABASE, var)
        with psycopg.connect(pg.url(DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        world = build_world(url, var, n_institutions=1, n_learners=args.learners)
        world.ctx.engine.dispose()
        token = world.institutions[0][1]
        server = ServerProcess(url, var, workers=args.workers).start()
        assert server.process is not None
        server_pid, pg_pid = server.process.pid, pg.process.pid
        bodies = [soak_batch(world.learners, n, args.rows) for n in range(args.warm + args.batches)]
        with Connection(server.base_url, timeout=600, headers={"Authorization": f"Bearer {token}"}) as http:
            for body in bodies[: args.warm]:
                upload(http, body, args.rows)
            time.sleep(1.0)
            _, idle = cpu_of(server_pid, pg_pid, lambda: time.sleep(args.idle))
            with psycopg.connect(pg.url(DATABASE), autocommit=True) as conn:
                conn.execute("SELECT pg_stat_statements_reset()")
            spies = record_profiles(descendants(server_pid), Path(args.py_spy)) if args.py_spy else []
            _, busy = cpu_of(
                server_pid,
                pg_pid,
                lambda: [upload(http, body, args.rows) for body in bodies[args.warm :]],
            )
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
        rows = args.rows * args.batches
        found = statements(pg.url(DATABASE), rows)
    finally:
        if server is not None:
            server.stop()
        pg.stop()
    return {
        "batches": args.batches,
        "rows_per_batch": args.rows,
        "rows": rows,
        "learners": args.learners,
        "workers": args.workers,
        "warm_batches": args.warm,
        "idle_per_second": {k: v / idle["wall_s"] for k, v in idle.items() if k != "wall_s"},
        "busy": busy,
        "statements_per_row": found,
    }


def print_table(out: dict[str, Any]) -> None:
    rows, busy, idle = out["rows"], out["busy"], out["idle_per_second"]
    table = Table(
        f"CPU per batch row: {out['batches']} uploads of {out['rows_per_batch']:,} NDJSON rows, one at a "
        f"time, {out['workers']} workers, {out['learners']:,} learners"
    )
    for what, key in (("service (uvicorn workers)", "service"), ("PostgreSQL (every backend)", "postgres")):
        net = busy[f"{key}_s"] - idle[f"{key}_s"] * busy["wall_s"]
        user, system = busy[f"{key}_user_s"] / rows * 1000, busy[f"{key}_sys_s"] / rows * 1000
        table.add(
            f"{what}, per row",
            net / rows * 1000,
            "ms",
            f"less idle; user {user:.3f} + system {system:.3f} before",
        )
    table.add("load generator, per row", busy["client_s"] / rows * 1000, "ms")
    table.add("rows answered per wall second", rows / busy["wall_s"], "/s")
    table.print()
    print(f"{'calls':>7} {'rows':>7} {'ms':>7}  statement (per batch row; * nested in a trigger or function)")
    found = out["statements_per_row"]
    for row in [*found[:15], found[-1]]:  # all of them in the JSON
        mark = " " if row["toplevel"] else "*"
        print(
            f"{row['calls_per_posting']:7.3f} {row['rows_per_posting']:7.2f} "
            f"{row['exec_ms_per_posting']:7.4f} {mark}{row['query']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="uploads measured")
    parser.add_argument("--rows", type=int, default=2_000, help="rows per upload (the soak's 2,000)")
    parser.add_argument("--learners", type=int, default=2_000, help="learners the rows go to in turn")
    parser.add_argument("--warm", type=int, default=1, help="uploads before measuring")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured before")
    parser.add_argument("--py-spy", default="", help="py-spy profiles of the workers into DIR")
    parser.add_argument("--name", default="batch-cpu", help="results go to bench/results/<name>.json")
    args = parser.parse_args()
    out = measure(args)
    print_table(out)
    print(f"written {write_results(args.name, out)}")


if __name__ == "__main__":
    main()
