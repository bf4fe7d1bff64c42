"""Soak: mixed traffic on PostgreSQL for a long while, with a worker SIGKILL and a database restart.

Traffic (open loop, over real HTTP to ``creditbank serve --workers N``):

* single postings at ``--rate`` per second (default 100), each with its own Idempotency-Key, to the
  ``--learners`` in turn; one answered 503 (the outage) is sent again after its ``Retry-After``, and one
  that got no answer (the killed worker, a timeout) after a second, with the same key, as a client
  does (``tests.support.loadgen.retry_delay``), until it is settled or 60 s past its scheduled time
  (``bench/settling.py``);
* a batch upload of ``--batch-rows`` rows every ``--batch-every`` seconds, sent again the same way
  when answered 503, not answered, or its report ended by an error (the rows already in come back
  ``duplicate``);
* archive reads (admin), inclusion-proof and checkpoint reads (public), certificate verifications
  (``POST /api/v1/verify``), ``--reads`` per second in all, open loop from :data:`READ_CONNECTIONS`
  connections (one sequential reader never reached the 40 a second asked).

The population: ``--learners`` (20,000 by default), built through the real registration code (about
a minute). A city has millions of learners with tens of outcomes each; 30 minutes at the defaults post
180,000 single outcomes and 60,000 batch rows, about 12 outcomes per learner at the end, where the
earlier default of 200 learners gave each about 1,200, and the archive reads (of a learner drawn
uniformly, seeded) then cost the machine more than everything else.

Every latency runs from the request's scheduled time (waiting for a connection, and re-sends, count).
The requests go through the lean client (``tests/support/loadgen.py``): the generator runs on the
service's cores.

In the middle: at 40 % of the run one worker process gets SIGKILL (uvicorn starts another), at 60 %
PostgreSQL is stopped for ``--outage`` seconds and started again. Every ``--sample-every`` seconds the
resident memory of each process of the server (supervisor, workers, multiprocessing's resource tracker)
and the machine's load average are sampled.

Memory must show no growth trend, judged per process (``bench/memtrend.py``): a process is its pid and
start time; its first ``--warmup`` seconds (300 by default) are dropped, and the slope of a least-squares
line through the rest of its samples, in MB per hour, must stay under ``--max-rss-slope`` (default 100
MB/h: a server growing that fast would double its memory in about five hours of this traffic) for every
process whose rest spans at least two minutes. The slope of the sum over all processes in the second
half of the run (the earlier criterion, which takes in the warm-up of the worker started after the
kill) is still printed and written, not judged.

At the end: every acknowledged posting (201, or a created row of a batch report) must be in the
database, every verification answered 200 must have verified the (valid) demo certificate, which
names the server's own address so that every check runs, ``creditbank audit verify`` must pass over
the whole log, and ``creditbank audit database`` must find no difference. Printed: p50/p99 per
route, errors by status, RSS per process and summed, the slopes, the load average; the figures go to
``bench/results/soak.json``. The rate is judged too: single postings acknowledged a second over the
whole run (answers inside it) at least 95 % of ``--rate``, and their median latency from the scheduled
time (one never acknowledged counts as endless) under a second, so that a backlog that grows without
end fails even if it drains; printed with how many postings needed a re-send, and the reads answered
a second per phase against ``--reads``. The exit status is 1 unless all six checks (nothing lost,
every verification verified, audit verify, audit database, no memory trend in any process, the rate)
hold.

Run: .venv/bin/python bench/soak.py [--duration 1800] [--rate 100] [--workers 2]
"""

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import Table, demo_world, outcome, percentiles, soak_batch, write_results  # noqa: E402
from memtrend import (  # noqa: E402
    Sample,
    attribute_traffic,
    children,
    memory_passes,
    per_process,
    role_of,
    sample_tree,
    slope_mb_per_hour,
    summed,
)
from phases import CpuSampler, phases, posting_rates, postings_over_time, read_rates  # noqa: E402
from settling import RETRY_FOR_S, Settlements, judge_rate  # noqa: E402

from tests.support.loadgen import (  # noqa: E402
    RETRY_WITHOUT_ANSWER_S,
    Answer,
    Connection,
    TransportError,
    retry_delay,
)
from tests.support.postgres import PostgresServer, start_postgres  # noqa: E402
from tests.support.server import ServerProcess, prepare_database  # noqa: E402


class Recorder:
    """Latencies and statuses per route, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.statuses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.problems: collections.Counter[str] = collections.Counter()
        # answers per serving process (the X-Served-By header) and route, and batch rows per process
        self.served: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.batch_rows: collections.Counter[int] = collections.Counter()

    def add(self, route: str, seconds: float, status: str) -> None:
        with self.lock:
            self.statuses[route][status] += 1
            if status.startswith("2"):
                self.latencies[route].append(seconds)

    def served_by(self, route: str, response: Answer, rows: int = 0) -> None:
        """Count an answer to ``route`` (and ``rows`` batch rows) for the process that served it."""
        pid = served_by(response)
        if pid is not None:
            with self.lock:
                if route:
                    self.served[pid][route] += 1
                self.batch_rows[pid] += rows

    def problem(self, route: str, response: Answer) -> None:
        """Count the problem type and detail of an error answer (what the 503s and 4xx said)."""
        if response.status >= 400:
            try:
                body = response.json()
                what = f"{route} {response.status} {body.get('detail', '')[:90]}"
            except ValueError:
                what = f"{route} {response.status} (not JSON)"
            with self.lock:
                self.problems[what] += 1


BATCH = "POST /api/v1/outcomes/batch"
SINGLE = "POST /api/v1/outcomes"


def served_by(response: Answer) -> int | None:
    """The pid of the server process that answered (``CREDITBANK_SERVED_BY_HEADER``), if named."""
    value = response.headers.get("x-served-by", "")
    return int(value) if value.isdigit() else None


READ_CONNECTIONS = 16  # the reads' connections and threads: 40 reads/s of up to a few hundred ms each
POSTING_THREADS = 48  # the single postings' threads (each holds a connection only while it sends)
POSTING_LEAD_S = 0.25  # a posting is handed to a thread this long before its time (the thread waits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of traffic (default 30 min)")
    parser.add_argument("--rate", type=float, default=100.0, help="single postings per second")
    parser.add_argument("--reads", type=float, default=40.0, help="reads and verifications per second")
    parser.add_argument("--batch-every", type=float, default=60.0, help="seconds between batch uploads")
    parser.add_argument("--batch-rows", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=5.0, help="seconds PostgreSQL stays down")
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="fraction of the run at which a worker is killed (0: none)"
    )
    parser.add_argument(
        "--outage-at",
        type=float,
        default=0.6,
        help="fraction of the run at which PostgreSQL stops (0: no outage)",
    )
    parser.add_argument(
        "--learners",
        type=int,
        default=20_000,
        help="learners the postings go to in turn (20,000: about 12 outcomes each after 30 minutes)",
    )
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument(
        "--max-rss-slope", type=float, default=100.0, help="MB/hour a process's RSS may grow after warm-up"
    )
    parser.add_argument(
        "--warmup", type=float, default=300.0, help="seconds after a process starts left out of its slope"
    )
    parser.add_argument("--name", default="soak", help="results go to bench/results/<name>.json")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the server (e.g. CREDITBANK_KEEPALIVE_REQUESTS=0); repeatable",
    )
    args = parser.parse_args()

    pg: PostgresServer = start_postgres(fsync=True)
    var = Path(tempfile.mkdtemp(prefix="creditbank-soak-"))
    server: ServerProcess | None = None
    record = Recorder()
    acknowledged: dict[str, str] = {}  # reference -> outcome id
    ack_lock = threading.Lock()
    events: list[dict[str, Any]] = []
    rss: list[Sample] = []
    load: list[tuple[float, float]] = []  # (seconds, 1-minute load average)
    load_at_start = os.getloadavg()
    singles: list[tuple[float, int | None]] = []  # (seconds from the start, serving pid) per 2xx posting
    verdicts: list[bool] = []  # per verification answered 200: whether the (valid) certificate verified
    reads_done: list[float] = []  # seconds from the start at each read answered 2xx
    settlements = Settlements()
    batch_resends = [0]  # batch uploads sent again (503, no answer, or a report ended by an error)
    world_s = 0.0
    cpu: CpuSampler | None = None
    kill_s: float | None = None
    try:
        url = prepare_database(pg, "soak", var)
        server_env = dict(setting.split("=", 1) for setting in args.server_env)
        server = ServerProcess(
            url, var, workers=args.workers, extra_env={"CREDITBANK_SERVED_BY_HEADER": "true", **server_env}
        )
        started = time.perf_counter()
        world, certificate = demo_world(url, var, server.base_url, institutions=2, learners=args.learners)
        world_s = time.perf_counter() - started
        poster, uploader = world.institutions[0][1], world.institutions[1][1]
        admin = world.admin_token
        server.start()
        base = server.base_url
        with Connection(base) as http:
            logs = http.get("/logs").json()
        log_id, log_key = logs[0]["id"], logs[0]["verifier_key"]
        stop = threading.Event()
        t0 = time.perf_counter() + 1.0
        assert server.process is not None
        cpu = CpuSampler(server.process.pid, lambda: pg.process.pid)
        cpu.sample(-1.0)  # what each process has used before the traffic is left out

        def timed(route: str, call: Any, at: float | None = None) -> Answer | None:
            """``call``'s answer, recorded; its latency from ``at`` (the scheduled time) if given."""
            start = time.perf_counter()
            try:
                response: Answer = call()
            except TransportError as exc:
                record.add(route, time.perf_counter() - start, type(exc).__name__)
                return None
            record.add(route, time.perf_counter() - (start if at is None else at), str(response.status))
            record.problem(route, response)
            record.served_by(route, response)
            return response

        # -- single postings, open loop (the lean client: the generator shares the machine) -------
        clients = [
            Connection(base, timeout=30, headers={"Authorization": f"Bearer {poster}"}) for _ in range(32)
        ]
        free: collections.deque[Connection] = collections.deque(clients)
        free_lock = threading.Lock()

        def post_one(i: int) -> None:
            """One attempt of posting ``i``: at its scheduled time the first, and a re-send (same
            Idempotency-Key) as its earlier answer asked (``retry_delay``) until it is settled."""
            at = settlements.at(i)
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if settlements.too_late(i, time.perf_counter()):
                return  # waited in the queue past its bound: not sent
            with free_lock:
                http = (
                    free.popleft()
                    if free
                    else Connection(base, timeout=30, headers={"Authorization": f"Bearer {poster}"})
                )
            try:
                reference = f"soak-{i}"
                body = outcome(world.learners[i % len(world.learners)], reference, i)
                settlements.attempted(i)
                start = time.perf_counter()
                answer: Answer | None = None
                try:
                    answer = http.post_json("/api/v1/outcomes", body, {"Idempotency-Key": reference})
                except TransportError as exc:
                    record.add(SINGLE, time.perf_counter() - start, type(exc).__name__)
                else:
                    now = time.perf_counter()
                    # latency from the scheduled time: waiting for a connection, and re-sends, count
                    record.add(SINGLE, now - at, str(answer.status))
                    record.problem(SINGLE, answer)
                    record.served_by(SINGLE, answer)
                    if answer.status in (200, 201):
                        singles.append((now - t0, served_by(answer)))
                        settlements.acknowledged(i, now)
                        with ack_lock:
                            acknowledged[reference] = answer.json()["id"]
                        return
                wait = retry_delay(answer)
                if wait is None:
                    assert answer is not None
                    settlements.refused(i, answer.status)
                else:
                    settlements.retry(i, time.perf_counter(), wait)
            except Exception as exc:  # the bench's own fault: counted, and the posting ends
                settlements.failed(i, type(exc).__name__)
                raise
            finally:
                with free_lock:
                    free.append(http)

        def posting() -> None:
            """Every scheduled posting handed to a thread a little before its time, and each re-send
            when it is due; returns once every posting is settled or given up (the re-sends run past
            the end of the run, up to ``RETRY_FOR_S`` after a posting's scheduled time)."""
            total = int(args.rate * args.duration)
            i = 0
            with ThreadPoolExecutor(POSTING_THREADS) as pool:
                while i < total or settlements.open() > 0:
                    now = time.perf_counter()
                    for j in settlements.due(now):
                        pool.submit(post_one, j)
                    while i < total and t0 + i / args.rate - now <= POSTING_LEAD_S:
                        settlements.scheduled(i, t0 + i / args.rate)
                        pool.submit(post_one, i)
                        i += 1
                    time.sleep(0.05)

        # -- batch uploads ------------------------------------------------------------------------
        def batches() -> None:
            n = 0
            with Connection(base, timeout=300, headers={"Authorization": f"Bearer {uploader}"}) as http:
                while not stop.wait(max(0.0, t0 + n * args.batch_every + 5 - time.perf_counter())):
                    if time.perf_counter() > t0 + args.duration:
                        return
                    lines = soak_batch(world.learners, n, args.batch_rows)
                    give_up_at = time.perf_counter() + RETRY_FOR_S
                    while True:  # re-sent as a client does until every row is in (they come back duplicate)
                        r = timed(
                            BATCH,
                            lambda lines=lines: http.request(
                                "POST", "/api/v1/outcomes/batch", lines, content_type="application/x-ndjson"
                            ),
                        )
                        wait = retry_delay(r)
                        if r is not None and r.status == 200:
                            report = r.json()
                            record.served_by("", r, rows=len(report["rows"]))
                            with ack_lock:
                                for row in report["rows"]:
                                    if row["status"] in ("created", "duplicate"):
                                        acknowledged[row["reference"]] = row["outcome_id"]
                            if "error" not in report:
                                break
                            record.add(f"{BATCH} (in-report error)", 0.0, report["error"]["type"])
                            wait = RETRY_WITHOUT_ANSWER_S  # ended early (the database went away)
                        if wait is None or time.perf_counter() + wait > give_up_at:
                            break
                        batch_resends[0] += 1
                        time.sleep(wait)
                    n += 1

        # -- reads and verifications, open loop (enough connections that a slow read holds no other up) --
        rng = random.Random(7)
        readers: collections.deque[Connection] = collections.deque(
            Connection(base, timeout=30) for _ in range(READ_CONNECTIONS)
        )
        admin_auth = {"Authorization": f"Bearer {admin}"}

        def read_one(i: int, at: float) -> None:
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if stop.is_set():
                return
            kind = i % 4
            with free_lock:
                http = readers.popleft() if readers else Connection(base, timeout=30)
                index = rng.randrange(max(1, len(acknowledged))) if kind == 2 else 0
                # an archive read is of any learner of the population, uniformly (seeded)
                learner = world.learners[rng.randrange(len(world.learners))] if kind == 0 else ""
            try:
                if kind == 0:
                    path = f"/api/v1/learners/{learner}/archive"
                    answer = timed(
                        "GET /api/v1/learners/{id}/archive", lambda: http.get(path, admin_auth), at
                    )
                elif kind == 1:
                    answer = timed(
                        "GET /logs/{log}/checkpoint", lambda: http.get(f"/logs/{log_id}/checkpoint"), at
                    )
                elif kind == 2:
                    path = f"/logs/{log_id}/proof/inclusion?index={index}"
                    answer = timed("GET /logs/{log}/proof/inclusion", lambda: http.get(path), at)
                else:
                    verify = {"certificate": certificate}
                    answer = timed(
                        "POST /api/v1/verify", lambda: http.post_json("/api/v1/verify", verify), at
                    )
                    if answer is not None and answer.status == 200:
                        verdicts.append(answer.json().get("valid") is True)
                if answer is not None and 200 <= answer.status < 300:
                    reads_done.append(time.perf_counter() - t0)
            finally:
                with free_lock:
                    readers.append(http)

        def reads() -> None:
            total = int(args.reads * args.duration)
            with ThreadPoolExecutor(READ_CONNECTIONS) as pool:
                for i in range(total):
                    if stop.is_set():
                        break
                    at = t0 + i / args.reads
                    while at - time.perf_counter() > 1.0:  # submit about a second ahead
                        time.sleep(0.2)
                    pool.submit(read_one, i, at)

        # -- faults and memory ----------------------------------------------------------------------
        def faults() -> None:
            nonlocal kill_s
            assert server is not None and server.process is not None
            killed = restarted = False
            while not stop.is_set() and time.perf_counter() < t0 + args.duration:
                now = time.perf_counter() - t0
                if not killed and args.kill_at > 0 and now > args.kill_at * args.duration:
                    root = server.process.pid
                    workers = [p for p in children(root) if role_of(p, root) == "worker"]
                    victim = workers[-1] if workers else None
                    if victim is not None:
                        assert cpu is not None
                        cpu.sample(now)  # the victim's CPU up to the kill
                        kill_s = now
                        os.kill(victim, signal.SIGKILL)
                        events.append({"at_s": round(now, 1), "event": f"SIGKILL worker {victim}"})
                    killed = True
                if not restarted and args.outage_at > 0 and now > args.outage_at * args.duration:
                    events.append({"at_s": round(now, 1), "event": "PostgreSQL stopped"})
                    pg.halt()
                    time.sleep(args.outage)
                    pg.resume()
                    events.append({"at_s": round(time.perf_counter() - t0, 1), "event": "PostgreSQL started"})
                    restarted = True
                time.sleep(1)

        ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
        # seconds since boot -> seconds since t0, fixed once so a process's start time reads the same
        # in every sample
        boot_offset = (time.perf_counter() - t0) - float(Path("/proc/uptime").read_text().split()[0])

        def memory() -> None:
            assert server is not None and server.process is not None
            while not stop.wait(args.sample_every):
                now = round(time.perf_counter() - t0, 1)
                rss.extend(sample_tree(server.process.pid, now, boot_offset, ticks, page))
                if cpu is not None:
                    cpu.sample(now)
                load.append((now, os.getloadavg()[0]))

        kinds = [faults, memory]
        kinds += [posting] if args.rate > 0 else []
        kinds += [batches] if args.batch_every > 0 else []
        kinds += [reads] if args.reads > 0 else []
        threads = [threading.Thread(target=f, name=f.__name__, daemon=True) for f in kinds]
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, t0 + args.duration - time.perf_counter()))
        cpu.sample(args.duration)
        stop.set()  # the reads, batches, faults and samples; the postings' re-sends run on
        for thread in threads:
            thread.join(timeout=RETRY_FOR_S + 90 if thread.name == "posting" else 120)
        for client in [*clients, *readers]:
            client.close()
        time.sleep(3)  # the publisher signs the last entries

        # -- the end: nothing acknowledged is lost, the log and the derived tables check out ----------
        with ack_lock:
            acked = dict(acknowledged)
        with psycopg.connect(url) as db:
            ids = list(acked.values())
            present = db.execute("SELECT count(*) FROM outcomes WHERE id = ANY(%s)", (ids,)).fetchone()
            outcomes_total = db.execute("SELECT count(*) FROM outcomes").fetchone()
        missing = len(ids) - (present[0] if present else 0)
        env = {**os.environ, "CREDITBANK_DATABASE_URL": url, "CREDITBANK_VAR_DIR": str(var)}
        cli = [sys.executable, "-c", "from creditbank.cli import app; app()"]
        audit_verify = subprocess.run(
            [*cli, "audit", "verify", "--url", base, "--key", log_key, "--log", log_id, "--no-progress"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        audit_database = subprocess.run(
            [*cli, "audit", "database"], env=env, capture_output=True, text=True, timeout=1800, check=False
        )
    finally:
        if server is not None:
            server.stop()
        pg.stop()

    table = Table(f"soak: {args.duration:.0f} s, {args.rate:.0f} postings/s, {args.workers} workers")
    routes: dict[str, Any] = {}
    for route in sorted(set(record.statuses) | set(record.latencies)):
        figures = percentiles(record.latencies[route]) if record.latencies[route] else {"n": 0}
        statuses = dict(record.statuses[route])
        routes[route] = {**figures, "statuses": statuses}
        if record.latencies[route]:
            table.add(f"{route} p50", figures["p50_ms"], "ms")
            table.add(f"{route} p99", figures["p99_ms"], "ms")
        table.add(f"{route} answers", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    series = summed(rss)
    for label, part in (
        ("first third", [b for t, b in series if t < args.duration / 3]),
        ("middle third", [b for t, b in series if args.duration / 3 <= t < 2 * args.duration / 3]),
        ("last third", [b for t, b in series if t >= 2 * args.duration / 3]),
    ):
        if part:
            table.add(
                f"server RSS summed, {label} (mean of {len(part)} samples)",
                sum(part) / len(part) / 2**20,
                "MB",
            )
    second_half = [(t, b) for t, b in series if t >= args.duration / 2]
    summed_slope = slope_mb_per_hour(second_half)
    table.add(
        f"server RSS summed, slope over the second half ({len(second_half)} samples)",
        "n/a" if summed_slope is None else f"{summed_slope:+.1f}",
        "MB/h",
        "the earlier criterion, not judged (takes in the new worker's warm-up)",
    )
    trends = per_process(rss, warmup_s=args.warmup, max_slope_mb_per_h=args.max_rss_slope)
    memory_ok = memory_passes(trends)
    attribute_traffic(trends, record.served, record.batch_rows)
    for trend in trends:
        row = trend.summary()
        span = row["fitted_s"]
        where = f"{span[0]:.0f}-{span[1]:.0f} s" if span else "none after warm-up"
        mb = row["fitted_rss_mb"]
        sizes = f", {mb[0]:.0f} -> {mb[1]:.0f} MB" if mb else ""
        verdict = (
            ("passes" if trend.passes else "FAILS")
            if trend.judged
            else "not judged (too short after warm-up)"
        )
        table.add(
            f"RSS slope, {trend.role} {trend.pid} (started {trend.started_s:.0f} s; fitted {where}{sizes})",
            "n/a" if trend.slope_mb_per_h is None else f"{trend.slope_mb_per_h:+.1f}",
            "MB/h",
            verdict,
        )
        for route, n in sorted(trend.served.items()):
            rows = f"{trend.batch_rows:,} rows" if route == BATCH else ""
            table.add(f"  served by {trend.pid}: {route}", n, "", rows)
    table.add(
        "memory: every judged process under the limit",
        "passes" if memory_ok else "FAILS",
        "",
        f"limit {args.max_rss_slope:.0f} MB/h after {args.warmup:.0f} s of warm-up per process",
    )
    if load:
        loads = [value for _, value in load]
        table.add(
            "load average (1 min) during the run: mean / min / max",
            f"{sum(loads) / len(loads):.1f} / {min(loads):.1f} / {max(loads):.1f}",
            "",
            f"{os.cpu_count()} CPUs; {load_at_start[0]:.1f} at start",
        )
    for what, count in record.problems.most_common(12):
        table.add(f"problem: {what}", count)
    settled = settlements.summary()
    rate = judge_rate(
        [at for at, _ in singles], settlements.latencies(), duration_s=args.duration, asked_per_s=args.rate
    )
    ends = ", ".join(f"{how}: {n:,}" for how, n in settled["ended"].items())
    table.add("single postings scheduled", settled["scheduled"], "", ends)
    table.add(
        "single postings re-sent (503 or no answer; same Idempotency-Key)",
        settled["needed_a_retry"],
        "",
        f"{settled['acknowledged_after_a_retry']:,} of them acknowledged; {settled['attempts']:,} attempts "
        f"in all, at most {settled['most_attempts']} for one; re-sent until {RETRY_FOR_S:.0f} s "
        "past the scheduled time",
    )
    table.add("batch uploads re-sent (503, no answer, or ended early)", batch_resends[0])
    table.add(
        "single postings acknowledged per second over the run",
        rate.achieved_per_s,
        "/s",
        f"{rate.achieved_per_s / args.rate:.1%} of {args.rate:.0f} asked" if args.rate else "",
    )
    table.add(
        "single postings: median latency from the scheduled time",
        "endless" if rate.median_latency_s == float("inf") else f"{rate.median_latency_s * 1000:,.0f}",
        "ms",
        "a posting never acknowledged counts as endless",
    )
    table.add(
        "rate: acknowledged a second at least 95 % of asked, median latency under 1 s",
        "passes" if rate.passes else "FAILS",
        "",
        f"rate {'passes' if rate.rate_passes else 'FAILS'}, "
        f"latency {'passes' if rate.latency_passes else 'FAILS'}",
    )
    spans = phases(args.duration, kill_s)
    read_phases = read_rates(reads_done, spans, args.reads)
    rates = posting_rates(singles, spans)
    phase_cpu = {span.name: cpu.cores(span) if cpu is not None else {} for span in spans}
    for span in spans:
        where = f"{span.start_s:.0f}-{span.end_s:.0f} s"
        table.add(f"single postings per second, {span.name} ({where})", rates[span.name]["per_s"], "/s")
        for pid, per_s in rates[span.name]["per_worker_per_s"].items():
            table.add(f"  answered by {pid}", per_s, "/s")
        done = read_phases[span.name]
        table.add(
            f"reads answered 2xx per second, {span.name}",
            done["per_s"],
            "/s",
            f"{done['fraction']:.1%} of {args.reads:.0f} asked" if args.reads else "",
        )
        busy = ", ".join(f"{name} {cores:.2f}" for name, cores in phase_cpu[span.name].items())
        table.add(f"CPU, {span.name}: cores busy per process", busy)
    table.add("acknowledged postings (single and batch rows)", len(acked))
    table.add("acknowledged postings missing", missing)
    table.add("verifications answered 200 that verified", f"{sum(verdicts)} of {len(verdicts)}")
    table.add("outcomes in the database", outcomes_total[0] if outcomes_total else 0)
    table.add(
        "audit verify", "passed" if audit_verify.returncode == 0 else f"FAILED ({audit_verify.returncode})"
    )
    table.add(
        "audit database",
        "clean" if audit_database.returncode == 0 else f"FAILED ({audit_database.returncode})",
    )
    table.add("world", f"{args.learners:,} learners", "", f"built in {world_s:.0f} s")
    for event in events:
        table.add(f"event at {event['at_s']} s", event["event"])
    table.print()
    out = {
        "duration_s": args.duration,
        "rate_per_s": args.rate,
        "reads_per_s": args.reads,
        "batch_every_s": args.batch_every,
        "batch_rows": args.batch_rows,
        "workers": args.workers,
        "outage_s": args.outage,
        "routes": routes,
        "rss_bytes_over_time": series,
        "rss_slope_second_half_mb_per_h": summed_slope,
        "rss_slope_limit_mb_per_h": args.max_rss_slope,
        "rss_warmup_s": args.warmup,
        "rss_per_process": [trend.summary() for trend in trends],
        "rss_samples": [[s.at_s, s.pid, s.started_s, s.role, s.rss_bytes] for s in rss],
        "memory_passes": memory_ok,
        "load_average_over_time": load,
        "load_average_at_start": load_at_start,
        "events": events,
        "problems": dict(record.problems),
        "acknowledged": len(acked),
        "learners": args.learners,
        "world_build_s": world_s,
        "single_postings_acknowledged_per_s": rate.achieved_per_s,
        "single_postings_settled": settled,
        "batch_resends": batch_resends[0],
        "rate_check": rate.summary(),
        "reads_per_phase": read_phases,
        "server_env": server_env if args.server_env else {},
        "phases": {name: {**rates[name], "cpu_cores": phase_cpu[name]} for name in rates},
        "cpu_seconds_samples": cpu.samples if cpu is not None else [],
        "single_postings_per_30_s": postings_over_time(singles, 30.0),
        "acknowledged_missing": missing,
        "verifications_verified": {"answered": len(verdicts), "verified": sum(verdicts)},
        "audit_verify": {
            "exit": audit_verify.returncode,
            "tail": audit_verify.stdout[-2000:] + audit_verify.stderr[-2000:],
        },
        "audit_database": {
            "exit": audit_database.returncode,
            "tail": audit_database.stdout[-2000:] + audit_database.stderr[-2000:],
        },
    }
    print(f"written {write_results(args.name, out)}")
    passed = (
        missing == 0
        and all(verdicts)
        and audit_verify.returncode == 0
        and audit_database.returncode == 0
        and memory_ok
        and rate.passes
    )
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
