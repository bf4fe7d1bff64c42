"""SIGKILL the server in the middle of a stream of postings: nothing acknowledged is lost."""

import base64
import datetime as dt
import threading
import time
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


def test_acknowledged_postings_survive_sigkill(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "crash", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=4)
    _, token = world.institutions[0]
    server = ServerProcess(url, tmp_path).start()
    acknowledged: dict[str, dict[str, Any]] = {}  # idempotency key -> response body
    attempted: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            i = 0
            while not stop.is_set():
                key = f"crash-{i}"
                body = {
                    "learner_id": world.learners[i % len(world.learners)],
                    "reference": key,
                    "outcome_type": "training_course",
                    "title": "断电测试课程",
                    "achieved_on": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
                    "hours": 16 + 8 * (i % 5),
                }
                attempted.append((key, body))
                try:
                    r = http.post(
                        "/api/v1/outcomes",
                        json=body,
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                    )
                except httpx.HTTPError:
                    return  # the server died mid-request: not acknowledged
                if r.status_code == 201:
                    acknowledged[key] = r.json()
                i += 1

    writer = threading.Thread(target=stream)
    writer.start()
    deadline = time.monotonic() + 120
    while len(acknowledged) < 60 and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    stop.set()
    writer.join(timeout=30)
    assert len(acknowledged) >= 60

    restarted = ServerProcess(url, tmp_path, port=server.port).start()
    try:
        http = httpx.Client(
            base_url=restarted.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        for key, body in acknowledged.items():
            got = http.get(f"/api/v1/outcomes/{body['id']}")
            assert got.status_code == 200, key
            assert got.json()["ledger"] == body["ledger"], "the acknowledged ledger entry is unchanged"
        # retrying every attempted request with its key applies nothing twice
        for key, body in attempted:
            r = http.post("/api/v1/outcomes", json=body, headers={"Idempotency-Key": key})
            assert r.status_code in (200, 201), r.text
            if key in acknowledged:
                assert r.json()["id"] == acknowledged[key]["id"]
        with world.ctx.engine.connect() as conn:
            refs = conn.execute(text("SELECT count(*), count(DISTINCT reference) FROM outcomes")).one()
            assert refs[0] == refs[1] == len(attempted)
            seqs = [r[0] for r in conn.execute(text("SELECT seq FROM ledger_transactions ORDER BY seq"))]
            assert seqs == list(range(len(seqs)))
        # the log still verifies: the root over all leaves is the signed one
        verifier = NoteVerifier.parse(http.get("/logs").json()[0]["verifier_key"])
        deadline = time.monotonic() + 20
        while True:
            checkpoint = open_checkpoint(http.get("/logs/main/checkpoint").text.encode(), verifier)
            if checkpoint.size == len(seqs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert checkpoint.size == len(seqs)
        tree = merkle.MemoryNodeStore()
        for start in range(0, checkpoint.size, 1000):
            page = http.get("/logs/main/entries", params={"start": start, "end": start + 1000}).json()[
                "entries"
            ]
            tree.extend(base64.b64decode(e["leaf"]) for e in page)
        assert tree.root() == checkpoint.root_hash
        http.close()
    finally:
        restarted.stop()
        world.ctx.engine.dispose()
