"""The batch API and the import command share one chunk poster: a row the database refuses fails alone."""

import json

from fastapi.testclient import TestClient

from tests.conftest import Tokens
from tests.outcomes.factories import Desk, training


class TestBatchChunks:
    def test_an_unstorable_row_fails_alone(self, client: TestClient, auth: Tokens) -> None:
        desk = Desk(client, auth)
        rows = [training(reference=f"NUL-{i}", learner_id=desk.learner_id) for i in range(4)]
        rows[1]["title"] = "电工\u0000培训"  # valid JSON and a valid string, but PostgreSQL refuses NUL
        response = client.post(
            "/api/v1/outcomes/batch",
            content="\n".join(json.dumps(r) for r in rows).encode(),
            headers={**desk.headers, "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["summary"]["created"] == 3 and report["summary"]["errors"] == 1
        assert [r["status"] for r in report["rows"]] == ["created", "error", "created", "created"]
        assert report["rows"][1]["error"]["type"].endswith("/unstorable-value")
