"""Every write an institution or a learner makes goes through one idempotency helper.

Two views of the same rule: the OpenAPI schema (each such write declares the ``Idempotency-Key``
header) and the sources (only :mod:`creditbank.outcomes.idempotent` claims and stores keys, so no
route can carry a hand-copied variant with another scope or without the replay header).
"""

import ast
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from tests.conftest import Tokens
from tests.support.factories import create_institution

PACKAGE = Path(__file__).resolve().parent.parent / "creditbank"
HELPER = PACKAGE / "outcomes" / "idempotent.py"

# Writes that take no key, and why (docs/api.md says the same).
KEYLESS = {
    ("post", "/api/v1/learners"): "the identity number makes registration idempotent",
    ("post", "/api/v1/outcomes/batch"): "every row's reference makes a batch idempotent",
    ("post", "/api/v1/learners/lookup"): "a read with a body",
    ("post", "/api/v1/verify"): "a public read with a body",
    ("post", "/api/v1/applications"): "the outcome makes an application idempotent: a repeat is a 409",
    ("post", "/api/v1/applications/{application_id}/resubmission"): "only while returned: a repeat is a 409",
    ("post", "/api/v1/appeals"): "one appeal per outcome: a repeat is a 409 duplicate-appeal",
    ("post", "/api/v1/transfers/preview"): "a conversion plan: computed, nothing written",
    (
        "put",
        "/api/v1/programmes/{programme_id}/curriculum",
    ): "a PUT replaces the whole curriculum: a repeat changes nothing",
    ("post", "/api/v1/transfers/{transfer_id}/preview"): "a conversion plan: computed, nothing written",
}


def _writes(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/v1/") and method in {"post", "put", "patch", "delete"}
    ]


def test_every_institution_or_learner_write_declares_the_key(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    missing = []
    for method, path, operation in _writes(schema):
        roles = set(operation.get("x-roles", []))
        if not roles & {"institution", "learner"} or (method, path) in KEYLESS:
            continue
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "Idempotency-Key" not in headers:
            missing.append(f"{method.upper()} {path}")
    assert missing == []
    assert len(_writes(schema)) > 10


def _calls(tree: ast.AST, names: set[str]) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "idempotency"
            and node.func.attr in names
        ):
            found.append(f"idempotency.{node.func.attr}")
    return found


def test_only_the_helper_claims_and_stores_keys() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): calls
        for path in PACKAGE.rglob("*.py")
        if path != HELPER
        and (calls := _calls(ast.parse(path.read_text(encoding="utf-8")), {"claim", "store"}))
    }
    assert offenders == {}
    assert _calls(ast.parse(HELPER.read_text(encoding="utf-8")), {"claim", "store"})


def test_a_number_without_canonical_form_is_a_422_not_a_500(client: TestClient, auth: Tokens) -> None:
    """Found by fuzzing past authentication: the key's fingerprint could not encode 2^63."""
    admin = auth(Role.admin)
    institution = auth(Role.institution, create_institution(client, admin))
    response = client.post(
        "/api/v1/conversions",
        json={"programme_id": "prg_x", "certificates": [{"credentialSubject": {"n": -(2**63)}}]},
        headers={**institution, "Idempotency-Key": "big-number"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/number-out-of-range")


def test_a_bad_share_link_download_is_a_json_problem(client: TestClient) -> None:
    response = client.get("/share/not-a-token/certificates/crt_nothing.json")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/share-link-invalid")
