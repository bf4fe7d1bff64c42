"""What erasure leaves in the database, from the side of someone who holds a copy of it and the pepper.

The attacker has every table (a dump, a stolen backup taken after the erasure, or a database role that
reads everything), the service's pepper and master key, and a guess of a person's identity number and
name. They want to know whether the erased, pseudonymous learner id is that person. Every keyed or
plain function of personal data the code computes is tried over every column of every table.

These tests commit (a database of their own), since the vacuum after erasure runs outside a
transaction.
"""

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from creditbank.auth.models import Role
from creditbank.auth.service import create_token
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import create_engine, transaction
from creditbank.learners import service as learners
from creditbank.ledger import idempotency
from creditbank.main import create_app
from creditbank.migrate import upgrade
from creditbank.outcomes import service as outcomes
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.transparency.publisher import ensure_default_log
from tests.outcomes.factories import key, training
from tests.support.factories import create_institution, identity_number
from tests.support.postgres import PostgresServer

NAME = "卓文君"


@pytest.fixture
def committed(pg_server: PostgresServer, secrets_dir: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh migrated database whose requests commit, its context, a client and the raw URL."""
    url = pg_server.create_database(f"erasure_{request.node.name[:40].lower()}")
    engine = create_engine(url, pool_size=2)
    upgrade(engine)
    settings = Settings(
        var_dir=secrets_dir,
        database_url=url,
        base_url="http://testserver",
        mode="demo",
        background_publisher=False,
    )
    ctx = build_context(settings, engine=engine)
    ensure_default_log(ctx)
    try:
        with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as client:
            yield ctx, client, url
    finally:
        engine.dispose()


def _token(ctx: AppContext, role: Role, subject: str | None = None) -> dict[str, str]:
    for session in transaction(ctx.sessions):
        _, token = create_token(session, ctx.token_key, role, subject)
    return {"Authorization": f"Bearer {token}"}


def _post_and_erase(ctx: AppContext, client: TestClient) -> tuple[str, str, list[dict[str, Any]]]:
    """An institution registers the person and posts outcomes for them (single and batch, each with an
    Idempotency-Key), someone else is posted beside them, then an admin erases the person."""
    number = identity_number("19810101", district="510104")
    admin = _token(ctx, Role.admin)
    institution = {**_token(ctx, Role.institution, create_institution(client, admin))}
    registered = client.post(
        "/api/v1/learners",
        json={"name": NAME, "identity_number": number},
        headers={**institution, "Idempotency-Key": key()},
    )
    assert registered.status_code in (200, 201), registered.text
    bodies = [
        training(reference="R-1", identity_number=number, learner_name=NAME),
        training(reference="R-2", identity_number=number, hours=32),
    ]
    learner_id = ""
    for body in bodies:
        posted = client.post("/api/v1/outcomes", json=body, headers={**institution, "Idempotency-Key": key()})
        assert posted.status_code == 201, posted.text
        learner_id = posted.json()["learner_id"]
    batch = [
        training(reference="R-3", identity_number=number, learner_name=NAME, hours=16),
        training(reference="R-4", identity_number=identity_number(), learner_name="旁人", hours=16),
    ]
    uploaded = client.post(
        "/api/v1/outcomes/batch",
        content="\n".join(json.dumps(row, ensure_ascii=False) for row in batch).encode(),
        headers={**institution, "Idempotency-Key": key(), "Content-Type": "application/x-ndjson"},
    )
    assert uploaded.status_code in (200, 201, 207), uploaded.text
    erased = client.post(
        f"/api/v1/learners/{learner_id}/erasure", headers={**admin, "Idempotency-Key": key()}
    )
    assert erased.status_code == 200, erased.text
    return learner_id, number, [*bodies, *batch[:1]]


def _needles(ctx: AppContext, number: str, bodies: list[dict[str, Any]]) -> dict[str, str]:
    """Every function of the person's data the code computes (keyed with the pepper and the keys
    derived from it, or plain), for the true guess: what a match in the database would confirm."""
    pepper = ctx.secrets.pepper
    found: dict[str, str] = {}
    for text in {NAME, number, number.lower(), number[:17]}:
        found[f"plain {text}"] = text
        found[f"hex {text}"] = text.encode().hex()
        found[f"sha256 {text}"] = hashlib.sha256(text.encode()).hexdigest()
        for label, secret in (
            ("pepper", pepper),
            ("identity key", ctx.identity_key),
            ("content key", outcomes.content_key(ctx)),
            ("token key", ctx.token_key),
        ):
            found[f"hmac({label}) {text}"] = hmac_sha256(secret, text.encode()).hex()
    found["lookup hash"] = learners.lookup_hash(ctx.identity_key, number)
    for i, body in enumerate(bodies):
        content = outcomes.request_hash(outcomes.content_key(ctx), OutcomeCreate(**body))
        found[f"request hash {i}"] = content
        # the Idempotency-Key record of a posting fingerprints the content hash, not the body
        found[f"idempotency fingerprint {i}"] = idempotency.fingerprint(
            "POST", "/api/v1/outcomes", {"content": content}
        )
        found[f"idempotency fingerprint of the body {i}"] = idempotency.fingerprint(
            "POST", "/api/v1/outcomes", OutcomeCreate(**body).model_dump(mode="json")
        )
    return found


def _every_value(url: str) -> Iterator[tuple[str, str, str]]:
    """(table, column, value as text) for every column of every row of every table (bytes as hex and
    as text), read as the database owner."""
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        assert "outcomes" in tables and "idempotency_keys" in tables
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [c.name for c in cursor.description or []]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        yield table, column, raw.hex()
                        yield table, column, raw.decode("utf-8", "replace")
                    elif isinstance(value, dict | list):
                        yield table, column, json.dumps(value, ensure_ascii=False)
                    else:
                        yield table, column, str(value)


def test_nothing_in_the_database_links_the_erased_learner_to_their_identity(committed: Any) -> None:
    ctx, client, url = committed
    learner_id, number, bodies = _post_and_erase(ctx, client)
    needles = _needles(ctx, number, bodies)
    hits = [
        f"{table}.{column}: {label}"
        for table, column, value in _every_value(url)
        for label, needle in needles.items()
        if needle.lower() in value.lower()
    ]
    assert hits == []
    # what remains is the record under the random id: the outcomes and the ledger are still there
    with psycopg.connect(url) as conn:
        kept = conn.execute("SELECT count(*) FROM outcomes WHERE learner_id = %s", (learner_id,)).fetchone()
        assert kept is not None and kept[0] == 3


def test_the_tables_that_held_the_data_are_vacuumed_after_the_erasure(committed: Any) -> None:
    """VACUUM runs after the erasure commits (it cannot run inside a transaction): the deleted vault row
    and the overwritten row versions are no longer dead tuples waiting in the tables."""
    ctx, client, url = committed
    with psycopg.connect(url, autocommit=True) as conn:
        before: dict[str, int] = dict(
            conn.execute(
                "SELECT relname, coalesce(vacuum_count, 0) FROM pg_stat_user_tables "
                "WHERE relname IN ('learner_vault', 'outcomes', 'idempotency_keys', 'learners')"
            ).fetchall()
        )
    _post_and_erase(ctx, client)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        after: dict[str, int] = dict(
            conn.execute(
                "SELECT relname, vacuum_count FROM pg_stat_user_tables "
                "WHERE relname IN ('learner_vault', 'outcomes', 'idempotency_keys', 'learners')"
            ).fetchall()
        )
        dead: dict[str, int] = dict(
            conn.execute(
                "SELECT relname, n_dead_tup FROM pg_stat_user_tables "
                "WHERE relname IN ('learner_vault', 'outcomes', 'idempotency_keys', 'learners')"
            ).fetchall()
        )
    assert {t: after[t] - before.get(t, 0) for t in after} == {
        "learner_vault": 1,
        "outcomes": 1,
        "idempotency_keys": 1,
        "learners": 1,
    }
    assert dead == {"learner_vault": 0, "outcomes": 0, "idempotency_keys": 0, "learners": 0}


def test_the_outcomes_trigger_lets_only_the_erasure_overwrite_through(committed: Any) -> None:
    """The append-only guard of ``outcomes`` now has one door: ``request_hash`` set to the erasure
    marker with every other column unchanged. Anything else is still refused, as the database owner."""
    ctx, client, url = committed
    admin = _token(ctx, Role.admin)
    institution = _token(ctx, Role.institution, create_institution(client, admin))
    body = training(reference="G-1", identity_number=identity_number(), learner_name=NAME)
    posted = client.post("/api/v1/outcomes", json=body, headers={**institution, "Idempotency-Key": key()})
    assert posted.status_code == 201, posted.text
    outcome = posted.json()["id"]
    refused = [
        ("UPDATE outcomes SET request_hash = 'forged' WHERE id = %s", (outcome,)),
        ("UPDATE outcomes SET request_hash = 'erased', title = 'forged' WHERE id = %s", (outcome,)),
        ("UPDATE outcomes SET learner_id = learner_id, hours = 99 WHERE id = %s", (outcome,)),
        ("DELETE FROM outcomes WHERE id = %s", (outcome,)),
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        for sql, params in refused:
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="never edited"):
                conn.execute(sql, params)
        conn.execute("UPDATE outcomes SET request_hash = 'erased' WHERE id = %s", (outcome,))
        row = conn.execute("SELECT request_hash, title FROM outcomes WHERE id = %s", (outcome,)).fetchone()
    assert row == ("erased", body["title"])


def test_erasure_overwrites_the_content_hash_on_sqlite(sqlite_ctx: AppContext) -> None:
    """The SQLite trigger has the same one door (it compares every other column itself)."""
    with TestClient(create_app(ctx=sqlite_ctx), raise_server_exceptions=False) as client:
        learner_id, _, _ = _post_and_erase(sqlite_ctx, client)
    with sqlite_ctx.engine.connect() as conn:
        hashes = {
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT request_hash FROM outcomes WHERE learner_id = ?", (learner_id,)
            )
        }
    assert hashes == {"erased"}
