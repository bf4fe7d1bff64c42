"""Reads that may be stale on a hot standby (``CREDITBANK_READ_DATABASE_URL``), tried from outside.

A served process whose database is a real PostgreSQL primary and whose read URL is a real hot
standby of it (streaming replication, started by the test support). The standby's replay is paused
to make it stale on purpose; then a client asks for what the standby has and for what only the
primary has:

* the latest checkpoint, the log list and the archive come from the standby (its older tree: a
  stale answer, but a signed and consistent one);
* a proof against a checkpoint the standby does not hold yet, an inclusion proof of a leaf past its
  tree and entries past its checkpoint are answered by the primary, never refused and never
  answered against a checkpoint the answer's nodes do not belong to;
* a size that was never published is a 409 problem, as without a standby;
* writes never go to the standby (it would refuse them: 503);
* with the standby down, the primary answers every read.
"""

import base64
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.note import NoteVerifier, open_checkpoint
from creditbank.transparency.publisher import publish_all
from tests.support.postgres import PostgresServer, start_postgres, start_standby
from tests.support.server import ServerProcess, prepare_database
from tests.support.world import World, build_world

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def primary_and_standby() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    primary = start_postgres(fsync=True)
    standby: PostgresServer | None = None
    try:
        standby = start_standby(primary)
        yield primary, standby
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


def _outcome(world: World, reference: str) -> dict[str, Any]:
    return {
        "learner_id": world.learners[0],
        "reference": reference,
        "outcome_type": "training_course",
        "title": "只读副本课程",
        "achieved_on": (dt.date.today() - dt.timedelta(days=2)).isoformat(),
        "hours": 16,
    }


def _caught_up(primary: PostgresServer, standby: PostgresServer) -> None:
    with psycopg.connect(primary.url(), autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + 30
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", lsn).fetchone()
            if row and row[0]:
                return
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.1)


def _pause_replay(standby: PostgresServer) -> None:
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _resume_replay(standby: PostgresServer) -> None:
    with psycopg.connect(standby.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


def _post(http: httpx.Client, world: World, ref: str) -> None:
    r = http.post("/api/v1/outcomes", json=_outcome(world, ref), headers={"Idempotency-Key": ref})
    assert r.status_code == 201, r.text


def _publish(world: World) -> int:
    [row] = publish_all(world.ctx)
    return row.size


def _checkpoint_size(http: httpx.Client, verifier: NoteVerifier) -> int:
    r = http.get("/logs/main/checkpoint")
    assert r.status_code == 200, r.text
    return open_checkpoint(r.content, verifier).size


def _b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def test_stale_standby_answers_what_it_holds_and_the_primary_the_rest(
    primary_and_standby: tuple[PostgresServer, PostgresServer], tmp_path: Path
) -> None:
    primary, standby = primary_and_standby
    url = prepare_database(primary, "replica_reads", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=1)
    _, token = world.institutions[0]
    standby_url = f"postgresql://postgres@127.0.0.1:{standby.port}/replica_reads"
    server = ServerProcess(
        url, tmp_path, publisher=False, extra_env={"CREDITBANK_READ_DATABASE_URL": standby_url}
    ).start()
    http = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    # an admin's read of the archive is checked and logged on the primary, then read on the standby
    admin = {"Authorization": f"Bearer {world.admin_token}"}
    archive_path = f"/api/v1/learners/{world.learners[0]}/archive"
    try:
        for i in range(3):
            _post(http, world, f"early-{i}")
        old = _publish(world)
        _caught_up(primary, standby)
        [log] = http.get("/logs").json()
        verifier = NoteVerifier.parse(log["verifier_key"])
        assert _checkpoint_size(http, verifier) == old

        _pause_replay(standby)
        for i in range(3):  # writes reach the primary: the read-only standby would answer 503
            _post(http, world, f"late-{i}")
        new = _publish(world)
        assert new > old

        # the standby's tree: stale, signed, and the same for every latest-read route
        assert _checkpoint_size(http, verifier) == old
        assert http.get("/logs").json()[0]["size"] == old
        assert len(http.get("/logs/main/entries", params={"start": 0}).json()["entries"]) == old
        archive = http.get(archive_path, headers=admin)
        assert archive.status_code == 200, archive.text
        assert {o["reference"] for o in archive.json()["outcomes"]} == {f"early-{i}" for i in range(3)}

        # what only the primary holds is answered by the primary, against the checkpoint it names
        new_cp = open_checkpoint(http.get("/logs/main/checkpoint").content, verifier)  # the standby's
        assert new_cp.size == old
        for params in ({"index": new - 1, "size": new}, {"index": new - 1}):
            r = http.get("/logs/main/proof/inclusion", params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            cp = open_checkpoint(body["checkpoint"].encode(), verifier)
            assert (body["size"], cp.size) == (new, new)
            assert merkle.is_valid_inclusion(
                base64.b64decode(body["leaf_hash"]), new - 1, new, _b64(body["proof"]), cp.root_hash
            )
        r = http.get("/logs/main/proof/consistency", params={"first": old, "second": new})
        assert r.status_code == 200, r.text
        body = r.json()
        cp = open_checkpoint(body["checkpoint"].encode(), verifier)
        old_root = open_checkpoint(http.get("/logs/main/checkpoint").content, verifier).root_hash
        assert merkle.is_valid_consistency(old, new, _b64(body["proof"]), old_root, cp.root_hash)
        entries = http.get("/logs/main/entries", params={"start": 0, "end": new}).json()["entries"]
        assert [e["index"] for e in entries] == list(range(new))

        # a size nobody published: the same 409 problem as without a standby, not a 500
        r = http.get("/logs/main/proof/inclusion", params={"index": 0, "size": new + 7})
        assert (r.status_code, r.headers["content-type"]) == (409, PROBLEM), r.text
        assert r.json()["type"].endswith("/no-checkpoint")
        r = http.get("/logs/main/proof/consistency", params={"first": new + 7})
        assert r.status_code in (400, 409, 422) and r.headers["content-type"] == PROBLEM, r.text

        _resume_replay(standby)
        _caught_up(primary, standby)
        assert _checkpoint_size(http, verifier) == new
        archive = http.get(archive_path, headers=admin).json()
        assert len(archive["outcomes"]) == 6

        # the standby down: every read is the primary's
        standby.halt()
        try:
            assert _checkpoint_size(http, verifier) == new
            assert http.get("/logs/main/proof/inclusion", params={"index": 0}).status_code == 200
            assert http.get("/logs/main/proof/consistency", params={"first": old}).status_code == 200
            assert len(http.get("/logs/main/entries", params={"start": 0}).json()["entries"]) == new
            assert len(http.get(archive_path, headers=admin).json()["outcomes"]) == 6
        finally:
            standby.resume()
    finally:
        http.close()
        server.stop()
        world.ctx.engine.dispose()
