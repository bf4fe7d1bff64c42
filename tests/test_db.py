"""The database helpers that the hot paths use directly: Writes and the connection pool."""

import time

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from creditbank.db import (
    COPY_MIN_ROWS,
    MULTI_ROWS_MAX,
    Writes,
    bulk_insert,
    create_engine,
    pg_connection,
    utcnow,
)
from creditbank.ledger.models import IdempotencyRecord


def _row(key: str) -> dict[str, object]:
    return {"scope": "test:writes", "key": key, "request_hash": "0" * 64, "created_at": utcnow()}


def _keys(session: Session) -> list[str]:
    return list(
        session.execute(
            text("SELECT key FROM idempotency_keys WHERE scope = 'test:writes' ORDER BY key")
        ).scalars()
    )


class TestWrites:
    def test_writes_run_in_order_at_once(self, session: Session) -> None:
        seen: list[list[str]] = []
        writes = Writes(session)
        writes.insert(IdempotencyRecord, [_row(f"a{i:03}") for i in range(40)])  # COPY
        writes.call(lambda: seen.append(_keys(session)))
        writes.insert(IdempotencyRecord, [_row("b")])
        assert seen == [[f"a{i:03}" for i in range(40)]]
        assert _keys(session) == [*(f"a{i:03}" for i in range(40)), "b"]

    def test_an_error_is_raised_at_the_write(self, session: Session) -> None:
        ran: list[str] = []

        def duplicate_then_call() -> None:
            with session.begin_nested():
                writes = Writes(session)
                writes.insert(IdempotencyRecord, [_row("d"), _row("d")])  # a duplicate key
                writes.call(lambda: ran.append("after"))

        with pytest.raises(IntegrityError):
            duplicate_then_call()
        assert ran == []
        assert _keys(session) == []


class TestPreparedInserts:
    """The writes' INSERTs are prepared on their connection (parsed and planned once); nothing else
    is, and a rollback (which drops psycopg's prepared statements) leaves them working."""

    @staticmethod
    def _prepared(session: Session) -> list[str]:
        return list(session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())

    def test_a_write_is_prepared_once_and_other_statements_never(self, engine: Engine) -> None:
        with Session(engine) as session:
            for i in range(3):
                bulk_insert(session, IdempotencyRecord, [_row(f"p{i}")])  # one row
            for i in range(2):
                bulk_insert(session, IdempotencyRecord, [_row(f"q{i}0"), _row(f"q{i}1")])  # two rows
            for _ in range(8):  # psycopg's own threshold (5) would prepare this one
                _keys(session)
            prepared = sorted(self._prepared(session), key=len)
            driver = pg_connection(session)
            assert driver is not None and driver.prepare_threshold is None
            session.rollback()
        assert len(prepared) == 2, prepared  # one statement text per count of rows
        assert all(p.startswith("INSERT INTO idempotency_keys ") for p in prepared)
        assert [p.count("($") for p in prepared] == [1, 2]

    def test_writes_after_a_rollback_prepare_again(self, engine: Engine) -> None:
        with Session(engine) as session:
            bulk_insert(session, IdempotencyRecord, [_row("r0")])
            session.rollback()  # psycopg deallocates every prepared statement of the connection
            bulk_insert(session, IdempotencyRecord, [_row("r1")])
            bulk_insert(session, IdempotencyRecord, [_row("r2")])
            assert _keys(session) == ["r1", "r2"]
            assert len(self._prepared(session)) == 1
            session.rollback()


class TestMultiRowInserts:
    """A few rows go as one statement (up to ``MULTI_ROWS_MAX`` rows), in order, each row's values
    coerced to the columns' types on its own (a NULL in one row, a number in the next)."""

    @staticmethod
    def _statements(session: Session) -> list[str]:
        return list(session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())

    def test_rows_up_to_the_maximum_are_one_statement(self, engine: Engine) -> None:
        rows = [{**_row(f"m{i:02}"), "status_code": None if i % 2 else 200} for i in range(MULTI_ROWS_MAX)]
        with Session(engine) as session:
            bulk_insert(session, IdempotencyRecord, rows)
            statements = self._statements(session)
            found = [
                (key, code)
                for key, code in session.execute(
                    text(
                        "SELECT key, status_code FROM idempotency_keys "
                        "WHERE scope = 'test:writes' ORDER BY key"
                    )
                )
            ]
            session.rollback()
        assert len(statements) == 1 and statements[0].count("($") == MULTI_ROWS_MAX, statements
        assert found == [(f"m{i:02}", None if i % 2 else 200) for i in range(MULTI_ROWS_MAX)]

    def test_more_rows_than_the_maximum_below_copy_go_in_chunks(self, engine: Engine) -> None:
        count = MULTI_ROWS_MAX + 3
        assert count < COPY_MIN_ROWS
        with Session(engine) as session:
            bulk_insert(session, IdempotencyRecord, [_row(f"c{i:02}") for i in range(count)])
            statements = sorted(self._statements(session), key=len)
            keys = _keys(session)
            session.rollback()
        assert [s.count("($") for s in statements] == [3, MULTI_ROWS_MAX]
        assert keys == [f"c{i:02}" for i in range(count)]

    def test_a_bad_row_fails_the_whole_statement(self, engine: Engine) -> None:
        with Session(engine) as session:
            with pytest.raises(IntegrityError), session.begin_nested():
                bulk_insert(session, IdempotencyRecord, [_row("x0"), _row("x1"), _row("x0")])
            assert _keys(session) == []
            session.rollback()


class TestPooledConnections:
    """Checkout hands out live connections without a ``SELECT 1`` round trip each time."""

    @staticmethod
    def _backend_pid(engine: Engine) -> int:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def test_a_terminated_backend_is_replaced(self, pg_url: str) -> None:
        engine = create_engine(pg_url, pool_size=1, max_overflow=0)
        try:
            before = self._backend_pid(engine)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (before,))
                for _ in range(100):  # until the server has ended it
                    if not admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (before,)
                    ).fetchone():
                        break
                    time.sleep(0.01)
            after = self._backend_pid(engine)  # no error: the dead connection was dropped
            assert after != before
        finally:
            engine.dispose()

    def test_a_quiet_connection_is_handed_out_without_a_ping(self, pg_url: str) -> None:
        engine = create_engine(pg_url, pool_size=1, max_overflow=0)
        seen: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
        try:
            first = self._backend_pid(engine)
            assert self._backend_pid(engine) == first
            assert seen == ["SELECT pg_backend_pid()"] * 2
        finally:
            engine.dispose()


class TestDriverOfTheTransaction:
    """``pg_connection`` looks the session's connection up once per transaction, and again for the next."""

    def test_the_next_transaction_gets_its_own_connection(self, pg_url: str) -> None:
        engine = create_engine(pg_url, pool_size=2, max_overflow=0)
        try:
            with Session(engine) as session:
                with session.begin():
                    first = pg_connection(session)
                    assert first is pg_connection(session)
                    assert first is session.connection().connection.driver_connection
                with engine.connect() as holder:  # takes the connection the first transaction gave back
                    assert holder.connection.driver_connection is first
                    with session.begin():
                        second = pg_connection(session)
                        assert second is not None and second is not first
                        assert second is session.connection().connection.driver_connection
                        assert second is not None
                        pid = second.execute("SELECT pg_backend_pid()").fetchone()
                        assert pid == session.execute(text("SELECT pg_backend_pid()")).one()
        finally:
            engine.dispose()

    def test_a_statement_in_a_savepoint_is_undone_with_it(self, session: Session) -> None:
        """The session emits a savepoint's SAVEPOINT when first asked for its connection: looking the
        connection up once per transaction only would send the statement outside the savepoint."""
        assert pg_connection(session) is not None

        def divide_in_a_savepoint() -> None:
            with session.begin_nested():
                driver = pg_connection(session)
                assert driver is not None
                driver.execute("SELECT 1 / 0")

        with pytest.raises(psycopg.errors.DivisionByZero):
            divide_in_a_savepoint()
        assert session.execute(text("SELECT 1")).scalar_one() == 1  # the transaction goes on
