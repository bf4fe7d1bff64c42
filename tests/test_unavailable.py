"""A database that is down or read-only (a failover) answers 503 with Retry-After, never 500.

Tried from outside: a served process on its own PostgreSQL server, which the test stops and starts
again; and a database that refuses writes as a standby being promoted does.
"""

import contextlib
import datetime as dt
import http.client
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine, transaction
from creditbank.demo import load_demo, load_exchange
from creditbank.main import create_app
from tests.support.postgres import PostgresServer, start_postgres
from tests.support.server import ServerProcess, prepare_database
from tests.support.world import World, build_world
from tests.test_worker_replacement import REPLACED_WITHIN, _workers

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"


def _outcome(world: World, reference: str) -> dict[str, Any]:
    return {
        "learner_id": world.learners[0],
        "reference": reference,
        "outcome_type": "training_course",
        "title": "停机测试课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
        "hours": 32,
    }


def _assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["type"] == "https://creditbank.example/problems/database-unavailable"
    assert body["status"] == 503


@pytest.fixture(scope="module")
def own_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module alone: the tests stop it."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


def test_outage_answers_503_keeps_the_connection_and_recovers(own_pg: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(own_pg, "outage", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=2)
    world.ctx.engine.dispose()
    server = ServerProcess(url, tmp_path, publisher=False)
    # the demo's certificates name the served process's own address, so that it verifies them
    demo = build_context(
        Settings(var_dir=tmp_path, database_url=url, base_url=server.base_url, background_publisher=False),
        engine=create_engine(url, pool_size=2),
    )
    for session in transaction(demo.sessions):
        load_demo(session, demo)
    for session in transaction(demo.sessions):
        certificate, _ = load_exchange(session, demo)
    demo.engine.dispose()
    _, token = world.institutions[0]
    headers = {"Authorization": f"Bearer {token}"}
    server.start()
    try:
        http_client = httpx.Client(base_url=server.base_url, timeout=10, headers=headers)
        first = http_client.post(
            "/api/v1/outcomes", json=_outcome(world, "before"), headers={"Idempotency-Key": "before"}
        )
        assert first.status_code == 201, first.text
        # a heavy request: its slot is an advisory lock on a connection the process keeps
        batch_headers = {"Content-Type": "application/x-ndjson"}
        before = http_client.post("/api/v1/outcomes/batch", content=b"", headers=batch_headers)
        assert before.status_code == 200, before.text
        verified = http_client.post("/api/v1/verify", json={"certificate": certificate})
        assert verified.status_code == 200 and verified.json()["valid"], verified.text

        own_pg.halt()
        # the same kept-alive connection answers every request of the outage
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        requests: list[tuple[str, str, str | None]] = [
            ("POST", "/api/v1/outcomes", json.dumps(_outcome(world, "during"))),
            ("GET", f"/api/v1/outcomes/{first.json()['id']}", None),
            ("GET", "/logs", None),
            ("GET", "/logs/default/checkpoint", None),
            # a verification that cannot read the keys, lists and log is no verdict on the certificate
            ("POST", "/api/v1/verify", json.dumps({"certificate": certificate})),
        ]
        sock = None
        for method, path, body in requests:
            conn.request(
                method,
                path,
                body=body,
                headers={**headers, "Idempotency-Key": "during", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            payload = response.read()
            assert response.status == 503, (path, payload)
            assert response.getheader("content-type") == PROBLEM
            assert int(response.getheader("retry-after") or "0") > 0
            assert response.getheader("connection") != "close"
            sock = sock or conn.sock
            assert conn.sock is sock, "the connection stays open"
        conn.close()
        _assert_unavailable(http_client.post("/api/v1/outcomes", json=_outcome(world, "during")))
        ready = http_client.get("/readyz")
        assert ready.status_code == 503
        assert http_client.get("/healthz").status_code == 200

        own_pg.resume()
        deadline = time.monotonic() + 20
        while True:
            again = http_client.post(
                "/api/v1/outcomes", json=_outcome(world, "during"), headers={"Idempotency-Key": "during"}
            )
            if again.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 201, again.text
        assert http_client.get("/readyz").status_code == 200
        # the slot connection from before the restart is replaced at its first use, not answered 503
        batch = http_client.post("/api/v1/outcomes/batch", content=b"", headers=batch_headers)
        assert batch.status_code == 200, batch.text
        assert http_client.get(f"/api/v1/outcomes/{first.json()['id']}").status_code == 200
    finally:
        server.stop()
        if own_pg.process.poll() is not None:
            own_pg.resume()


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_a_worker_replaced_during_an_outage_starts_and_serves(own_pg: PostgresServer, tmp_path: Path) -> None:
    """A worker that dies while the database is down is replaced by one that starts without it
    (answering 503 until it is back), not by one whose failed start stops the whole server."""
    url = prepare_database(own_pg, "outage_replacement", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=2)
    world.ctx.engine.dispose()
    _, token = world.institutions[0]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "after"}
    server = ServerProcess(url, tmp_path, workers=2).start()
    assert server.process is not None
    supervisor = server.process.pid
    stopped: list[int] = []
    try:
        _until(lambda: len(_workers(supervisor)) == 2, 60, "two workers")
        victim, other = _workers(supervisor)
        own_pg.halt()
        os.kill(victim, signal.SIGKILL)
        _until(
            lambda: [pid for pid in _workers(supervisor) if pid not in (victim, other)] != [],
            REPLACED_WITHIN,
            "a new worker",
        )
        [new] = [pid for pid in _workers(supervisor) if pid not in (victim, other)]
        # only the new worker may answer now: it started with the database down
        os.kill(other, signal.SIGSTOP)
        stopped.append(other)
        _until(lambda: _healthy(server.base_url), REPLACED_WITHIN, f"worker {new} serving")
        assert server.process.poll() is None, "the server is still running"
        _assert_unavailable(
            httpx.post(server.base_url + "/api/v1/outcomes", json=_outcome(world, "after"), headers=headers)
        )
        own_pg.resume()
        deadline = time.monotonic() + 30
        while True:
            again = httpx.post(
                server.base_url + "/api/v1/outcomes",
                json=_outcome(world, "after"),
                headers=headers,
                timeout=10,
            )
            if again.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 201, again.text
        assert _workers(supervisor) == sorted([other, new])
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        server.stop()
        if own_pg.process.poll() is not None:
            own_pg.resume()


def test_read_only_database_answers_503_for_writes_and_serves_reads(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    url = prepare_database(pg_server, "read_only", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=2)
    world.ctx.engine.dispose()
    _, token = world.institutions[0]
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute("ALTER DATABASE read_only SET default_transaction_read_only = on")
    engine = create_engine(url, pool_size=2)
    settings = Settings(var_dir=tmp_path, database_url=url, background_publisher=False)
    try:
        with TestClient(
            create_app(ctx=build_context(settings, engine=engine)), raise_server_exceptions=False
        ) as client:
            response = client.post(
                "/api/v1/outcomes",
                json=_outcome(world, "ro"),
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "ro"},
            )
            _assert_unavailable(response)
            assert "read-only" in response.json()["detail"]
            assert client.get("/logs").status_code == 200
    finally:
        engine.dispose()
