"""The embedded SQLite database runs the same models, migrations and API as PostgreSQL."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.context import AppContext
from creditbank.db import transaction
from creditbank.main import create_app
from creditbank.migrate import current_revision, head_revision
from creditbank.models_registry import import_all_models
from tests.support.factories import WITH_X, institution_body

pytestmark = pytest.mark.sqlite


def _token(ctx: AppContext, role: Role, subject: str | None = None) -> dict[str, str]:
    with contextmanager(transaction)(ctx.sessions) as session:
        _, token = create_token(session, ctx.token_key, role, subject, "sqlite smoke")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def sqlite_client(sqlite_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=sqlite_ctx), raise_server_exceptions=False) as client:
        yield client


def test_sqlite_database_is_migrated(sqlite_ctx: AppContext) -> None:
    assert sqlite_ctx.engine.dialect.name == "sqlite"
    with sqlite_ctx.engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert set(import_all_models().tables) <= set(inspect(conn).get_table_names())


def test_register_look_up_and_read_over_http(sqlite_ctx: AppContext, sqlite_client: TestClient) -> None:
    client = sqlite_client
    admin = _token(sqlite_ctx, Role.admin)

    created = client.post("/api/v1/institutions", json=institution_body(), headers=admin)
    assert created.status_code == 201, created.text
    institution_id = created.json()["id"]
    assert created.json()["did"].endswith(f":institutions:{institution_id}")
    assert [i["id"] for i in client.get("/api/v1/institutions").json()] == [institution_id]
    institution = _token(sqlite_ctx, Role.institution, institution_id)

    first = client.post(
        "/api/v1/learners", json={"name": "孙悦", "identity_number": WITH_X}, headers=institution
    )
    again = client.post(
        "/api/v1/learners", json={"name": "孙悦", "identity_number": WITH_X.lower()}, headers=institution
    )
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    learner_id = first.json()["id"]
    assert learner_id.startswith("lrn_")
    assert again.json() == {"id": learner_id, "created": False}

    found = client.post("/api/v1/learners/lookup", json={"identity_number": WITH_X}, headers=institution)
    assert found.json() == {"id": learner_id, "created": False}

    assert (
        client.get(f"/api/v1/learners/{learner_id}", headers=institution).status_code == 403
    )  # no grant yet
    granted = client.post(
        f"/api/v1/learners/{learner_id}/grants",
        json={"institution_id": institution_id, "days": 1},
        headers={**_token(sqlite_ctx, Role.learner, learner_id), "Idempotency-Key": "grant-1"},
    )
    assert granted.status_code == 201, granted.text
    card = client.get(f"/api/v1/learners/{learner_id}", headers=institution)
    assert card.status_code == 200, card.text
    assert card.json()["name"] == "孙悦"
    assert card.json()["identity_number_masked"] == "110105********002X"
    assert card.json()["erased"] is False

    invalid = client.post(
        "/api/v1/learners",
        json={"name": "孙悦", "identity_number": "110105194912310021"},
        headers=institution,
    )
    assert invalid.status_code == 422
    assert invalid.json()["type"].endswith("/invalid-identity-number")

    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "migration": head_revision()}


def test_committed_data_survives_a_new_app(sqlite_ctx: AppContext, sqlite_client: TestClient) -> None:
    admin = _token(sqlite_ctx, Role.admin)
    created = sqlite_client.post("/api/v1/institutions", json=institution_body(), headers=admin)
    assert created.status_code == 201
    with TestClient(create_app(ctx=sqlite_ctx)) as fresh:
        listed = fresh.get("/api/v1/institutions").json()
    assert [i["id"] for i in listed] == [created.json()["id"]]


def test_statistics_read_the_base_tables(sqlite_ctx: AppContext, sqlite_client: TestClient) -> None:
    client = sqlite_client
    admin = _token(sqlite_ctx, Role.admin)
    created = client.post("/api/v1/institutions", json=institution_body(district="朝阳区"), headers=admin)
    institution = _token(sqlite_ctx, Role.institution, created.json()["id"])
    learner = client.post(
        "/api/v1/learners", json={"name": "孙悦", "identity_number": WITH_X}, headers=institution
    ).json()["id"]
    posted = client.post(
        "/api/v1/outcomes",
        json={
            "learner_id": learner,
            "reference": "S-1",
            "outcome_type": "training_course",
            "title": "Python 程序设计",
            "achieved_on": "2026-11-01",
            "hours": 48,
        },
        headers={**institution, "Idempotency-Key": "s-1"},
    )
    assert posted.status_code == 201, posted.text
    figures = client.get("/api/v1/statistics", headers=institution)
    assert figures.status_code == 200, figures.text
    total = figures.json()["total"]
    assert (total["accounts"], total["posted"], total["recognised"]) == (1, 1, 1)
    assert total["recognised_credits"] == "3.00"
    assert [d["district"] for d in figures.json()["by_district"]] == ["朝阳区"]
    assert client.get("/metrics", headers=admin).status_code == 200
