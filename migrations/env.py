"""Alembic environment: the URL from the caller or CREDITBANK_DATABASE_URL; lock and statement timeouts
for the migrations' own transaction (`SET LOCAL`: a pooled connection does not keep them)."""

from alembic import context
from sqlalchemy import Connection, text

from creditbank.config import get_settings
from creditbank.db import create_engine, sqlalchemy_url
from creditbank.models_registry import import_all_models

config = context.config
target_metadata = import_all_models()


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(text("SET LOCAL statement_timeout = '600s'"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or get_settings().effective_database_url
    context.configure(url=sqlalchemy_url(url), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.attributes.get("url") or get_settings().effective_database_url)
    with engine.begin() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
