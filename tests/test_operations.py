"""Health, readiness, metrics, request ids, and errors as RFC 9457 problems (never a 500 for bad input)."""

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from creditbank.auth.models import Role
from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine
from creditbank.main import create_app
from creditbank.migrate import downgrade, head_revision, upgrade
from creditbank.observability import JsonFormatter, request_id_var
from tests.conftest import Tokens
from tests.support.postgres import PostgresServer

PROBLEM = "application/problem+json"
METHODS = {"get", "post", "put", "patch", "delete"}


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"https://creditbank.example/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


class TestHealth:
    def test_healthz(self, client: TestClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_when_migrated(self, client: TestClient) -> None:
        response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "ready", "migration": head_revision()}


@pytest.fixture(scope="module")
def old_engine(pg_server: PostgresServer) -> Iterator[Engine]:
    """A database that was migrated and then downgraded to base: older than the code."""
    engine = create_engine(pg_server.create_database("readyz_old"), pool_size=2)
    upgrade(engine)
    downgrade(engine, "base")
    yield engine
    engine.dispose()


def _client_on(engine: Engine, var_dir: Path) -> TestClient:
    # no checkpoint publisher: it needs the schema, and these databases lack it on purpose
    settings = Settings(
        var_dir=var_dir, database_url=str(engine.url), mode="demo", background_publisher=False
    )
    return TestClient(create_app(ctx=build_context(settings, engine=engine)), raise_server_exceptions=False)


class TestReadiness:
    def test_not_ready_when_database_is_behind(self, old_engine: Engine, tmp_path: Path) -> None:
        with _client_on(old_engine, tmp_path) as client:
            body = assert_problem(client.get("/readyz"), 503, "not-ready")
            assert str(head_revision()) in body["detail"]
            assert client.get("/healthz").status_code == 200, "alive even when not ready"

    def test_not_ready_when_database_is_one_step_behind(
        self, pg_server: PostgresServer, tmp_path: Path
    ) -> None:
        engine = create_engine(pg_server.create_database("readyz_behind"), pool_size=2)
        try:
            upgrade(engine)
            downgrade(engine, "-1")
            with _client_on(engine, tmp_path) as client:
                assert_problem(client.get("/readyz"), 503, "not-ready")
                upgrade(engine)
                assert client.get("/readyz").status_code == 200
        finally:
            engine.dispose()

    def test_not_ready_when_database_unreachable(self, tmp_path: Path) -> None:
        engine = create_engine("postgresql://postgres@127.0.0.1:1/nowhere", pool_size=1)
        try:
            with _client_on(engine, tmp_path) as client:
                body = assert_problem(client.get("/readyz"), 503, "not-ready")
                assert "unreachable" in body["detail"]
        finally:
            engine.dispose()


def _metric(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return None


class TestMetrics:
    def test_requests_are_counted_by_route_template(self, client: TestClient, auth: Tokens) -> None:
        scraper = auth(Role.auditor)
        before = client.get("/metrics", headers=scraper).text
        assert (
            _metric(before, "creditbank_http_requests_total", method="GET", route="/healthz", status="200")
            is None
        )
        client.get("/healthz")
        client.get("/healthz")
        client.get("/api/v1/institutions/ins_nothing_here")
        response = client.get("/metrics", headers=scraper)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert "# TYPE creditbank_http_requests_total counter" in text
        assert (
            _metric(text, "creditbank_http_requests_total", method="GET", route="/healthz", status="200") == 2
        )
        # the route label is the template, never the id itself
        assert (
            _metric(
                text,
                "creditbank_http_requests_total",
                method="GET",
                route="/api/v1/institutions/{institution_id}",
                status="404",
            )
            == 1
        )
        assert "ins_nothing_here" not in text
        assert "creditbank_http_request_seconds_bucket" in text

    def test_made_up_methods_share_one_label(self, client: TestClient, auth: Tokens) -> None:
        """A client inventing a method per request must not grow the metrics by a series each: a
        memory exhaustion by label cardinality (the route label is already bounded)."""
        for n in range(20):
            client.request(f"MADEUP{n}", f"/no/such/path/{n}")
        text = client.get("/metrics", headers=auth(Role.auditor)).text
        assert "MADEUP" not in text
        assert (
            _metric(text, "creditbank_http_requests_total", method="other", route="unmatched", status="404")
            == 20
        )

    def test_unmatched_paths_share_one_label(self, client: TestClient, auth: Tokens) -> None:
        for n in range(3):
            client.get(f"/no/such/path/{n}")
        text = client.get("/metrics", headers=auth(Role.auditor)).text
        assert (
            _metric(text, "creditbank_http_requests_total", method="GET", route="unmatched", status="404")
            == 3
        )
        assert "/no/such/path" not in text


class TestRequestId:
    def test_given_id_is_echoed(self, client: TestClient) -> None:
        response = client.get("/healthz", headers={"X-Request-ID": "trace-abc-123"})
        assert response.headers["x-request-id"] == "trace-abc-123"

    def test_missing_id_is_generated_and_unique(self, client: TestClient) -> None:
        first = client.get("/healthz").headers["x-request-id"]
        second = client.get("/healthz").headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", first)
        assert first != second

    @pytest.mark.parametrize("bad", ["x" * 65, "tab\there"])
    def test_unusable_id_is_replaced(self, client: TestClient, bad: str) -> None:
        echoed = client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert echoed != bad
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)

    def test_errors_carry_the_request_id_too(self, client: TestClient) -> None:
        response = client.get("/nowhere", headers={"X-Request-ID": "err-1"})
        assert response.status_code == 404
        assert response.headers["x-request-id"] == "err-1"


class TestProblems:
    def test_unknown_path_is_404_problem(self, client: TestClient) -> None:
        assert_problem(client.get("/api/v1/nothing-here"), 404, "not-found")

    def test_wrong_method_is_405_problem_with_allow(self, client: TestClient) -> None:
        response = client.delete("/healthz")
        assert_problem(response, 405, "method-not-allowed")
        assert "GET" in response.headers["allow"]

    def test_malformed_json_is_422_problem(self, client: TestClient, auth: Tokens) -> None:
        response = client.post(
            "/api/v1/learners",
            content=b'{"name": "x", "identity_number": ',
            headers={**auth(Role.admin), "content-type": "application/json"},
        )
        body = assert_problem(response, 422, "validation-failed")
        assert body["errors"][0]["type"] == "json_invalid"

    @pytest.mark.parametrize(
        "content", [b"[]", b"null", b'"text"', b"42", b'{"name": 1}', b"{" * 5 + b"}" * 5, b"{}"]
    )
    def test_wrong_json_shapes_are_422_problems(
        self, client: TestClient, auth: Tokens, content: bytes
    ) -> None:
        response = client.post(
            "/api/v1/institutions",
            content=content,
            headers={**auth(Role.admin), "content-type": "application/json"},
        )
        assert_problem(response, 422, "validation-failed")

    @pytest.mark.parametrize(
        "content",
        [b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe\x00", b'{"name": "\xe5\xbc"}'],
        ids=["deep", "utf16", "cut"],
    )
    def test_undecodable_body_is_400_problem(self, client: TestClient, auth: Tokens, content: bytes) -> None:
        response = client.post(
            "/api/v1/learners",
            content=content,
            headers={**auth(Role.admin), "content-type": "application/json"},
        )
        assert_problem(response, 400, "bad-request")

    def test_validation_problem_lists_every_error(self, client: TestClient, auth: Tokens) -> None:
        response = client.post("/api/v1/institutions", json={"kind": "casino"}, headers=auth(Role.admin))
        body = assert_problem(response, 422, "validation-failed")
        locations = {".".join(e["loc"]) for e in body["errors"]}
        assert {"body.name_zh", "body.name_en", "body.credit_code", "body.kind", "body.district"} <= locations


def _string_body(schema: dict[str, Any], components: dict[str, Any], value: str) -> Any:
    """A request body where every string property (recursively) is ``value``."""
    if "$ref" in schema:
        return _string_body(components[schema["$ref"].rsplit("/", 1)[-1]], components, value)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return _string_body(schema[key][0], components, value)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {k: _string_body(v, components, value) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_string_body(schema.get("items", {}), components, value)]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return value


class TestHostileInput:
    """Values that pass validation but not every database (a NUL in text) are 4xx, never 500.

    Iterates the schema, so endpoints added later are covered.
    """

    @pytest.fixture
    def openapi(self, client: TestClient) -> dict[str, Any]:
        schema: dict[str, Any] = client.app.openapi()  # type: ignore[attr-defined]
        return schema

    def _operations(self, openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for path, item in openapi["paths"].items():
            for method, operation in item.items():
                if method in METHODS:
                    yield path, method, operation

    def test_nul_in_path_parameters(self, client: TestClient, auth: Tokens, openapi: dict[str, Any]) -> None:
        headers = auth(Role.admin)
        checked = 0
        for path, method, _ in self._operations(openapi):
            if "{" not in path:
                continue
            url = re.sub(r"\{[^}]+\}", "a%00b", path)
            response = client.request(method, url, headers=headers)
            assert response.status_code < 500, f"{method.upper()} {url}: {response.text}"
            checked += 1
        assert checked >= 3

    def test_nul_in_every_string_of_every_body(
        self, client: TestClient, auth: Tokens, openapi: dict[str, Any]
    ) -> None:
        headers = auth(Role.admin)
        components = openapi.get("components", {}).get("schemas", {})
        checked = 0
        for path, method, operation in self._operations(openapi):
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content or "{" in path:
                continue
            for value in ("a\x00b", "\x00"):
                body = _string_body(content["application/json"]["schema"], components, value)
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code < 500, f"{method.upper()} {path} {body!r}: {response.text}"
            checked += 1
        assert checked >= 3

    def test_nul_in_institution_name_is_refused_and_nothing_written(
        self, client: TestClient, auth: Tokens
    ) -> None:
        from tests.support.factories import institution_body

        admin = auth(Role.admin)
        before = len(client.get("/api/v1/institutions").json())
        response = client.post(
            "/api/v1/institutions", json=institution_body(name_zh="北京\x00学校"), headers=admin
        )
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"] == PROBLEM
        assert len(client.get("/api/v1/institutions").json()) == before


class TestLogFormat:
    def test_timestamps_are_utc_whatever_the_time_zone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TZ", "Asia/Shanghai")
        time.tzset()
        try:
            record = logging.LogRecord("creditbank.test", logging.INFO, __file__, 1, "hello", None, None)
            record.created, record.msecs = 86_400.0 + 0.25, 250.0
            entry = json.loads(JsonFormatter().format(record))
        finally:
            monkeypatch.undo()
            time.tzset()
        assert entry["ts"] == "1970-01-02T00:00:00.250Z"
        assert (entry["level"], entry["logger"], entry["msg"]) == ("info", "creditbank.test", "hello")

    def test_fields_and_request_id_are_included(self) -> None:
        record = logging.LogRecord("creditbank.test", logging.WARNING, __file__, 1, "x %s", ("y",), None)
        record.fields = {"route": "/healthz", "status": 200}
        token = request_id_var.set("rid-7")
        try:
            entry = json.loads(JsonFormatter().format(record))
        finally:
            request_id_var.reset(token)
        assert entry["msg"] == "x y"
        assert (entry["request_id"], entry["route"], entry["status"]) == ("rid-7", "/healthz", 200)
