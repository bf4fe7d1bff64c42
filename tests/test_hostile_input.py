"""Hostile input: deeply nested or huge JSON anywhere gets a 4xx problem, never a 500."""

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.context import AppContext
from creditbank.main import create_app
from tests.conftest import Tokens
from tests.support.factories import create_institution, create_learner

PROBLEM = "application/problem+json"
DEPTHS = (100, 990, 100_000)


def _nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _bodies(schema: dict[str, Any], components: dict[str, Any], depth: int) -> list[str]:
    """The whole body nested, and each top-level field of the body's object nested."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    bodies = [_nested_array(depth), _nested_object(depth)]
    for name in schema.get("properties", {}):
        bodies.append(f'{{"{name}":{_nested_object(depth)}}}')
    return bodies


class TestNestedJson:
    @pytest.mark.parametrize("depth", DEPTHS)
    def test_every_json_body(self, client: TestClient, auth: Tokens, depth: int) -> None:
        doc = client.get("/openapi.json").json()
        components = doc["components"]["schemas"]
        admin = auth(Role.admin)
        institution = auth(Role.institution, create_institution(client, admin))
        learner_id = create_learner(client, institution)
        tokens = {
            Role.admin: admin,
            Role.institution: institution,
            Role.learner: auth(Role.learner, learner_id),
            Role.reviewer: auth(Role.reviewer),
            Role.auditor: auth(Role.auditor),
        }
        failures = []
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" not in content:
                    continue
                roles = operation.get("x-roles", ["admin"])
                role = Role(roles[0]) if roles and roles[0] != "public" else Role.admin
                url = path.replace("{learner_id}", learner_id).replace("{", "").replace("}", "")
                for body in _bodies(content["application/json"]["schema"], components, depth):
                    response = client.request(
                        method,
                        url,
                        content=body,
                        headers={
                            **tokens[role],
                            "Content-Type": "application/json",
                            "Idempotency-Key": "k-1",
                        },
                    )
                    if response.status_code >= 500:
                        failures.append((method, path, body[:40], response.status_code))
        assert not failures, failures

    @pytest.mark.parametrize("depth", DEPTHS)
    def test_batch_as_json_lines(self, client: TestClient, auth: Tokens, depth: int) -> None:
        institution = auth(Role.institution, create_institution(client, auth(Role.admin)))
        body = (
            _nested_object(depth) + "\n" + '{"reference": "x", "attributes": ' + _nested_array(depth) + "}\n"
        )
        response = client.post(
            "/api/v1/outcomes/batch",
            content=body,
            headers={**institution, "Content-Type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        rows = response.json()["rows"]
        assert [r["status"] for r in rows] == ["error", "error"]
        if depth > 64:
            assert all("nested" in r["error"]["detail"] for r in rows), rows

    @pytest.mark.parametrize("depth", DEPTHS)
    def test_public_verify_form(self, client: TestClient, depth: int) -> None:
        for certificate in (_nested_array(depth), _nested_object(depth)):
            response = client.post("/verify", data={"certificate": certificate})
            assert 400 <= response.status_code < 500, response.text[:300]


class TestNegativeZero:
    """``hours: "-0"`` is zero hours: accepted and stored as 0 on SQLite too (it was a 500 there)."""

    @pytest.mark.parametrize("hours", ["-0", "-0.0", "-0E-5", "0"])
    def test_on_sqlite(self, sqlite_ctx: AppContext, hours: str) -> None:
        with sqlite_ctx.sessions() as s, s.begin():
            _, admin = create_token(s, sqlite_ctx.token_key, Role.admin)
        with TestClient(create_app(ctx=sqlite_ctx), raise_server_exceptions=False) as client:
            institution_id = create_institution(client, {"Authorization": f"Bearer {admin}"})
            with sqlite_ctx.sessions() as s, s.begin():
                _, token = create_token(s, sqlite_ctx.token_key, Role.institution, institution_id)
            headers = {"Authorization": f"Bearer {token}"}
            learner_id = create_learner(client, headers)
            row = {
                "learner_id": learner_id,
                "outcome_type": "training_course",
                "title": "零学时",
                "achieved_on": (dt.date.today() - dt.timedelta(days=2)).isoformat(),
                "hours": hours,
            }
            single = client.post(
                "/api/v1/outcomes",
                json={**row, "reference": "z-1"},
                headers={**headers, "Idempotency-Key": "z-1"},
            )
            assert single.status_code == 201, single.text
            assert Decimal(single.json()["hours"]) == 0
            batch = client.post("/api/v1/outcomes/batch", json=[{**row, "reference": "z-2"}], headers=headers)
            assert batch.status_code == 200, batch.text
            assert [r["status"] for r in batch.json()["rows"]] == ["created"]
        with sqlite_ctx.engine.connect() as connection:
            stored = connection.execute(text("SELECT DISTINCT hours FROM outcomes")).scalars().all()
        assert stored == ["0.00"]
