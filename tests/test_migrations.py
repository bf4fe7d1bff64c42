"""Migrations are reviewed code: they apply, revert completely, re-apply, and match the models.

Runs on a fresh PostgreSQL database of its own (not the shared test database), and once on SQLite,
since the same migrations serve both.
"""

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from creditbank.db import create_engine
from creditbank.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade
from creditbank.models_registry import import_all_models
from tests.support.postgres import PostgresServer

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
MIGRATION_FILES = sorted(p for p in VERSIONS.glob("*.py") if p.name != "__init__.py")


@pytest.fixture(scope="module")
def fresh_engine(pg_server: PostgresServer) -> Iterator[Engine]:
    engine = create_engine(pg_server.create_database("migrations_roundtrip"), pool_size=2)
    yield engine
    engine.dispose()


def _public_objects(conn: Connection) -> dict[str, list[str]]:
    """Everything a migration may leave behind in the public schema, by kind."""
    queries = {
        "tables": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        "views": "SELECT viewname FROM pg_views WHERE schemaname = 'public'",
        "sequences": "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'",
        "functions": (
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public'"
        ),
        "types": (
            "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') "
            "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)"
        ),
    }
    return {kind: sorted(conn.execute(text(sql)).scalars()) for kind, sql in queries.items()}


def _schema_diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, import_all_models()))


def _describe(diff: list[Any]) -> str:
    """One line per difference, e.g. ``add_table outcomes`` (a model without a migration)."""
    lines = []
    for change in diff:
        steps = change if isinstance(change, list) else [change]
        for step in steps:
            subject = step[1] if len(step) > 1 else ""
            name = getattr(subject, "name", None) or subject
            lines.append(f"{step[0]} {name} {' '.join(str(s) for s in step[2:4])}".strip())
    return "models and migrations differ (write a migration):\n" + "\n".join(lines)


class TestRoundTrip:
    def test_upgrade_downgrade_upgrade(self, fresh_engine: Engine) -> None:
        # 1. upgrade head on an empty database
        upgrade(fresh_engine)
        with fresh_engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            tables = set(_public_objects(conn)["tables"])
        model_tables = set(import_all_models().tables)
        assert model_tables <= tables, f"tables missing after upgrade: {model_tables - tables}"

        # 2. downgrade base leaves nothing but Alembic's own table
        downgrade(fresh_engine, "base")
        with fresh_engine.connect() as conn:
            assert current_revision(conn) is None
            left = _public_objects(conn)
        assert left == {
            "tables": ["alembic_version"],
            "views": [],
            "sequences": [],
            "functions": [],
            "types": [],
        }

        # 3. upgrade head again: the downgrade really reverted everything
        upgrade(fresh_engine)
        with fresh_engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert set(_public_objects(conn)["tables"]) == tables

    def test_each_step_down_and_up(self, fresh_engine: Engine) -> None:
        """Every single revision reverts and re-applies on top of its predecessor."""
        upgrade(fresh_engine)
        script = ScriptDirectory.from_config(alembic_config())
        revisions = [r.revision for r in script.walk_revisions("base", "heads")]  # newest first
        for revision in revisions:  # the database is at ``revision`` here
            downgrade(fresh_engine, "-1")
            upgrade(fresh_engine, "+1")
            with fresh_engine.connect() as conn:
                assert current_revision(conn) == revision
            downgrade(fresh_engine, "-1")
        with fresh_engine.connect() as conn:
            assert current_revision(conn) is None
        upgrade(fresh_engine)


class TestModelsMatchMigrations:
    """The equivalent of ``alembic check``: autogenerate finds nothing to do."""

    def test_postgresql(self, fresh_engine: Engine) -> None:
        upgrade(fresh_engine)
        with fresh_engine.connect() as conn:
            diff = _schema_diff(conn)
        assert diff == [], _describe(diff)

    def test_sqlite(self, tmp_path: Path) -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'check.db'}")
        try:
            upgrade(engine)
            with engine.connect() as conn:
                diff = _schema_diff(conn)
                tables = set(inspect(conn).get_table_names())
            assert diff == [], _describe(diff)
            assert set(import_all_models().tables) <= tables
        finally:
            engine.dispose()

    def test_diff_detects_a_missing_table(self, fresh_engine: Engine) -> None:
        """The check itself can fail: drop a table and it is reported."""
        upgrade(fresh_engine)
        with fresh_engine.connect() as conn:
            trans = conn.begin()
            try:
                conn.execute(text("DROP TABLE archive_access_log"))
                diff = _schema_diff(conn)
            finally:
                trans.rollback()
        assert any(
            op[0] == "add_table" and op[1].name == "archive_access_log"
            for op in diff
            if isinstance(op, tuple)
        )


def test_the_migrations_timeouts_stay_in_their_transaction(pg_server: PostgresServer) -> None:
    """The migrations' lock and statement timeouts end with their transaction: a pooled connection
    the service reuses after ``upgrade`` waits for locks and runs statements as long as it must."""
    engine = create_engine(pg_server.create_database("migrations_timeouts"), pool_size=1, max_overflow=0)
    try:
        upgrade(engine)
        with engine.connect() as conn:  # the pool's one connection: the one the migrations ran on
            assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "0"
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
    finally:
        engine.dispose()


def _function(module: ast.Module, name: str) -> ast.FunctionDef:
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no {name}() defined")


def _is_trivial(function: ast.FunctionDef) -> bool:
    body = [
        node
        for node in function.body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))  # docstrings
    ]
    return all(isinstance(node, ast.Pass) for node in body) or (
        len(body) == 1 and isinstance(body[0], ast.Raise)  # "raise NotImplementedError"
    )


class TestMigrationFiles:
    def test_there_are_migrations(self) -> None:
        assert MIGRATION_FILES

    @pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: p.name)
    def test_file_name_is_dated(self, path: Path) -> None:
        assert re.match(r"^\d{8}_", path.name), path.name

    @pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: p.name)
    def test_upgrade_and_downgrade_do_something(self, path: Path) -> None:
        module = ast.parse(path.read_text(encoding="utf-8"))
        assert not _is_trivial(_function(module, "upgrade")), f"{path.name}: empty upgrade()"
        assert not _is_trivial(_function(module, "downgrade")), f"{path.name}: downgrade() does nothing"

    def test_one_head_and_a_linear_history(self) -> None:
        script = ScriptDirectory.from_config(alembic_config())
        assert len(script.get_heads()) == 1
        revisions = list(script.walk_revisions("base", "heads"))
        assert len(revisions) == len(MIGRATION_FILES)

    def test_triviality_check_can_fail(self) -> None:
        stub = ast.parse('def downgrade() -> None:\n    """nothing"""\n    pass\n')
        assert _is_trivial(_function(stub, "downgrade"))
