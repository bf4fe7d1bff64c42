"""Database engine, session and column types shared by every domain.

One transaction per request: :func:`get_session` yields a session inside a transaction that is
committed when the request succeeds and rolled back when it fails. Services ``flush()`` and never
``commit()``. PostgreSQL (through psycopg 3) and SQLite run the same models and migrations.
"""

import datetime as dt
import decimal
import json
import logging
import operator
import select
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import psycopg
from psycopg.types.json import Json
from sqlalchemy import JSON, DateTime, Engine, MetaData, Numeric, String, Table, event, text
from sqlalchemy import create_engine as _create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import configure_mappers, instrumentation, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")

_log = logging.getLogger("creditbank.db")

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
        if quantised.is_zero():
            # "-0" passes every ">= 0" check in Python, but SQLite keeps it as the text '-0.00',
            # which its CHECK (hours >= 0) refuses: store zero as zero
            quantised = quantised.copy_abs()
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
    # No server-side prepared statements (psycopg prepares a statement after five runs by default):
    # a prepared statement's generic plan is made once per connection from the table sizes of that
    # moment, and a plan made while a table was small (a scan) stays after it has grown; locking a
    # batch's 1,000 accounts took 250 ms instead of 5. Every execution is planned for its values.
    # (plan_cache_mode=force_custom_plan would do the same for our statements but also re-plans the
    # foreign-key checks inside every COPY, which halved the bulk append.)
    kwargs.setdefault("connect_args", {"prepare_threshold": None})
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_use_lifo", True)
    engine = _create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _check_alive)
    return engine


READ_POOL_RECYCLE_SECONDS = 60


def create_read_engine(url: str, **kwargs: Any) -> Engine:
    """The engine of the reads that may be stale (``CREDITBANK_READ_DATABASE_URL``).

    Its connections stay on standbys: one opened on a standby that has since been promoted (a
    failover) is dropped at its next checkout, so that libpq (``target_session_attrs=prefer-standby``)
    finds a standby again; and every connection is reopened after a minute, so connections opened on
    the primary while no standby answered move back once one does. Neither costs a round trip: a
    PostgreSQL 14+ server reports ``in_hot_standby`` to its clients, and psycopg keeps the value.
    """
    kwargs.setdefault("pool_recycle", READ_POOL_RECYCLE_SECONDS)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _note_standby)
        event.listen(engine, "checkout", _check_still_standby)
    return engine


def _in_hot_standby(dbapi_connection: Any) -> bool | None:
    driver = cast("psycopg.Connection[Any]", dbapi_connection)
    value = driver.info.parameter_status("in_hot_standby")  # None before PostgreSQL 14
    return None if value is None else value == "on"


def _note_standby(dbapi_connection: Any, record: Any) -> None:
    record.info["opened_on_standby"] = _in_hot_standby(dbapi_connection)


def _check_still_standby(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    if record.info.get("opened_on_standby") and _in_hot_standby(dbapi_connection) is False:
        raise sa_exc.DisconnectionError("the standby was promoted: reconnect to a standby")


def _check_alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out only live pooled connections, usually without a round trip.

    An idle connection has nothing to read unless the server has spoken to it (a FATAL message
    before it ended the session: restart, ``pg_terminate_backend``, idle timeout) or closed it, so a
    connection whose socket is quiet is handed out at once; one with something to read is pinged,
    and dropped (``DisconnectionError``: the pool takes another) if that fails. SQLAlchemy's
    ``pool_pre_ping`` would add a ``SELECT 1`` round trip to every checkout, about a third of a
    public proof's time at the median.
    """
    driver = cast("psycopg.Connection[Any]", dbapi_connection)
    if driver.closed or driver.broken:
        raise sa_exc.DisconnectionError("connection closed")
    readable, _, _ = select.select([driver.fileno()], [], [], 0)
    if not readable:
        return
    try:
        driver.execute("SELECT 1")
        driver.rollback()
    except psycopg.Error as exc:
        raise sa_exc.DisconnectionError(str(exc)) from exc


WARM_TABLES = (
    "api_tokens",
    "idempotency_keys",
    "institutions",
    "learners",
    "learner_links",
    "outcomes",
    "recognitions",
    "outcome_events",
    "ledger_accounts",
    "ledger_transactions",
    "ledger_postings",
    "ledger_lots",
    "tlog_logs",
    "tlog_nodes",
    "tlog_checkpoints",
)


def warm_pool(engine: Engine, connections: int) -> None:
    """Open ``connections`` PostgreSQL connections now and have each plan a query over the posting
    path's tables, so the first requests under load neither wait for new server processes nor for
    their catalog caches (a cold pool made the first seconds of a 100 requests/s load queue up).
    A database unavailable now (down, restarting: :func:`unavailability`) leaves the pool cold, to
    connect on demand: a worker started during an outage (one replacing a worker that died) starts,
    answers 503 until the database is back, and does not stop the server by failing its start."""
    if engine.dialect.name != "postgresql":
        return
    touch = text(" UNION ALL ".join(f"(SELECT 1 FROM {t} LIMIT 0)" for t in WARM_TABLES))  # noqa: S608
    held = []
    try:
        for _ in range(connections):
            connection = engine.connect()
            held.append(connection)
            connection.execute(touch)
            connection.rollback()
    except sa_exc.DBAPIError as exc:
        reason = unavailability(exc)
        if reason is None:
            raise
        _log.warning("pool not warmed", extra={"fields": {"reason": reason}})
    finally:
        for connection in held:
            connection.close()


@contextmanager
def direct_reader(sessions: "sessionmaker[Session]") -> "Iterator[Session | psycopg.Connection[Any]]":
    """A pooled PostgreSQL connection in autocommit mode for a few read-only statements (no BEGIN,
    no ROLLBACK, no ORM session: the public proof routes); a session from ``sessions`` when they are
    bound to anything but a PostgreSQL engine (SQLite, or a test's enclosing transaction)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        with sessions() as session:
            yield session
        return
    pooled = bind.raw_connection()
    driver = cast("psycopg.Connection[Any]", pooled.driver_connection)
    try:
        if driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            driver.rollback()
        driver.autocommit = True
        try:
            yield driver
        finally:
            driver.autocommit = False
    finally:
        pooled.close()


def own_connection_engine(engine: Engine) -> Engine:
    """An engine for the same database whose connections are not taken from ``engine``'s pool: for a
    holder that keeps one connection for the life of the process (the checkpoint publisher's lock),
    so the request pool keeps its full size."""
    if engine.dialect.name != "postgresql":
        return engine
    return _create_engine(engine.url, poolclass=NullPool, connect_args={"prepare_threshold": None})


_SYNC_STANDBY_FLUSH = text(
    "SELECT count(*), bool_or(flush_lsn >= CAST(:lsn AS pg_lsn)), bool_or(flush_lsn IS NULL) "
    "FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')"
)


def durable_on_sync_standby(session: Session, timeout: float) -> bool:
    """Whether every transaction committed before this call is flushed on a synchronous standby
    (PostgreSQL); waits up to ``timeout`` seconds for the standby to catch up.

    The server's current WAL position is read first: every commit visible to the caller lies before
    it. Then ``pg_stat_replication`` must list a synchronous standby that has flushed past it. With
    ``synchronous_commit = on`` and a synchronous standby in place this already holds for every
    commit (a commit becomes visible only after the standby confirmed it); it does not hold after a
    failover in Patroni's non-strict mode, when the new leader runs without a synchronous standby
    for some seconds, or when a waiting commit was cancelled. Reading the standby's positions needs
    ``pg_read_all_stats``: without it they read as NULL, and the answer is False (logged).
    """
    lsn = session.execute(text("SELECT CAST(pg_current_wal_lsn() AS text)")).scalar_one()
    deadline = time.monotonic() + timeout
    while True:
        standbys, flushed, hidden = session.execute(_SYNC_STANDBY_FLUSH, {"lsn": lsn}).one()
        if flushed:
            return True
        if hidden:
            _log.warning(
                "cannot read the synchronous standby's position: grant pg_read_all_stats to the service role"
            )
            return False
        if not standbys or time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False, autoflush=False)


def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session in a transaction; commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


_FIELD_NAMES: dict[type[SQLModel], frozenset[str]] = {}


def construct(model: type[M], **values: Any) -> M:
    """A table-model instance built without validation or ORM instrumentation.

    For rows a service writes itself with Core ``insert`` on a hot path (bulk posting): about 20
    times cheaper than the model's ``__init__``. The instance carries ORM state, so fields can be
    assigned as usual; it is not attached to a session. Given every field, it skips pydantic's
    ``model_construct`` too (no default to compute), which halves the cost again.
    """
    names = _FIELD_NAMES.get(model)
    if names is None:
        names = _FIELD_NAMES[model] = frozenset(model.model_fields)
    instance: M
    if values.keys() == names:
        instance = model.__new__(model)
        object.__setattr__(instance, "__dict__", values)
        object.__setattr__(instance, "__pydantic_fields_set__", set(names))
        object.__setattr__(instance, "__pydantic_extra__", None)
        object.__setattr__(instance, "__pydantic_private__", None)
    else:
        instance = cast(M, model.model_construct(**values))
    manager = instrumentation.manager_of_class(model)
    if not manager.mapper.configured:
        configure_mappers()
    object.__setattr__(instance, "_sa_instance_state", manager._state_constructor(instance, manager))
    return instance


def set_fields(instance: SQLModel, **values: Any) -> None:
    """Change fields of an instance made by :func:`construct`."""
    instance.__dict__.update(values)


def fields_of(instance: SQLModel) -> dict[str, Any]:
    """The fields of an instance made by :func:`construct`, as a row for :func:`bulk_insert`,
    without copying them (its ``__dict__``: the fields and SQLAlchemy's state, which inserts skip
    as it is no column). Cheaper than ``model_dump`` on the bulk paths."""
    return instance.__dict__


COPY_MIN_ROWS = 32  # below this, prepared INSERTs cost fewer round trips than COPY


def pg_connection(session: Session) -> "psycopg.Connection[Any] | None":
    """The psycopg connection under the session's transaction on PostgreSQL, None elsewhere.

    Hot paths (posting, the ledger, proofs) run their few fixed statements on it directly, as
    prepared statements with array parameters: the same transaction, without the ORM's per-statement
    compile and result machinery. Everything else goes through the session.
    """
    # once per transaction and savepoint: a transaction keeps its connection to the end, and going
    # through the session each time costs about 30 µs (a dozen calls a posting). The savepoint counts:
    # the session emits a nested transaction's SAVEPOINT only when it is first asked for the connection
    current = (session.get_transaction(), session.get_nested_transaction())
    known = session.info.get(_DRIVER_OF_TRANSACTION)
    if known is not None and current[0] is not None and known[0] is current[0] and known[1] is current[1]:
        return cast("psycopg.Connection[Any] | None", known[2])
    connection = session.connection()
    driver = (
        cast("psycopg.Connection[Any]", connection.connection.driver_connection)
        if connection.dialect.name == "postgresql"
        else None
    )
    root, nested = session.get_transaction(), session.get_nested_transaction()
    session.info[_DRIVER_OF_TRANSACTION] = (root, nested, driver)
    return driver


_DRIVER_OF_TRANSACTION = "creditbank.db.pg_connection"


@contextmanager
def autocommit_connection(sessions: sessionmaker[Session]) -> Iterator["psycopg.Connection[Any] | None"]:
    """A pooled psycopg connection of the engine that ``sessions`` use, in autocommit, for a read
    outside any transaction: one round trip a statement (no ``BEGIN``, no ``COMMIT``, no session);
    given back to the pool after (in no transaction: the pool's rollback on return sends nothing).
    None when that is not a PostgreSQL engine (SQLite; or sessions bound to one connection, as the
    tests bind them to their own transaction): then read in a transaction as usual."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
        yield None
        return
    pooled = engine.raw_connection()
    driver = cast("psycopg.Connection[Any]", pooled.driver_connection)
    try:
        driver.autocommit = True
        yield driver
    finally:
        try:
            if driver.closed or driver.broken:
                pooled.invalidate()
            else:
                driver.autocommit = False
        finally:
            pooled.close()


def in_pipeline(driver: "psycopg.Connection[Any]") -> bool:
    """Whether statements on ``driver`` are being queued in a pipeline (no COPY there)."""
    return bool(driver.pgconn.pipeline_status)


PIPELINE_MAX_ROWS = 16  # rows of a write small enough to go in one round trip (more go by COPY)


@contextmanager
def few_rows_pipelined(session: Session, rows: int) -> Iterator[None]:
    """On PostgreSQL, when ``rows`` is at most :data:`PIPELINE_MAX_ROWS`: the statements of the
    block sent in ONE round trip (a psycopg pipeline; an error surfaces at the block's end, still
    inside the transaction, as SQLAlchemy's). Elsewhere, or for more rows, the block as it is."""
    driver = pg_connection(session) if rows <= PIPELINE_MAX_ROWS else None
    if driver is None or in_pipeline(driver):
        yield
        return
    with translated_errors("writes (pipeline)"), driver.pipeline():
        yield


@contextmanager
def translated_errors(statement: str) -> Iterator[None]:
    """Raise psycopg's errors from direct statements as SQLAlchemy's (``IntegrityError``,
    ``DataError``, ...), so callers handle one family of exceptions whichever way a statement ran."""
    try:
        yield
    except psycopg.Error as exc:
        raise sa_exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


@dataclass(frozen=True)
class _InsertPlan:
    sql: str
    copy_sql: str
    names: tuple[str, ...]
    values_of: Callable[[dict[str, Any]], tuple[Any, ...]]  # a row's values in column order
    decorated: tuple[tuple[int, TypeDecorator[Any]], ...]  # columns whose type processes values
    json_columns: tuple[int, ...]
    _many: dict[int, str] = field(default_factory=dict, compare=False)  # rows_sql's texts by count

    def rows_sql(self, rows: int) -> str:
        """The ``INSERT`` of ``rows`` rows in one statement (``rows`` VALUES lists; each row is
        coerced to the columns' types on its own, as a one-row ``INSERT``'s is)."""
        if rows == 1:
            return self.sql
        found = self._many.get(rows)
        if found is None:
            head, _, line = self.sql.partition(" VALUES ")
            found = self._many[rows] = f"{head} VALUES {', '.join([line] * rows)}"
        return found


_PLANS: dict[tuple[str, tuple[str, ...]], _InsertPlan] = {}


def _insert_plan(table: Table, keys: Iterable[str]) -> _InsertPlan:
    wanted = tuple(keys)
    found = _PLANS.get((table.name, wanted))
    if found is not None:
        return found
    columns = [c for c in table.columns if c.name in wanted]
    quoted = ", ".join(f'"{c.name}"' for c in columns)
    names = tuple(c.name for c in columns)
    getter = operator.itemgetter(*names)
    plan = _InsertPlan(
        # names from the table's own metadata, never from input
        sql=f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})",  # noqa: S608
        copy_sql=f"COPY {table.name} ({quoted}) FROM STDIN",
        names=names,
        values_of=getter if len(names) > 1 else lambda row: (getter(row),),
        decorated=tuple(
            (i, c.type)
            for i, c in enumerate(columns)
            if isinstance(c.type, TypeDecorator)
            and type(c.type).process_bind_param is not TypeDecorator.process_bind_param
        ),
        json_columns=tuple(i for i, c in enumerate(columns) if isinstance(c.type, JSON)),
    )
    _PLANS[(table.name, wanted)] = plan
    return plan


def bulk_insert(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert many rows in the session's transaction: on PostgreSQL ``COPY`` (many rows) or one
    prepared ``INSERT`` (few), straight through psycopg; an executemany elsewhere.

    COPY is several times faster than row-by-row INSERTs for the bulk paths (posting, the ledger).
    Values pass through each column type's bind processing first, so credits are quantised and
    timestamps checked exactly as an ORM insert would. Triggers and constraints apply as usual.
    Every row must have the keys of the first.
    """
    if not rows:
        return
    driver = pg_connection(session)
    if driver is None:
        session.execute(model.__table__.insert(), rows)  # type: ignore[attr-defined]
        return
    _write_rows(driver, *_bound_rows(session, model, rows))


def _bound_rows(
    session: Session, model: type[SQLModel], rows: list[dict[str, Any]]
) -> tuple[_InsertPlan, list[list[Any]]]:
    """The insert plan for ``rows`` and their values after each column type's bind processing."""
    plan = _insert_plan(model.__table__, rows[0])  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    values_of = plan.values_of
    values = [list(values_of(row)) for row in rows]
    # column by column: one bound method per column instead of a test per value
    for i, decorator in plan.decorated:
        process = decorator.process_bind_param
        for line in values:
            line[i] = process(line[i], dialect)
    for i in plan.json_columns:
        for line in values:
            if line[i] is not None:
                line[i] = Json(line[i], dumps=_json_dumps)
    return plan, values


def _write_rows(driver: "psycopg.Connection[Any]", plan: _InsertPlan, values: list[list[Any]]) -> None:
    if len(values) >= COPY_MIN_ROWS and not in_pipeline(driver):
        with translated_errors(plan.copy_sql), driver.cursor() as cursor, cursor.copy(plan.copy_sql) as copy:
            for line in values:
                copy.write_row(line)
        return
    # a few rows go as ONE statement (a multi-row VALUES, up to MULTI_ROWS_MAX rows), not one
    # statement a row: PostgreSQL starts and ends its executor, opens the table and its indexes,
    # answers and fires its statement-level triggers once per statement, however many rows it holds
    with translated_errors(plan.sql), prepared(driver), driver.cursor() as cursor:
        for start in range(0, len(values), MULTI_ROWS_MAX):
            lines = values[start : start + MULTI_ROWS_MAX]
            flat = lines[0] if len(lines) == 1 else [value for line in lines for value in line]
            cursor.execute(plan.rows_sql(len(lines)), flat, prepare=True)


MULTI_ROWS_MAX = 16
"""Rows of one multi-row ``INSERT`` at most: each count of rows is a statement text of its own,
prepared on its connection (psycopg keeps 100 a connection), so the counts are bounded."""


# The engine prepares no statement by itself (see create_engine). A few fixed statements whose plan
# has no choice to make (an INSERT of VALUES: no scan, no join, whatever the tables' sizes) are
# prepared on their connection when asked, inside ``prepared``: parsed, analysed and planned once
# per connection instead of at every run. Parsing, analysing and planning took a third of
# PostgreSQL's CPU per single posting (a perf profile, docs/performance.md); most of its statements
# are such inserts, of many columns each. Never by count: only the statements executed with
# ``prepare=True`` (or an executemany) while ``prepared`` holds.
_ONLY_WHEN_ASKED = 2**62


@contextmanager
def prepared(driver: "psycopg.Connection[Any]") -> Iterator[None]:
    """Let ``driver`` prepare the statements run with ``prepare=True`` meanwhile (and executemany's);
    psycopg keeps them, per connection, until a rollback or its 100th statement."""
    before = driver.prepare_threshold
    if before is not None:  # a connection that prepares by itself already
        yield
        return
    driver.prepare_threshold = _ONLY_WHEN_ASKED
    try:
        yield
    finally:
        driver.prepare_threshold = None


class Writes:
    """A transaction's bulk writes, in order, through one object: :meth:`insert` for rows (COPY on
    PostgreSQL for many, see :func:`bulk_insert`) and :meth:`call` for a statement of its own, with
    :attr:`driver` the psycopg connection on PostgreSQL (None on SQLite).

    Writes run at once, in the caller's thread: a served process is already busy on every core, and
    an earlier version that ran them on a second thread while the caller built the next chunk (with a
    shorter interpreter switch interval) made two concurrent batch uploads slower (2,069 outcomes/s
    with it, 3,016 without) and helped only a lone in-process append.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.driver = pg_connection(session)

    def insert(self, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` (see :func:`bulk_insert`)."""
        if rows:
            bulk_insert(self.session, model, rows)

    def call(self, job: Callable[[], None]) -> None:
        """Run ``job`` now (it may use :attr:`driver`)."""
        job()


def unavailability(exc: BaseException) -> str | None:
    """Why the database cannot serve now, if ``exc`` says so; None for any other error.

    Unavailable: the server is unreachable or restarting (psycopg's ``OperationalError``: no
    connection, the session ended by a shutdown, a timeout, a serialization failure), it refuses
    writes as a standby does during a failover (``ReadOnlySqlTransaction``), or every pooled
    connection is busy (SQLAlchemy's pool ``TimeoutError``). Such a request wrote nothing (its
    transaction is gone) and may be retried as it was. Errors from SQLAlchemy and from direct
    psycopg statements are both recognised.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return "every database connection is busy"
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return "the database connection was lost"
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return "the database is read-only (a failover may be in progress)"
    if isinstance(exc, psycopg.OperationalError | sqlite3.OperationalError):
        return f"the database is unreachable or busy ({type(exc).__name__})"
    return None


def standby_first(
    read_sessions: "sessionmaker[Session] | None",
    sessions: "sessionmaker[Session]",
    read: "Callable[[sessionmaker[Session]], T]",
    behind: tuple[type[Exception], ...] = (),
) -> T:
    """``read`` on the standby (``read_sessions``), else on the primary (``sessions``).

    The primary answers when there is no standby; when the standby has not replayed what is asked
    for yet (``read`` raises one of ``behind``: a checkpoint it does not hold yet, say); and when
    the standby cannot answer (unreachable, restarting, or a query cancelled by a conflict with
    replay: :func:`unavailability`). So a standby changes where a read runs and how fresh "the
    latest" is, never whether an answer exists.
    """
    if read_sessions is not None:
        try:
            return read(read_sessions)
        except behind as exc:
            _log.debug("the standby is behind; reading from the primary", extra={"fields": {"why": str(exc)}})
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, psycopg.OperationalError) as exc:
            reason = unavailability(exc)
            if reason is None:
                raise
            _log.warning(
                "standby unavailable; reading from the primary", extra={"fields": {"reason": reason}}
            )
    return read(sessions)


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
