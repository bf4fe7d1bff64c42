"""Least privilege: the service's database role owns nothing and holds only its grants.

The attacker here has the service's database connection (a bug, a stolen ``CREDITBANK_DATABASE_URL``)
and tries to rewrite history: empty the posted outcomes, switch the append-only triggers off, edit the
journal, drop a table. Each statement must fail with PostgreSQL's "permission denied" / "must be owner"
(SQLSTATE 42501), through the very engine the app under test uses.
"""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from creditbank import privileges
from creditbank.cli import app as cli
from creditbank.config import get_settings
from creditbank.db import create_engine
from tests.support.postgres import OWNER, SERVICE, PostgresServer

FORBIDDEN = [
    "TRUNCATE outcomes CASCADE",
    "TRUNCATE ledger_transactions CASCADE",
    "TRUNCATE recognitions",
    "TRUNCATE ledger_accounts",
    "ALTER TABLE outcomes DISABLE TRIGGER outcomes_append_only",
    "ALTER TABLE ledger_transactions DISABLE TRIGGER ALL",
    "ALTER TABLE ledger_lots DROP CONSTRAINT ck_ledger_lots_credits_positive",
    "ALTER TABLE ledger_accounts ADD COLUMN note text",
    "DROP TABLE recognitions CASCADE",
    "DROP TRIGGER ledger_lots_append_only ON ledger_lots",
    "DROP FUNCTION ledger_refuse_change() CASCADE",
    "SET session_replication_role = replica",
    "CREATE TABLE shadow (id int)",
    "CREATE FUNCTION pass() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    # no UPDATE or DELETE on the append-only tables, whatever the triggers say
    "UPDATE ledger_lots SET credits = 50",
    "DELETE FROM ledger_transactions",
    "UPDATE ledger_postings SET amount = amount",
    "UPDATE outcomes SET title = title",
    "DELETE FROM outcome_events",
    "UPDATE tlog_nodes SET hash = hash",
    "DELETE FROM tlog_checkpoints",
    "UPDATE tlog_checkpoints SET root = root",
    "DELETE FROM archive_access_log",
    "UPDATE conversions SET credits = 99",
    "DELETE FROM ledger_accounts",
    "DELETE FROM recognitions",
    "ALTER TABLE learner_vault OWNER TO creditbank_service",
]


@pytest.fixture
def service_db(engine: Engine) -> Iterator[Connection]:
    """A connection that logged in as the service's role (the app's engine), in a rolled-back transaction."""
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield connection
    finally:
        outer.rollback()
        connection.close()


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_the_service_role_is_refused(service_db: Connection, statement: str) -> None:
    assert service_db.execute(text("SELECT session_user")).scalar_one() == SERVICE
    with pytest.raises(ProgrammingError) as raised, service_db.begin_nested():
        service_db.execute(text(statement))
    cause = raised.value.orig
    assert isinstance(cause, psycopg.errors.InsufficientPrivilege), (statement, cause)


def test_the_app_connects_as_a_role_that_owns_nothing(service_db: Connection) -> None:
    db = service_db
    assert db.execute(text("SELECT session_user")).scalar_one() == SERVICE
    user, superuser, create_role, create_db, bypass_rls = db.execute(
        text(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    assert user == SERVICE
    assert not (superuser or create_role or create_db or bypass_rls)
    owned = db.execute(
        text(
            "SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole "
            "AND relnamespace = current_schema()::regnamespace"
        )
    ).scalar_one()
    assert owned == 0
    assert not db.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar_one()
    owner = db.execute(
        text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
    ).scalar_one()
    assert owner == OWNER


def test_every_table_has_exactly_its_policy(db: Connection) -> None:
    """Table by table: the grants are the policy's (the default for tables it does not name)."""
    checked = {
        "SELECT": "SELECT",
        "INSERT": "INSERT",
        "UPDATE": "UPDATE",
        "DELETE": "DELETE",
        "TRUNCATE": "TRUNCATE",
        "REFERENCES": "REFERENCES",
        "TRIGGER": "TRIGGER",
    }
    tables = db.execute(
        text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    ).scalars()
    for table in tables:
        held = {
            name
            for name, privilege in checked.items()
            if db.execute(
                text("SELECT has_table_privilege(current_user, :t, :p)"), {"t": table, "p": privilege}
            ).scalar_one()
        }
        wanted = {p.split(" ")[0] for p in privileges.privileges_of(table) if " (" not in p}
        assert held == wanted, (table, held, wanted)
        assert "TRUNCATE" not in held


def test_no_append_only_table_can_be_updated_or_deleted(db: Connection) -> None:
    """Any table with a trigger refusing UPDATE or DELETE (now or added later) grants neither."""
    guarded = list(
        db.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal "
                "AND p.proname IN ('ledger_refuse_change', 'outcomes_refuse_change', "
                "'tlog_checkpoint_guard') "
                "AND c.relnamespace = current_schema()::regnamespace ORDER BY 1"
            )
        ).scalars()
    )
    assert {"ledger_transactions", "ledger_lots", "outcomes", "tlog_nodes"} <= set(guarded)
    for table in guarded:
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            held = db.execute(
                text("SELECT has_table_privilege(current_user, :t, :p)"), {"t": table, "p": privilege}
            ).scalar_one()
            if table in COLUMN_UPDATES and privilege == "UPDATE":
                continue  # one column only, see the assertions below
            assert not held, (table, privilege)
    for table, column in COLUMN_UPDATES.items():
        columns = db.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t"
            ),
            {"t": table},
        ).scalars()
        for other in columns:
            held = db.execute(
                text("SELECT has_column_privilege(current_user, :t, :c, 'UPDATE')"), {"t": table, "c": other}
            ).scalar_one()
            assert held == (other == column), (table, other)


COLUMN_UPDATES = {
    # a republished checkpoint refreshes its time (a trigger guards the rest)
    "tlog_checkpoints": "created_at",
    # erasure and pepper retirement overwrite the keyed hash (the trigger checks the new value)
    "outcomes": "request_hash",
}


def test_grants_cover_a_table_added_by_a_later_migration(pg_server: PostgresServer) -> None:
    """A migration written after this module (any engineer's) adds a table: the grant step after the
    upgrade gives the service the default, and ``TRUNCATE`` or ownership still never."""
    service_url = pg_server.migrate("privileges_later_table")
    owner = create_engine(pg_server.url("privileges_later_table", OWNER), pool_size=1)
    try:
        with owner.begin() as conn:
            conn.execute(text("CREATE TABLE later_feature (id int PRIMARY KEY)"))
            unnamed = privileges.grant_service(conn, SERVICE)
        assert "later_feature" in unnamed
    finally:
        owner.dispose()
    with psycopg.connect(service_url) as conn:
        conn.execute("INSERT INTO later_feature VALUES (1)")
        conn.execute("UPDATE later_feature SET id = 2")
        conn.execute("DELETE FROM later_feature")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE later_feature")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE later_feature")


def test_user_of_url() -> None:
    assert privileges.user_of("postgresql://svc:secret@db.internal:5432/creditbank") == "svc"
    assert privileges.user_of("postgresql+psycopg://o%40x@db/creditbank") == "o@x"
    assert privileges.user_of("sqlite:///var/creditbank.db") is None


def test_grants_do_nothing_on_sqlite() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        assert privileges.grant_service(conn, "anyone") == []
    engine.dispose()


def test_db_upgrade_migrates_as_the_owner_and_grants_the_service(
    pg_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``creditbank db upgrade`` as documented: the owner's URL in CREDITBANK_MIGRATION_DATABASE_URL,
    the service's in CREDITBANK_DATABASE_URL; the service then works and cannot truncate."""
    pg_server.create_database("privileges_cli")
    service_url = pg_server.url("privileges_cli", SERVICE)
    monkeypatch.setenv("CREDITBANK_DATABASE_URL", service_url)
    monkeypatch.setenv("CREDITBANK_MIGRATION_DATABASE_URL", pg_server.url("privileges_cli", OWNER))
    monkeypatch.setenv("CREDITBANK_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"granted {SERVICE} its privileges" in result.output
    with psycopg.connect(service_url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c "
            "WHERE relnamespace = 'public'::regnamespace"
        ).fetchall()
        assert owners == [(OWNER,)]
        assert conn.execute("SELECT count(*) FROM tlog_logs").fetchone() == (1,)  # the default log
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE outcomes CASCADE")
