"""Hostile input: deeply nested or huge JSON anywhere gets a 4xx problem, never a 500."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
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
