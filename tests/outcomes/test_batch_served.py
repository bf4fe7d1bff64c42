"""A batch upload to a served process (uvicorn): the body keeps arriving while the report streams."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from creditbank.outcomes.batch import CHUNK_ROWS
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database
from tests.support.world import build_world

pytestmark = pytest.mark.slow


def test_every_row_of_a_long_upload_is_read(pg_server: PostgresServer, tmp_path: Path) -> None:
    """The report starts after the first chunk. Starlette's disconnect listener (ASGI < 2.4, as
    uvicorn speaks) then took the body's later messages, and rows went missing mid-upload."""
    url = prepare_database(pg_server, "batch_served", tmp_path)
    world = build_world(url, tmp_path, n_institutions=1, n_learners=1)
    [(_, token)] = world.institutions
    rows = [
        {
            "learner_id": world.learners[0],
            "reference": f"LONG-{i}",
            "outcome_type": "training_course",
            "title": "电工培训",
            "hours": 32,
            "achieved_on": "2026-10-01",
        }
        for i in range(CHUNK_ROWS * 2 + 7)
    ]

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(rows), 50):
            yield b"".join(json.dumps(row).encode() + b"\n" for row in rows[start : start + 50])

    server = ServerProcess(url, tmp_path).start()
    try:
        response = httpx.post(
            server.base_url + "/api/v1/outcomes/batch",
            content=pieces(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
            timeout=300,
        )
    finally:
        server.kill()
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert "error" not in report, report.get("error")
    assert report["summary"]["rows"] == len(rows) and report["summary"]["created"] == len(rows)
