"""Running Alembic migrations from code (the CLI, the app's readiness check, tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from creditbank.privileges import grant_service

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.attributes["url"] = url
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, service_role: str | None = None) -> list[str]:
    """Migrate to ``revision``; then, given the service's role (PostgreSQL, ``engine`` connected as the
    schema's owner), grant it its privileges on every table (:func:`creditbank.privileges.grant_service`),
    in the same transaction. Returns the tables granted the default because the policy does not name
    them."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), revision)
        if service_role:
            return grant_service(conn, service_role)
    return []


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
