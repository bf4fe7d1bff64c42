"""Registering learners: ids, idempotency, identity-number checks, privacy at rest and in logs, races."""

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from creditbank.auth.models import Role
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction
from creditbank.learners import service
from creditbank.main import create_app
from creditbank.observability import JsonFormatter
from tests.conftest import VECTORS, Tokens
from tests.support.factories import WITH_X, create_institution, identity_number
from tests.support.postgres import PostgresServer

PROBLEM = "application/problem+json"
IDENTIFIERS = json.loads((VECTORS / "identifiers" / "vectors.json").read_text())["resident_id"]


def register(
    client: TestClient, headers: dict[str, str], name: str, number: str
) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/v1/learners", json={"name": name, "identity_number": number}, headers=headers
    )
    return response.status_code, response.json()


class TestRegister:
    def test_new_person_gets_a_random_learner_id(self, client: TestClient, auth: Tokens) -> None:
        status, body = register(client, auth(Role.admin), "刘洋", identity_number())
        assert status == 201
        assert body["created"] is True
        learner_id = str(body["id"])
        assert learner_id.startswith("lrn_")
        assert len(learner_id) > len("lrn_") + 16

    def test_same_person_twice_is_the_same_learner(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        number = identity_number()
        first_status, first = register(client, admin, "刘洋", number)
        second_status, second = register(client, admin, "刘洋", number)
        assert (first_status, first["created"]) == (201, True)
        assert (second_status, second["created"]) == (200, False)
        assert second["id"] == first["id"]

    def test_lowercase_x_is_the_same_person(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        first_status, first = register(client, admin, "赵敏", WITH_X)
        second_status, second = register(client, admin, "赵敏", WITH_X.lower())
        third_status, third = register(client, admin, "赵敏", f"  {WITH_X.lower()} ")
        assert first_status == 201
        assert (second_status, third_status) == (200, 200)
        assert first["id"] == second["id"] == third["id"]

    def test_different_people_get_different_ids(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        ids = {register(client, admin, "同名", identity_number())[1]["id"] for _ in range(3)}
        assert len(ids) == 3

    @pytest.mark.parametrize("number", sorted(IDENTIFIERS["invalid"]))
    def test_invalid_identity_number_is_a_422_problem(
        self, client: TestClient, auth: Tokens, number: str
    ) -> None:
        response = client.post(
            "/api/v1/learners", json={"name": "刘洋", "identity_number": number}, headers=auth(Role.admin)
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/invalid-identity-number")

    @pytest.mark.parametrize(
        "number",
        [
            "110105" + "20991231" + "0015",  # a birth date in the future (check char is irrelevant)
            "110105" + "18991231" + "0015",  # before 1900
            "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits (full-width ones are the same person: NFKC)
        ],
    )
    def test_more_invalid_identity_numbers(self, client: TestClient, auth: Tokens, number: str) -> None:
        response = client.post(
            "/api/v1/learners", json={"name": "刘洋", "identity_number": number}, headers=auth(Role.admin)
        )
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("/invalid-identity-number")

    def test_invalid_number_writes_nothing(self, client: TestClient, auth: Tokens, db: Connection) -> None:
        before = db.execute(text("SELECT count(*) FROM learners")).scalar_one()
        response = client.post(
            "/api/v1/learners",
            json={"name": "刘洋", "identity_number": "110105194912310021"},
            headers=auth(Role.admin),
        )
        assert response.status_code == 422
        assert db.execute(text("SELECT count(*) FROM learners")).scalar_one() == before

    @pytest.mark.parametrize("number", IDENTIFIERS["valid"])
    def test_valid_vectors_are_accepted(self, client: TestClient, auth: Tokens, number: str) -> None:
        status, _ = register(client, auth(Role.admin), "刘洋", number)
        assert status == 201


class TestLookup:
    def test_lookup_by_identity_number(self, client: TestClient, auth: Tokens) -> None:
        admin = auth(Role.admin)
        _, created = register(client, admin, "赵敏", WITH_X)
        for form in (WITH_X, WITH_X.lower()):
            found = client.post("/api/v1/learners/lookup", json={"identity_number": form}, headers=admin)
            assert found.status_code == 200, found.text
            assert found.json() == {"id": created["id"], "created": False}

    def test_unknown_person_is_404(self, client: TestClient, auth: Tokens) -> None:
        found = client.post(
            "/api/v1/learners/lookup", json={"identity_number": identity_number()}, headers=auth(Role.admin)
        )
        assert found.status_code == 404
        assert found.headers["content-type"] == PROBLEM
        assert found.json()["type"].endswith("/learner-not-found")

    def test_invalid_number_is_422(self, client: TestClient, auth: Tokens) -> None:
        found = client.post(
            "/api/v1/learners/lookup",
            json={"identity_number": "110105194912310021"},
            headers=auth(Role.admin),
        )
        assert found.status_code == 422
        assert found.json()["type"].endswith("/invalid-identity-number")


def _all_columns(db: Connection) -> list[tuple[str, str, str]]:
    rows = db.execute(
        text(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position"
        )
    )
    return [(r.table_name, r.column_name, r.data_type) for r in rows]


def _dump(db: Connection) -> tuple[list[tuple[str, str]], list[tuple[str, bytes]]]:
    """Every value of every column of every table: (where, text form) and, for bytea, (where, bytes)."""
    texts: list[tuple[str, str]] = []
    blobs: list[tuple[str, bytes]] = []
    for table, column, data_type in _all_columns(db):
        where = f"{table}.{column}"
        if data_type == "bytea":
            for (value,) in db.execute(
                text(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
            ):
                blobs.append((where, bytes(value)))
        for (value,) in db.execute(
            text(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')
        ):
            texts.append((where, value))
    return texts, blobs


class TestNothingPersonalAtRest:
    def test_raw_database_holds_no_name_and_no_identity_number(
        self, client: TestClient, auth: Tokens, db: Connection
    ) -> None:
        name, contact = "欧阳娜娜", "13800138000"
        number = identity_number("19850329", district="440882")
        admin = auth(Role.admin)
        institution = auth(Role.institution, create_institution(client, admin))
        response = client.post(
            "/api/v1/learners",
            json={"name": name, "identity_number": number.lower(), "contact": contact},
            headers=institution,
        )
        assert response.status_code == 201, response.text
        learner_id = response.json()["id"]
        # read it back (so the access log and any caches have been written too)
        assert client.get(f"/api/v1/learners/{learner_id}", headers=admin).json()["name"] == name

        texts, blobs = _dump(db)
        # positive control: the scan does see this registration's rows
        assert ("learners.id", learner_id) in texts
        assert any(where == "learner_vault.sealed" for where, _ in blobs)

        digits = "".join(c for c in number if c.isdigit())
        needles = {name, number, number.lower(), digits, number[:17], contact, name[:2], name[2:]}
        leaks = [(where, needle) for where, value in texts for needle in needles if needle in value]
        assert leaks == []
        byte_needles = {n.encode() for n in needles} | {n.encode("utf-16-le") for n in (name,)}
        byte_needles |= {json.dumps(name).encode(), json.dumps(name, ensure_ascii=False).encode()}
        byte_leaks = [(where, needle) for where, value in blobs for needle in byte_needles if needle in value]
        assert byte_leaks == []

    def test_vault_opens_with_the_master_key(
        self, client: TestClient, auth: Tokens, session: Session
    ) -> None:
        from creditbank.learners import vault

        number = identity_number()
        _, body = register(client, auth(Role.admin), "欧阳娜娜", number)
        ctx_master = client.app.state.ctx.secrets.master_key  # type: ignore[attr-defined]
        data = vault.load(session, ctx_master, str(body["id"]))
        assert data is not None
        assert (data.name, data.identity_number) == ("欧阳娜娜", number)


@pytest.fixture(scope="module")
def committed_ctx(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppContext]:
    """A context on its own database, where every transaction really commits."""
    url = pg_server.migrate("reg_concurrency")
    engine = create_engine(url, pool_size=20, max_overflow=5)
    var_dir: Path = tmp_path_factory.mktemp("reg_concurrency")
    ctx = build_context(Settings(var_dir=var_dir, database_url=url, mode="demo"), engine=engine)
    yield ctx
    engine.dispose()


class TestConcurrentRegistration:
    THREADS = 16

    def test_sixteen_simultaneous_registrations_make_one_learner(self, committed_ctx: AppContext) -> None:
        ctx = committed_ctx
        number = identity_number("19770101")
        barrier = threading.Barrier(self.THREADS)
        results: list[tuple[str, bool]] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        in_transaction = contextmanager(transaction)

        def worker() -> None:
            try:
                barrier.wait(timeout=30)
                with in_transaction(ctx.sessions) as session:
                    learner, created = service.register(
                        session,
                        identity_key=ctx.identity_key,
                        master_key=ctx.secrets.master_key,
                        name="并发测试",
                        identity_number=number,
                    )
                    learner_id = learner.id
                with lock:
                    results.append((learner_id, created))
            except BaseException as exc:  # collected and re-raised in the test thread
                with lock:
                    errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(self.THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        assert len(results) == self.THREADS
        assert len({learner_id for learner_id, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        digest = service.lookup_hash(ctx.identity_key, number)
        with ctx.engine.connect() as conn:
            rows = conn.execute(text("SELECT id FROM learners WHERE lookup_hmac = :h"), {"h": digest}).all()
            vaults = conn.execute(
                text("SELECT count(*) FROM learner_vault WHERE learner_id = :l"), {"l": results[0][0]}
            ).scalar_one()
        assert [r.id for r in rows] == [results[0][0]]
        assert vaults == 1


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs(ctx: AppContext) -> Iterator[tuple[TestClient, _Capture]]:
    app = create_app(ctx=ctx)  # configures logging: JSON lines on stderr
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


class TestLogs:
    def test_no_personal_data_in_logs_and_access_lines_carry_a_request_id(
        self, captured_logs: tuple[TestClient, _Capture], auth: Tokens
    ) -> None:
        client, capture = captured_logs
        name, number = "上官婉儿", identity_number("19881212")
        admin = auth(Role.admin)
        institution = auth(Role.institution, create_institution(client, admin))
        created = client.post(
            "/api/v1/learners",
            json={"name": name, "identity_number": number, "contact": "wan-er@example.cn"},
            headers={**institution, "X-Request-ID": "reg-log-test-1"},
        )
        assert created.status_code == 201, created.text
        learner_id = created.json()["id"]
        client.get(f"/api/v1/learners/{learner_id}", headers=institution)
        client.post("/api/v1/learners/lookup", json={"identity_number": number}, headers=institution)
        # error paths too: a bad check character and a body that is not JSON
        client.post(
            "/api/v1/learners", json={"name": name, "identity_number": number[:17] + "0"}, headers=admin
        )
        client.post("/api/v1/learners", content=f'{{"name": "{name}", '.encode(), headers=admin)

        assert capture.lines, "nothing was logged: the capture is not attached"
        digits = "".join(c for c in number if c.isdigit())
        for line in capture.lines:
            for needle in (name, number, digits, number[:17], "wan-er@example.cn"):
                assert needle not in line, f"{needle!r} leaked into the log: {line}"
            assert json.dumps(name).strip('"') not in line

        access = [json.loads(line) for line in capture.lines if '"creditbank.access"' in line]
        assert len(access) >= 5
        assert all(entry.get("request_id") for entry in access)
        registration = next(e for e in access if e["request_id"] == "reg-log-test-1")
        assert (registration["method"], registration["route"], registration["status"]) == (
            "POST",
            "/api/v1/learners",
            201,
        )


def test_session_fixture_sees_the_app_writes(client: TestClient, auth: Tokens, ctx: AppContext) -> None:
    """The rolled-back transaction is shared: a service read sees what the HTTP call wrote."""
    number = identity_number()
    _, body = register(client, auth(Role.admin), "钱多多", number)
    factory: sessionmaker[Session] = ctx.sessions
    with factory() as session:
        assert service.find_by_identity_number(session, ctx.identity_key, number).id == body["id"]
