"""Small typed factories for the HTTP tests: valid identifiers and registered institutions/learners."""

import itertools
from typing import Any

from fastapi.testclient import TestClient

from creditbank.identifiers import with_credit_code_check, with_identity_check

_sequence = itertools.count(1)


def identity_number(born: str = "19900307", *, district: str = "110108") -> str:
    """A valid GB 11643 resident identity number, different on every call (within one run)."""
    serial = next(_sequence) % 1000
    return with_identity_check(f"{district}{born}{serial:03d}")


def credit_code() -> str:
    """A valid GB 32100 unified social credit code, different on every call (within one run)."""
    return with_credit_code_check(f"12110108{next(_sequence) % 10**9:09d}")


def institution_body(code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name_zh": "北京市测试职业学校",
        "name_en": "Beijing Test Vocational School",
        "credit_code": code or credit_code(),
        "kind": "vocational_school",
        "district": "海淀区",
        **extra,
    }


def create_institution(client: TestClient, admin: dict[str, str], **extra: Any) -> str:
    """Register an institution through the API; return its id."""
    response = client.post("/api/v1/institutions", json=institution_body(**extra), headers=admin)
    assert response.status_code == 201, response.text
    institution_id: str = response.json()["id"]
    return institution_id


def create_learner(
    client: TestClient, headers: dict[str, str], *, name: str = "王小明", number: str | None = None
) -> str:
    """Register a learner through the API (as an institution or admin); return the learner id."""
    response = client.post(
        "/api/v1/learners",
        json={"name": name, "identity_number": number or identity_number()},
        headers=headers,
    )
    assert response.status_code in (200, 201), response.text
    learner_id: str = response.json()["id"]
    return learner_id


WITH_X = "11010519491231002X"
"""A valid identity number whose check character is X (vectors/identifiers)."""


def grant(client: TestClient, auth: Any, learner_id: str, institution_id: str, days: int = 30) -> str:
    """The learner grants the institution read access to the archive (through the API); the grant id."""
    from creditbank.auth.models import Role

    response = client.post(
        f"/api/v1/learners/{learner_id}/grants",
        json={"institution_id": institution_id, "days": days},
        headers={**auth(Role.learner, learner_id), "Idempotency-Key": f"grant-{institution_id}-{days}"},
    )
    assert response.status_code == 201, response.text
    grant_id: str = response.json()["id"]
    return grant_id
