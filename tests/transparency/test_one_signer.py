"""Two service instances of two workers each on one database: one process signs every checkpoint.

Before the publisher took a lock, every worker signed its own checkpoints: pairs 60 ms apart with
different sizes, from different processes.
"""

import base64
import datetime as dt
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.note import NoteVerifier, open_checkpoint
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.support.world import build_world

pytestmark = pytest.mark.slow

INTERVAL = 0.3  # seconds between a publisher's rounds
POSTING_SECONDS = 4.0


def _outcome(learner_id: str, ref: str) -> dict[str, Any]:
    return {
        "learner_id": learner_id,
        "reference": ref,
        "outcome_type": "training_course",
        "title": "签名者测试课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=3)).isoformat(),
        "hours": 16,
    }


def _signers(server: ServerProcess) -> list[int]:
    """The process id of every checkpoint this instance's workers logged signing."""
    pids = []
    for line in (server.var_dir / f"server-{server.port}.log").read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "creditbank.checkpoints" and entry.get("msg") == "checkpoint":
            pids.append(int(entry["pid"]))
    return pids


def test_two_instances_of_two_workers_have_one_signer(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "one_signer", tmp_path)
    world = build_world(url, tmp_path)
    env = {
        "CREDITBANK_CHECKPOINT_INTERVAL_SECONDS": str(INTERVAL),
        "CREDITBANK_LOG_LEVEL": "INFO",
        "CREDITBANK_DB_POOL_SIZE": "4",
    }
    servers = [ServerProcess(url, tmp_path, workers=2, extra_env=env, start_timeout=300) for _ in range(2)]
    with ThreadPoolExecutor(2) as starting:
        list(starting.map(ServerProcess.start, servers))
    try:
        acknowledged: list[int] = []

        def poster(n: int) -> None:
            server = servers[n % 2]
            _, token = world.institutions[n % len(world.institutions)]
            deadline = time.monotonic() + POSTING_SECONDS
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                i = 0
                while time.monotonic() < deadline:
                    r = http.post(
                        "/api/v1/outcomes",
                        json=_outcome(world.learners[(n + i) % len(world.learners)], f"s{n}-{i}"),
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"s{n}-{i}"},
                    )
                    assert r.status_code == 201, r.text
                    acknowledged.append(1)
                    i += 1
                    time.sleep(0.02)

        threads = [threading.Thread(target=poster, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        total = len(acknowledged)
        assert total > 20

        http = httpx.Client(base_url=servers[0].base_url, timeout=30)
        [log] = http.get("/logs").json()
        verifier = NoteVerifier.parse(log["verifier_key"])
        deadline = time.monotonic() + 20
        while open_checkpoint(http.get("/logs/main/checkpoint").text.encode(), verifier).size < total:
            assert time.monotonic() < deadline, "a checkpoint within seconds of growth"
            time.sleep(0.2)

        # 1. one process signed every checkpoint, in one instance
        signers = [_signers(server) for server in servers]
        assert len({pid for pids in signers for pid in pids}) == 1, signers
        # 2. in the order they were signed, sizes strictly increase, never two within one interval
        with world.ctx.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT size, created_at, note FROM tlog_checkpoints WHERE log_id = :log ORDER BY 2"),
                {"log": "main"},
            ).all()
        sizes = [int(r[0]) for r in rows]
        assert sizes == sorted(set(sizes)) and sizes[-1] == total
        gaps = [(b[1] - a[1]).total_seconds() for a, b in itertools.pairwise(rows)]
        assert min(gaps) >= INTERVAL * 0.9, gaps
        # 3. every checkpoint verifies and is consistent with the next one
        roots = [open_checkpoint(r[2].encode(), verifier).root_hash for r in rows]
        for (first, first_root), (second, second_root) in itertools.pairwise(zip(sizes, roots, strict=True)):
            if first == 0:
                continue
            proof = http.get("/logs/main/proof/consistency", params={"first": first, "second": second}).json()
            assert merkle.is_valid_consistency(
                first, second, [base64.b64decode(p) for p in proof["proof"]], first_root, second_root
            )
        http.close()
    finally:
        for server in servers:
            server.stop()
        world.ctx.engine.dispose()
