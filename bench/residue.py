"""What a long-lived server process keeps per request: Python's allocated blocks around rounds of
requests, measured when nothing is in flight.

The server runs in this process (:func:`creditbank.serving.served_app` under uvicorn, in a thread,
real PostgreSQL, the checkpoint publisher on), the clients too (the lean client, kept-alive
connections made once). After a warm-up round, each round sends ``--requests`` requests of one kind
closed loop from ``--clients`` connections, waits until nothing is in flight, collects twice and
reads ``sys.getallocatedblocks()``: the blocks a round leaves behind, per request, are what a worker
keeps per request. With ``--trace``, the last round runs under ``tracemalloc`` and the allocation
sites of what it left are printed (by count of blocks).

With ``--idle SECONDS``, a round is that long with no request at all (the checkpoint publisher, the
pool and the trimmer alone), and the blocks are per round.

Run: .venv/bin/python bench/residue.py [--kind post|archive|checkpoint|inclusion|verify]
     [--requests 1000] [--rounds 3] [--clients 8] [--learners 200] [--trace] [--idle SECONDS]
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, demo_world, outcome, write_results  # noqa: E402

from tests.support.inprocess import InProcessServer, closed_loop, quiet_blocks  # noqa: E402
from tests.support.loadgen import Answer, Connection  # noqa: E402
from tests.support.postgres import start_postgres  # noqa: E402
from tests.support.server import free_port, prepare_database  # noqa: E402

KINDS = ("post", "archive", "checkpoint", "inclusion", "verify")


def served(url: str, var: Path, port: int) -> InProcessServer:
    """:func:`creditbank.serving.served_app` (as a worker of ``creditbank serve`` has it: arenas,
    trimmer, pool warmed at start) in this process."""
    from creditbank.config import get_settings
    from creditbank.serving import served_app

    os.environ.update(
        CREDITBANK_DATABASE_URL=url,
        CREDITBANK_VAR_DIR=str(var),
        CREDITBANK_BASE_URL=f"http://127.0.0.1:{port}",
        CREDITBANK_BACKGROUND_PUBLISHER="true",
        CREDITBANK_CHECKPOINT_INTERVAL_SECONDS="0.5",
        CREDITBANK_LOG_LEVEL="WARNING",
    )
    get_settings.cache_clear()
    return InProcessServer(served_app(), port)


def sender(
    kind: str, world: Any, certificate: dict[str, Any], log_id: str, tag: str
) -> Callable[[Connection, int], Answer]:
    poster = {"Authorization": f"Bearer {world.institutions[0][1]}"}
    admin = {"Authorization": f"Bearer {world.admin_token}"}
    learners = world.learners

    def post(http: Connection, i: int) -> Answer:
        ref = f"{tag}-{i}"
        return http.post_json(
            "/api/v1/outcomes",
            outcome(learners[i % len(learners)], ref, i),
            {**poster, "Idempotency-Key": ref},
        )

    def archive(http: Connection, i: int) -> Answer:
        return http.get(f"/api/v1/learners/{learners[i % len(learners)]}/archive", admin)

    def checkpoint(http: Connection, i: int) -> Answer:
        return http.get(f"/logs/{log_id}/checkpoint")

    def inclusion(http: Connection, i: int) -> Answer:
        return http.get(f"/logs/{log_id}/proof/inclusion?index={i % 50}")

    def verify(http: Connection, i: int) -> Answer:
        return http.post_json("/api/v1/verify", {"certificate": certificate})

    return {
        "post": post,
        "archive": archive,
        "checkpoint": checkpoint,
        "inclusion": inclusion,
        "verify": verify,
    }[kind]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=KINDS, default="post")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument(
        "--idle", type=float, default=0.0, help="seconds a round lasts with no request at all (instead)"
    )
    args = parser.parse_args()

    pg = start_postgres(fsync=True)
    try:
        run(args, pg)
    finally:
        pg.stop()


def run(args: argparse.Namespace, pg: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp) / "var"
        var.mkdir()
        url = prepare_database(pg, "residue", var)
        port = free_port()
        world, certificate = demo_world(
            url, var, f"http://127.0.0.1:{port}", institutions=2, learners=args.learners
        )
        with served(url, var, port) as server:
            connections = [Connection(server.base_url, timeout=60) for _ in range(args.clients)]
            log_id = connections[0].get("/logs").json()[0]["id"]
            # something to read: postings before any read round
            fill = sender("post", world, certificate, log_id, "fill")
            errors = closed_loop(connections, args.warmup, fill)
            send = sender(args.kind, world, certificate, log_id, "r")
            errors += closed_loop(connections, args.warmup, send)
            before = quiet_blocks()
            what = f"{args.idle:.0f} s idle" if args.idle else f"{args.kind}, {args.requests} requests"
            table = Table(f"Blocks left per request ({what} a round)")
            rounds: list[dict[str, float]] = []
            for r in range(args.rounds):
                tracing = args.trace and r == args.rounds - 1
                if tracing:
                    tracemalloc.start(30)
                    before = quiet_blocks()
                    first = tracemalloc.take_snapshot()
                start = time.perf_counter()
                if args.idle:  # the publisher, the pool and the trimmer alone
                    time.sleep(args.idle)
                else:
                    send = sender(args.kind, world, certificate, log_id, f"r{r}")
                    errors += closed_loop(connections, args.requests, send)
                seconds = time.perf_counter() - start
                after = quiet_blocks()
                per = (after - before) / (1 if args.idle else args.requests)
                rounds.append({"blocks": after - before, "per_request": per, "seconds": seconds})
                table.add(
                    f"round {r + 1}{' (traced)' if tracing else ''}",
                    round(per, 3),
                    "blocks",
                    f"{after - before:+d}, {seconds:.1f} s",
                )
                if tracing:
                    second = tracemalloc.take_snapshot()
                    tracemalloc.stop()
                    stats = second.compare_to(first, "traceback")
                    stats.sort(key=lambda s: -s.count_diff)
                    for stat in stats[:12]:
                        print(f"{stat.count_diff:+d} blocks {stat.size_diff:+d} B")
                        for line in stat.traceback.format()[-24:]:
                            print("   ", line)
                before = after
            table.add("unexpected answers", len(errors), "", errors[0][:80] if errors else "")
            table.print()
            for c in connections:
                c.close()
        write_results(f"residue-{args.kind}", {"args": vars(args), "rounds": rounds, "errors": len(errors)})


if __name__ == "__main__":
    main()
