"""Test fixtures: a real PostgreSQL server, a migrated database, a rolled-back transaction per test.

* ``pg_server`` starts a throwaway PostgreSQL (or uses ``CREDITBANK_TEST_POSTGRES_URL``'s server).
* ``engine`` is a database built by ``alembic upgrade head`` once per run, by the schema's owner; it
  (and so the app) connects as the service's role, which owns nothing (``creditbank.privileges``).
* ``db`` is a connection inside a transaction that is rolled back after each test, acting as the
  service's role (``SET LOCAL ROLE``; ``as_superuser(db)`` steps out for deliberate tampering); the app's
  sessions join it through savepoints, so a test sees its own writes and leaves nothing behind.
* ``superuser_ctx`` is the same for the PostgreSQL superuser, for tests that tamper on purpose.
* ``client`` is the app over real HTTP semantics (httpx through ASGI) on that connection.
* ``sqlite_ctx`` is an embedded SQLite database of its own, for the tests marked ``sqlite`` (smoke tests that
  the same code also runs on SQLite, the database ``make run`` uses).
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from creditbank.auth.models import Role
from creditbank.auth.service import create_reviewer, create_token
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine
from creditbank.main import create_app
from creditbank.migrate import upgrade
from creditbank.transparency.publisher import ensure_default_log
from tests.support.postgres import SERVICE, PostgresServer, start_postgres

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VECTORS = PROJECT_ROOT / "tests" / "vectors"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


def _settings(var_dir: Path, url: str) -> Settings:
    return Settings(
        var_dir=var_dir,
        database_url=url,
        base_url="http://testserver",
        mode="demo",
        background_publisher=False,
    )


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgresServer, secrets_dir: Path) -> str:
    """The test database, migrated by its owner; the URL of the service's role (what the app uses)."""
    url = pg_server.migrate("creditbank_test")
    engine = create_engine(url, pool_size=2)
    ensure_default_log(build_context(_settings(secrets_dir, url), engine=engine))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(secrets_dir: Path, pg_url: str) -> Settings:
    return _settings(secrets_dir, pg_url)


@pytest.fixture
def db(superuser_engine: Engine) -> Iterator[Connection]:
    """The test's transaction, acting as the service's role (``SET LOCAL ROLE``: every privilege is
    checked as the service's); a test that tampers on purpose steps out with ``as_superuser(db)``."""
    connection = superuser_engine.connect()
    outer = connection.begin()
    connection.execute(text(f"SET LOCAL ROLE {SERVICE}"))
    try:
        yield connection
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def ctx(settings: Settings, engine: Engine, db: Connection) -> AppContext:
    context = build_context(settings, engine=engine)
    context.sessions = sessionmaker(
        bind=db,
        class_=Session,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    return context


@pytest.fixture(scope="session")
def superuser_engine(pg_server: PostgresServer, pg_url: str) -> Iterator[Engine]:
    """The test database as the PostgreSQL superuser: only for tests that tamper on purpose."""
    engine = create_engine(pg_server.url("creditbank_test"), pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def superuser_ctx(settings: Settings, superuser_engine: Engine) -> Iterator[AppContext]:
    """Like ``ctx``, but its sessions are the superuser's (in a transaction rolled back after the test)."""
    connection = superuser_engine.connect()
    outer = connection.begin()
    context = build_context(settings, engine=superuser_engine)
    context.sessions = sessionmaker(
        bind=connection,
        class_=Session,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    try:
        yield context
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def session(ctx: AppContext) -> Iterator[Session]:
    with ctx.sessions() as s:
        yield s


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx=ctx), raise_server_exceptions=False) as c:
        yield c


@dataclass
class Tokens:
    """Mint tokens for tests inside the test's transaction."""

    ctx: AppContext

    def __call__(self, role: Role, subject: str | None = None) -> dict[str, str]:
        with self.ctx.sessions() as s, s.begin():
            if role is Role.reviewer and subject is None:  # a new person: each call another reviewer
                subject = create_reviewer(s, "测试审核员").id
            _, token = create_token(s, self.ctx.token_key, role, subject)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(ctx: AppContext) -> Tokens:
    return Tokens(ctx)


@pytest.fixture
def sqlite_ctx(tmp_path: Path) -> Iterator[AppContext]:
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'smoke.db'}")
    context = build_context(settings)
    upgrade(context.engine)
    ensure_default_log(context)
    yield context
    context.engine.dispose()


def pytest_collection_modifyitems(items: list[Any]) -> None:
    # the files of minutes first (stable: every other test keeps its place), so that with
    # `--dist loadfile --no-loadscope-reorder` one process starts them while the other runs the rest
    items.sort(key=lambda item: item.get_closest_marker("runs_long") is None)
    os.environ.setdefault("CREDITBANK_LOG_LEVEL", "WARNING")
    # the command line's messages in English, whatever the machine's locale (tests/i18n sets its own)
    os.environ.setdefault("CREDITBANK_LANG", "en")
