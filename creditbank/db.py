"""Database engine, session and column types shared by every domain.

One transaction per request: :func:`get_session` yields a session inside a transaction that is
committed when the request succeeds and rolled back when it fails. Services ``flush()`` and never
``commit()``. PostgreSQL (through psycopg 3) and SQLite run the same models and migrations.
"""

import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, Numeric, String, event
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

CREDIT_PRECISION = 12
CREDIT_SCALE = 2


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC time")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class CreditAmount(TypeDecorator[decimal.Decimal]):
    """Credits as ``NUMERIC(12, 2)``; Python side always ``Decimal``.

    SQLite has no decimal type: there the value is kept as a string of the exact decimal, so
    nothing passes through a float.
    """

    impl = Numeric(CREDIT_PRECISION, CREDIT_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(CREDIT_PRECISION, CREDIT_SCALE, asdecimal=True))

    def process_bind_param(self, value: decimal.Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantised = decimal.Decimal(value).quantize(decimal.Decimal(1).scaleb(-CREDIT_SCALE))
        return str(quantised) if dialect.name == "sqlite" else quantised

    def process_result_value(self, value: Any, dialect: Dialect) -> decimal.Decimal | None:
        if value is None:
            return None
        return decimal.Decimal(str(value))


JSONData = JSON().with_variant(JSON(), "sqlite")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def sqlalchemy_url(url: str) -> str:
    """Pick the psycopg 3 driver for PostgreSQL URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for a PostgreSQL or SQLite URL with the project's settings."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        if url in {"sqlite://", "sqlite:///:memory:"}:
            kwargs.setdefault("poolclass", StaticPool)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = _create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return _create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False, autoflush=False)


def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session in a transaction; commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
