"""Failover rehearsal (``make test-ha``): a Patroni cluster, two service instances, two leader kills.

What it does, in order:

1. ``scripts/ha/cluster up`` (three PostgreSQL 15 members under Patroni, etcd, strict synchronous
   mode), migrates the database, times bare INSERT commits through the cluster (the same-run
   baseline of the posting rate) and starts two service instances of two workers each on the
   multi-host URL, their checkpoint publishers requiring the synchronous standby.
2. Drives single postings at 100 a second (each with its own ``Idempotency-Key``) through both
   instances, and :data:`UPLOADS` batch uploads of :data:`UPLOAD_ROWS` rows one after the other; a
   poller keeps every checkpoint it sees.
3. Saves an auditor's state (``creditbank audit verify --state``) before any failure, then cuts the
   leader off from its standbys and SIGKILLs its postmaster while the upload runs
   (``kill-leader --diverge``: its WAL runs past the new leader's fork point); waits until the
   cluster is whole again (the old leader back as a replica through a successful ``pg_rewind``, on
   the new leader's timeline, and a Sync Standby), then does the same to the new leader. The service
   reads the public log on the standbys (``cluster url --read``) throughout.
4. Proves: no request answered anything but 2xx or a 503 problem with ``Retry-After`` (no 500, no
   closed connection); every acknowledged posting is in the ledger exactly once; every unacknowledged
   one is there once or not at all, and a retry with the same key settles it; the uploads, re-sent
   until complete, leave every row once; sequence numbers are gapless; every checkpoint ever seen is
   consistent with the final tree; ``creditbank audit verify`` with the state from before the
   failovers passes, and ``creditbank audit database`` (when this version has it) is clean.
5. Prints the downtime clients saw (kill to the first acknowledged write), the failed requests and
   the CPU per posting while the load ran (service, cluster, this process, the whole machine), and
   writes them to ``var/ha/rehearsal.json``.
"""

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from creditbank.cli import app as cli_app
from creditbank.db import create_engine
from creditbank.migrate import upgrade
from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.note import NoteVerifier, open_checkpoint
from tests.ha.cpu import Group, ProcessCpu, pid_from_file
from tests.ha.downtime import breakdown
from tests.support.loadgen import Connection, TransportError
from tests.support.server import ServerProcess
from tests.support.world import World, build_world

pytestmark = [pytest.mark.ha, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent.parent
CLUSTER = ROOT / "scripts" / "ha" / "cluster"
HA_DIR = Path(os.environ.get("CREDITBANK_HA_DIR", ROOT / "var" / "ha")).absolute()
RATE = 100  # single postings a second
UPLOADS = 3
# Under one 2,500-row chunk, so the whole body is read before the answer starts. A bigger upload
# streams its report while it still reads its body, and under uvicorn (ASGI spec 2.3) Starlette's
# StreamingResponse calls receive() to listen for a disconnect meanwhile, taking body messages away
# from the upload: rows go missing or are cut (a 6,000-row array ends in "batch-malformed").
UPLOAD_ROWS = 2_000
BATCH_ROWS = UPLOADS * UPLOAD_ROWS
# Posting threads, each with one kept-alive connection, each sending its next slot of the schedule as
# soon as its last answer came: they bound the rate at threads / latency, so they must outnumber what
# the schedule needs in flight (24 capped the rate at 70/s with a p50 of 288 ms). More instances or
# workers per instance are tried through the environment (``docs/scaling.md``).
CLIENT_THREADS = int(os.environ.get("CREDITBANK_HA_CLIENTS", "48"))
WORKERS = int(os.environ.get("CREDITBANK_HA_WORKERS", "2"))  # per service instance (two instances)
BASELINE_CLIENTS = 24  # the bare-SQL baseline's connections (as in every earlier rehearsal)
REQUEST_TIMEOUT = 20.0
PUBLISH_INTERVAL = 0.5
RETRY_AFTER_SECONDS = 1


def _cluster(*args: str, timeout: float = 240) -> str:
    done = subprocess.run(
        [str(CLUSTER), *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
    )
    sys.stderr.write(done.stderr)
    assert done.returncode == 0, f"scripts/ha/cluster {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def _cli_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in this process (its modules imported with this file): the auditor's state taken while
    the load runs costs the verification, not a new interpreter importing the project (3.6 s of CPU
    on this machine, about 0.6 ms per posting of the rehearsal's window)."""
    result = CliRunner().invoke(cli_app, list(args))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, "")


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from creditbank.cli import app; app()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _members() -> list[dict[str, Any]]:
    """The members as Patroni's REST API reports them. Through urllib: ``httpx.get`` builds a client,
    and with it an SSL context from the CA bundle, on every call (about 20 ms of CPU each)."""
    base = int(os.environ.get("CREDITBANK_HA_PORT_BASE", "55600"))
    for port in (base + 11, base + 12, base + 13):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/cluster", timeout=2) as answer:
                found: list[dict[str, Any]] = json.load(answer)["members"]
        except (OSError, ValueError, KeyError):
            continue
        return found
    return []


@dataclass
class Attempt:
    ref: str
    instance: int
    start: float
    end: float = 0.0
    status: int | None = None
    error: str | None = None  # a transport error (connection closed, timeout)
    problem_type: str | None = None
    retry_after: str | None = None


@dataclass
class Load:
    """Single postings at a fixed rate, from threads that each keep one connection open."""

    world: World
    servers: list[ServerProcess]
    attempts: list[Attempt] = field(default_factory=list)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    t0: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the posting threads' own CPU

    def start(self) -> None:
        self.t0 = time.monotonic()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CLIENT_THREADS)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if not self._stop.is_set():
            self.seconds = time.monotonic() - self.t0
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 10)

    def _slot(self) -> int:
        with self._lock:
            self._next += 1
            return self._next - 1

    def _run(self, n: int) -> None:
        started = time.thread_time()
        instance = n % len(self.servers)
        with Connection(self.servers[instance].base_url, timeout=REQUEST_TIMEOUT) as http:
            while not self._stop.is_set():
                i = self._slot()
                delay = self.t0 + i / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.attempts.append(post_single(http, self.world, i, instance))
        with self._lock:
            self.cpu_seconds += time.thread_time() - started


def _body(world: World, ref: str, i: int) -> dict[str, Any]:
    return {
        "learner_id": world.learners[i % len(world.learners)],
        "reference": ref,
        "outcome_type": "training_course",
        "title": "故障切换演练课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=5)).isoformat(),
        "hours": 16,
    }


def _institution(world: World, i: int) -> tuple[str, str]:
    return world.institutions[i % len(world.institutions)]


def post_single(http: Connection, world: World, i: int, instance: int) -> Attempt:
    """One single posting through the lean client (``tests/support/loadgen.py``: the generator
    shares the machine with the cluster and the service); a cut connection or a timeout is an error."""
    ref = f"single-{i}"
    _, token = _institution(world, i)
    attempt = Attempt(ref=ref, instance=instance, start=time.monotonic())
    try:
        r = http.post_json(
            "/api/v1/outcomes",
            _body(world, ref, i),
            {"Authorization": f"Bearer {token}", "Idempotency-Key": ref},
        )
    except TransportError as exc:
        attempt.error = type(exc).__name__
    else:
        attempt.status = r.status
        if r.is_problem:
            attempt.problem_type = r.json().get("type")
        attempt.retry_after = r.headers.get("retry-after")
    attempt.end = time.monotonic()
    return attempt


def _batch_rows(world: World, part: int) -> list[dict[str, Any]]:
    first = part * UPLOAD_ROWS
    return [_body(world, f"batch-{k}", k) for k in range(first, first + UPLOAD_ROWS)]


def post_batch(server: ServerProcess, world: World, part: int) -> tuple[int | None, dict[str, Any]]:
    """One upload; its status and its summary (with the ``error`` that ended it, if one did)."""
    _, token = world.institutions[0]
    try:
        r = httpx.post(
            server.base_url + "/api/v1/outcomes/batch",
            json=_batch_rows(world, part),
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
    except httpx.HTTPError as exc:
        return None, {"transport": type(exc).__name__}
    if r.status_code != 200:
        return r.status_code, {"problem": r.json().get("type")}
    found = r.json()
    summary: dict[str, Any] = found["summary"]
    if "error" in found:
        summary["error"] = found["error"].get("type")
    return 200, summary


def upload_complete(answer: tuple[int | None, dict[str, Any]]) -> bool:
    """Every row of the upload was created or already there, and nothing ended the upload early."""
    status, summary = answer
    return (
        status == 200
        and "error" not in summary
        and summary.get("errors") == 0
        and summary.get("created", 0) + summary.get("duplicate", 0) == UPLOAD_ROWS
    )


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    _cluster("down", "--purge")
    url = _cluster("up")
    try:
        yield url
    finally:
        _cluster("down")


def _wait_for_checkpoint(http: httpx.Client, verifier: NoteVerifier, size: int, timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        note = http.get("/logs/main/checkpoint").content
        if open_checkpoint(note, verifier).size >= size:
            return note
        assert time.monotonic() < deadline, f"no checkpoint of size {size} within {timeout} s"
        time.sleep(0.3)


def _rewinds(log_file: Path) -> tuple[int, int]:
    """How many times Patroni ran pg_rewind on this member, and how many of them succeeded."""
    log = log_file.read_text(errors="replace")
    return log.count("running pg_rewind"), log.count("pg_rewind exit code=0")


def _wait_healthy_again(killed: str, timeline_before: int) -> dict[str, Any]:
    """Wait until the killed member is back as a replica and the cluster is whole (a leader, a Sync
    Standby, a replica); return when that was, whether the member came back through a successful
    pg_rewind (Patroni's log), and the timelines the REST API reports."""
    log_file = HA_DIR / "logs" / f"{killed}.log"
    ran_before, ok_before = _rewinds(log_file)
    deadline = time.monotonic() + 180
    while True:
        members = {m["name"]: m for m in _members()}
        roles = sorted(str(m.get("role")) for m in members.values() if m.get("state") == "running")
        back = members.get(killed, {}).get("role") in {"replica", "sync_standby"}
        if back and roles == ["leader", "replica", "sync_standby"]:
            break
        assert time.monotonic() < deadline, f"cluster not whole again: {members}"
        time.sleep(1.0)
    _cluster("wait", "--timeout", "60")
    whole_at = time.monotonic()
    ran, ok = _rewinds(log_file)
    settle = time.monotonic() + 15  # a member publishes its timeline once a loop
    while True:
        members = {m["name"]: m for m in _members()}
        [leader] = [m for m in members.values() if m.get("role") == "leader"]
        if members[killed].get("timeline") == leader.get("timeline") or time.monotonic() > settle:
            break
        time.sleep(1.0)
    return {
        "whole_at": whole_at,
        "pg_rewind_runs": ran - ran_before,
        "pg_rewind_ok": ok - ok_before,
        "timeline_before": timeline_before,
        "leader_timeline": leader.get("timeline"),
        "rejoined_timeline": members[killed].get("timeline"),
    }


def _leader_timeline() -> int:
    [leader] = [m for m in _members() if m.get("role") == "leader"]
    return int(leader["timeline"])


def _member_url(cluster_url: str, port: int) -> str:
    """The cluster URL narrowed to one member."""
    base = cluster_url.split("?", 1)[0]
    return f"{base}?host=127.0.0.1:{port}&connect_timeout=3"


def _service_connections(cluster_url: str) -> dict[str, dict[str, Any]]:
    """For each running member: its role and how many connections of the service it serves."""
    found: dict[str, dict[str, Any]] = {}
    for m in _members():
        if m.get("state") != "running":
            continue
        port = int(str(m["port"]))
        engine = create_engine(_member_url(cluster_url, port), pool_size=1)
        try:
            with engine.connect() as conn:
                standby, count = conn.execute(
                    text(
                        "SELECT pg_is_in_recovery(), count(*) FROM pg_stat_activity "
                        "WHERE usename = current_user AND backend_type = 'client backend' "
                        "AND pid <> pg_backend_pid()"
                    )
                ).one()
        finally:
            engine.dispose()
        found[str(m["name"])] = {"role": m.get("role"), "standby": bool(standby), "connections": int(count)}
    return found


def _raw_insert_rate(cluster_url: str, threads: int, seconds: float, *, one_counter: bool = False) -> float:
    """The same-run baseline: commits a second of one-row INSERTs through the cluster (synchronous
    commit on a synchronous standby), from ``threads`` connections, no service in between. With
    ``one_counter`` each transaction first locks one shared counter row, as a log append does (its
    gapless sequence numbers): the lock is held until the commit has been confirmed by the standby."""
    engine = create_engine(cluster_url, pool_size=threads, max_overflow=0)
    done = [0] * threads
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE ha_baseline (id bigserial PRIMARY KEY, body text NOT NULL)"))
            conn.execute(text("CREATE TABLE ha_counter (id int PRIMARY KEY, n bigint NOT NULL)"))
            conn.execute(text("INSERT INTO ha_counter VALUES (1, 0)"))
        until = time.monotonic() + seconds

        def run(n: int) -> None:
            with engine.connect() as conn:
                while time.monotonic() < until:
                    if one_counter:
                        conn.execute(text("UPDATE ha_counter SET n = n + 1 WHERE id = 1"))
                    conn.execute(text("INSERT INTO ha_baseline (body) VALUES (:b)"), {"b": "x" * 500})
                    conn.commit()
                    done[n] += 1

        workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE ha_baseline, ha_counter"))
    finally:
        engine.dispose()
    return sum(done) / seconds


def _server_post_times(servers: list[ServerProcess]) -> list[float]:
    """Server-side milliseconds of every single posting, from the access log lines."""
    times = []
    for server in servers:
        for line in (server.var_dir / f"server-{server.port}.log").read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("route") == "/api/v1/outcomes" and entry.get("method") == "POST" and "ms" in entry:
                times.append(float(entry["ms"]))
    return times


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {f"p{q}": round(ordered[min(len(ordered) - 1, len(ordered) * q // 100)], 1) for q in (50, 90, 99)}


def test_failover_rehearsal(cluster_url: str, tmp_path: Path) -> None:
    report: dict[str, Any] = {
        "rate_per_second": RATE,
        "batch_rows": BATCH_ROWS,
        "client_threads": CLIENT_THREADS,
        "workers_per_instance": WORKERS,
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
    }
    engine = create_engine(cluster_url, pool_size=2)
    upgrade(engine)
    world = build_world(cluster_url, tmp_path, n_institutions=2, n_learners=40)
    size_at_start, wal_at_start = _database_size_and_wal(engine)
    # the same-run baseline of the posting rate: bare INSERTs through the cluster, many clients and one
    report["raw_insert_commits_per_second"] = round(_raw_insert_rate(cluster_url, BASELINE_CLIENTS, 3.0), 1)
    report["raw_insert_commits_per_second_one_client"] = round(_raw_insert_rate(cluster_url, 1, 3.0), 1)
    report["raw_insert_commits_per_second_one_counter_row"] = round(
        _raw_insert_rate(cluster_url, BASELINE_CLIENTS, 3.0, one_counter=True), 1
    )
    read_url = _cluster("url", "--read")
    env = {
        "CREDITBANK_READ_DATABASE_URL": read_url,
        "CREDITBANK_CHECKPOINT_REQUIRES_SYNC_STANDBY": "true",
        "CREDITBANK_CHECKPOINT_INTERVAL_SECONDS": str(PUBLISH_INTERVAL),
        "CREDITBANK_UNAVAILABLE_RETRY_AFTER_SECONDS": str(RETRY_AFTER_SECONDS),
        "CREDITBANK_LOG_LEVEL": "INFO",
    }
    servers = [
        ServerProcess(cluster_url, tmp_path, workers=WORKERS, extra_env=env, start_timeout=300)
        for _ in range(2)
    ]
    with ThreadPoolExecutor(2) as starting:
        list(starting.map(ServerProcess.start, servers))
    http = httpx.Client(base_url=servers[0].base_url, timeout=30)
    load = Load(world, servers)
    seen_checkpoints: dict[int, bytes] = {}
    public_reads: Counter[str] = Counter()  # the poller's answers: read on the standbys
    polling = threading.Event()
    thread_cpu: dict[str, float] = {}  # CPU seconds of the rehearsal's other threads
    wall_offset = time.time() - time.monotonic()
    try:
        [log] = http.get("/logs").json()
        verifier = NoteVerifier.parse(log["verifier_key"])

        def poll() -> None:  # every checkpoint a client could have seen (through the lean client)
            started = time.thread_time()
            with Connection(servers[1].base_url, timeout=5) as poller:
                while not polling.is_set():
                    try:
                        r = poller.get("/logs/main/checkpoint")
                    except TransportError as exc:
                        public_reads[type(exc).__name__] += 1
                        continue
                    public_reads[str(r.status)] += 1
                    if r.status == 200:
                        seen_checkpoints[open_checkpoint(r.body, verifier).size] = r.body
                    time.sleep(0.1)
            thread_cpu["checkpoint_poller"] = time.thread_time() - started

        cpu_before, process_cpu = _cpu_snapshot(), ProcessCpu(lambda: _cpu_groups(servers))
        poller = threading.Thread(target=poll)
        poller.start()
        process_cpu.start()
        load.start()
        time.sleep(3)

        # an auditor's state from before any failure
        state = tmp_path / "audit-state.json"
        acked = sum(1 for a in load.attempts if a.status in (200, 201))
        _wait_for_checkpoint(http, verifier, acked)
        before = _cli_in_process(
            "audit", "verify", "--url", servers[0].base_url, "--key", log["verifier_key"],
            "--state", str(state), "--no-progress",
        )  # fmt: skip
        assert before.returncode == 0, before.stdout + before.stderr
        size_before = json.loads(state.read_text())
        report["audit_state_before"] = size_before

        # the upload runs while the first leader dies
        batch_answers: list[tuple[int | None, dict[str, Any]]] = []

        def upload() -> None:
            started = time.thread_time()
            batch_answers.extend(post_batch(servers[0], world, part) for part in range(UPLOADS))
            thread_cpu["batch_uploader"] = time.thread_time() - started

        uploader = threading.Thread(target=upload)
        uploader.start()
        time.sleep(1.0)
        kills: list[dict[str, Any]] = []
        for round_ in range(2):
            # cut off from its standbys first, so its WAL runs past the new leader's fork point: it
            # can come back only through pg_rewind (a plain kill under load left nothing to rewind)
            timeline = _leader_timeline()
            since = time.time()
            killed = _cluster("kill-leader", "--diverge")
            at = time.monotonic()
            back = _wait_healthy_again(killed, timeline)
            kills.append(
                {"member": killed, "at": at, "since": since,
                 "whole_after_s": round(back.pop("whole_at") - at, 1), **back}
            )  # fmt: skip
            # the old leader rejoined through a successful pg_rewind, on the new leader's timeline
            assert back["pg_rewind_runs"] >= 1 and back["pg_rewind_ok"] >= 1, kills[-1]
            assert back["leader_timeline"] == back["rejoined_timeline"] == timeline + 1, kills[-1]
            if round_ == 0:
                uploader.join(timeout=180)
            time.sleep(4)  # steady load on the whole cluster before the next kill
        # the service reads the public log on the standbys: it keeps connections there
        connections = _service_connections(cluster_url)
        report["service_connections"] = connections
        assert any(m["standby"] and m["connections"] > 0 for m in connections.values()), connections
        load.stop()
        polling.set()
        poller.join(timeout=10)
        groups, cpu_after = process_cpu.stop(), _cpu_snapshot()
        thread_cpu["posting_threads"] = load.cpu_seconds
        thread_cpu["cpu_sampler"] = process_cpu.thread_seconds
        report["cpu_ms_per_request"] = _cpu_per_request(
            cpu_before, cpu_after, groups, thread_cpu, len(load.attempts)
        )
        report["load_seconds"] = round(load.seconds, 1)
        report["load_average_after_load"] = [round(x, 1) for x in os.getloadavg()]
        report["achieved_rate_per_second"] = round(len(load.attempts) / load.seconds, 1)
        report["post_ms_client"] = _percentiles([(a.end - a.start) * 1000 for a in load.attempts])
        report["post_ms_server"] = _percentiles(_server_post_times(servers))
        report["public_checkpoint_reads"] = dict(public_reads)
        # public reads during both failovers: a checkpoint, or a 503 problem; never a 500
        assert set(public_reads) <= {"200", "503"}, public_reads

        # 1. what clients saw: 2xx, or a 503 problem with Retry-After; never a 500 or a dropped connection
        attempts = load.attempts
        outcomes = Counter(str(a.status or a.error) for a in attempts)
        report["requests"] = dict(outcomes)
        bad = [a for a in attempts if a.status not in (200, 201, 503)]
        assert bad == [], [asdict(a) for a in bad[:5]]
        for a in attempts:
            if a.status == 503:
                assert a.retry_after is not None and a.problem_type is not None, asdict(a)
        ends = [kill["at"] for kill in kills[1:]] + [float("inf")]
        for kill, until in zip(kills, ends, strict=True):
            after = [a for a in attempts if a.start >= kill["at"]]
            first_ok = min((a.end for a in after if a.status in (200, 201)), default=None)
            assert first_ok is not None, "writes resumed"
            kill["downtime_s"] = round(first_ok - kill["at"], 2)
            kill["downtime_parts_s"] = breakdown(
                HA_DIR / "logs", kill["member"], kill.pop("since"), kill["at"] + wall_offset,
                first_ok + wall_offset,
            )  # fmt: skip
            answered = [a for a in attempts if kill["at"] <= a.end < until]
            kill["failed_requests"] = sum(1 for a in answered if a.status not in (200, 201))
            kill["requests_answered_until_next_kill"] = len(answered)
            kill.pop("at")
        report["failovers"] = kills

        # 2. the upload: re-sent until it answers 200, every row once
        report["uploads_first_answers"] = batch_answers
        for part in range(UPLOADS):
            for _ in range(5):  # re-sent as a client would, until every row is in
                answer = post_batch(servers[1], world, part)
                if upload_complete(answer):
                    break
                time.sleep(RETRY_AFTER_SECONDS)
            assert upload_complete(answer), answer

        # 3. unacknowledged postings: in the ledger once or not at all; a retry with the same key settles them
        unacked = [a for a in attempts if a.status not in (200, 201)]
        with Connection(servers[0].base_url, timeout=REQUEST_TIMEOUT) as retry:
            presence_before = _presence(world, [a.ref for a in unacked])
            assert set(presence_before.values()) <= {0, 1}
            for a in unacked:
                i = int(a.ref.split("-")[1])
                again = post_single(retry, world, i, 0)
                assert again.status in (200, 201), asdict(again)
        report["unacknowledged"] = len(unacked)
        report["unacknowledged_already_applied"] = sum(presence_before.values())

        # 4. the ledger: every acknowledged and retried posting and every uploaded row exactly once,
        #    each with one lot and one journal entry; sequence numbers gapless
        singles = [a.ref for a in attempts]
        with world.ctx.engine.connect() as conn:
            counts = _presence(world, singles + [f"batch-{k}" for k in range(BATCH_ROWS)])
            assert set(counts.values()) == {1}
            lots_per_outcome = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT outcome_id), count(DISTINCT recognition_tx_id) "
                    "FROM ledger_lots"
                )
            ).one()
            total = len(counts)
            assert tuple(lots_per_outcome) == (total, total, total)
            seqs = [
                r[0]
                for r in conn.execute(
                    text("SELECT seq FROM ledger_transactions WHERE log_id='main' ORDER BY seq")
                )
            ]
            assert seqs == list(range(total)), "gapless sequence numbers"
            size = conn.execute(text("SELECT size FROM tlog_logs WHERE id='main'")).scalar_one()
            assert size == total
            published: dict[int, str] = dict(
                conn.execute(text("SELECT size, note FROM tlog_checkpoints WHERE log_id='main'")).all()
            )
            signed_order = [
                int(r[0])
                for r in conn.execute(
                    text("SELECT size FROM tlog_checkpoints WHERE log_id='main' ORDER BY created_at")
                )
            ]
        # one signer at a time: in the order they were signed, sizes only grow
        assert signed_order == sorted(signed_order)
        report["entries"] = total
        size_at_end, wal_at_end = _database_size_and_wal(engine)
        report["database_bytes_per_entry"] = round((size_at_end - size_at_start) / total)
        report["wal_bytes_per_entry"] = round((wal_at_end - wal_at_start) / total)

        # 5. every checkpoint ever published is consistent with the final tree
        final = _wait_for_checkpoint(http, verifier, total)
        final_cp = open_checkpoint(final, verifier)
        notes = {**{int(k): v.encode() for k, v in published.items()}, **seen_checkpoints}
        for cp_size, note in sorted(notes.items()):
            cp = open_checkpoint(note, verifier)
            if cp_size in {0, final_cp.size}:
                continue
            proof = http.get(
                "/logs/main/proof/consistency", params={"first": cp_size, "second": final_cp.size}
            ).json()
            assert merkle.is_valid_consistency(
                cp_size,
                final_cp.size,
                [base64.b64decode(p) for p in proof["proof"]],
                cp.root_hash,
                final_cp.root_hash,
            ), f"checkpoint {cp_size} is not consistent with {final_cp.size}: a fork"
        report["checkpoints_checked"] = len(notes)
        report["checkpoints_seen_by_clients"] = len(seen_checkpoints)

        # 6. the auditor with the state from before the failovers, and the operator's audit
        audited = _cli("audit", "verify", "--url", servers[1].base_url, "--key", log["verifier_key"],
                     "--state", str(state), "--no-progress")  # fmt: skip
        assert audited.returncode == 0, audited.stdout + audited.stderr
        report["audit_verify"] = audited.stdout.strip().splitlines()[-1]
        if _cli("audit", "database", "--help").returncode == 0:
            internal = _cli("audit", "database", "--url", cluster_url)
            assert internal.returncode == 0, internal.stdout + internal.stderr
            report["audit_database"] = "clean"
        else:
            report["audit_database"] = "not in this version"
        report["signers"] = sorted({pid for server in servers for pid in _signers(server)})
    finally:
        polling.set()
        load.stop()
        http.close()
        for server in servers:
            server.stop()
        world.ctx.engine.dispose()
        engine.dispose()
        (HA_DIR / "rehearsal.json").write_text(json.dumps(report, indent=2) + "\n")
        print("\nfailover rehearsal:\n" + json.dumps(report, indent=2), file=sys.stderr)


def _machine_busy_seconds() -> float:
    """CPU seconds every process of the machine has used since boot (``/proc/stat``; not idle, not iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_groups(servers: list[ServerProcess]) -> list[Group]:
    """The processes whose CPU the rehearsal reports, in the order they claim processes: each member's
    PostgreSQL under the role it has now (a standby has ``standby.signal``), each member's Patroni
    under its supervisor (the supervisor reaps orphans: its children's seconds are not its own), etcd,
    each service instance."""
    groups = []
    for home in sorted(HA_DIR.glob("pg[0-9]")):
        postmaster = pid_from_file(home / "data" / "postmaster.pid")
        if postmaster is not None:
            role = "standby" if (home / "data" / "standby.signal").exists() else "primary"
            groups.append(Group(f"postgres_{role}", [postmaster], key=f"{home.name} postgres {postmaster}"))
    for name in ("pg1", "pg2", "pg3", "etcd"):
        pid = pid_from_file(HA_DIR / "pids" / f"{name}.pid")
        if pid is not None:
            label = "etcd" if name == "etcd" else "patroni"
            groups.append(Group(label, [pid], key=f"{name} {pid}", own_only={pid}))
    for n, server in enumerate(servers, start=1):
        if server.process is not None:
            groups.append(Group(f"service_{n}", [server.process.pid]))
    return groups


def _cpu_snapshot() -> dict[str, float]:
    times = os.times()
    return {
        "rehearsal_process": times.user + times.system,
        "rehearsal_children": times.children_user + times.children_system,
        "machine": _machine_busy_seconds(),
        "wall": time.monotonic(),
    }


def _cpu_per_request(
    before: dict[str, float],
    after: dict[str, float],
    groups: dict[str, float],
    threads: dict[str, float],
    requests: int,
) -> dict[str, Any]:
    """CPU milliseconds per single posting sent, while the load ran, per process group: the service's
    instances; the cluster's PostgreSQL (primary and standbys, by the role each member had at each
    second), Patroni (three) and etcd (a lower bound: the second before a process is killed is lost);
    this process, split into its threads (the posting threads, the checkpoint poller, the batch
    uploader, the CPU sampler; the rest is the main thread: health polling, the audit state); the
    commands it ran and waited for (``scripts/ha/cluster kill-leader`` and ``wait``, psql,
    ``creditbank audit verify``); every process of the machine (the rest is other work). Unlike the rate,
    these hold on a loaded machine: 100 postings a second need 100 times their sum, in CPU seconds a
    second."""
    per = max(1, requests) / 1000

    def ms(seconds: float) -> float:
        return round(seconds / per, 2)

    used = {key: after[key] - before[key] for key in before}
    service = sum(v for k, v in groups.items() if k.startswith("service_"))
    postgres = sum(v for k, v in groups.items() if k.startswith("postgres_"))
    cluster = postgres + groups.get("patroni", 0.0) + groups.get("etcd", 0.0)
    main_thread = used["rehearsal_process"] - sum(threads.values())
    return {
        "service": ms(service),
        "cluster": ms(cluster),
        "rehearsal_process": ms(used["rehearsal_process"]),
        "machine_all_processes": ms(used["machine"]),
        "machine_cores_busy": round(used["machine"] / max(1e-9, used["wall"]), 2),
        "by_process": {name: ms(seconds) for name, seconds in sorted(groups.items())},
        "rehearsal_threads": {
            **{name: ms(seconds) for name, seconds in sorted(threads.items())},
            "main_and_other": ms(main_thread),
        },
        "rehearsal_children": ms(used["rehearsal_children"]),
    }


def _database_size_and_wal(engine: Engine) -> tuple[int, int]:
    """The database's size and the WAL position, in bytes."""
    with engine.connect() as conn:
        size, wal = conn.execute(
            text("SELECT pg_database_size(current_database()), pg_current_wal_lsn() - '0/0'::pg_lsn")
        ).one()
    return int(size), int(wal)


def _presence(world: World, refs: list[str]) -> dict[str, int]:
    """For each reference: how many outcomes carry it, across the institutions that posted."""
    with world.ctx.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT reference, count(*) FROM outcomes WHERE reference = ANY(:refs) GROUP BY reference"),
            {"refs": refs},
        ).all()
    found = {str(r[0]): int(r[1]) for r in rows}
    return {ref: found.get(ref, 0) for ref in refs}


def _signers(server: ServerProcess) -> list[int]:
    pids = []
    for line in (server.var_dir / f"server-{server.port}.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "creditbank.checkpoints" and entry.get("msg") == "checkpoint":
            pids.append(int(entry["pid"]))
    return pids
