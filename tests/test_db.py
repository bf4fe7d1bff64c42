"""The database helpers that the hot paths use directly: WriteBehind."""

import sys
import threading
import time

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from creditbank.db import (
    WRITE_BEHIND_SWITCH_INTERVAL,
    WriteBehind,
    allow_write_behind,
    create_engine,
    utcnow,
)
from creditbank.ledger.models import IdempotencyRecord


def _row(key: str) -> dict[str, object]:
    return {"scope": "test:write-behind", "key": key, "request_hash": "0" * 64, "created_at": utcnow()}


def _keys(session: Session) -> list[str]:
    return list(
        session.execute(
            text("SELECT key FROM idempotency_keys WHERE scope = 'test:write-behind' ORDER BY key")
        ).scalars()
    )


class TestWriteBehind:
    def test_writes_run_in_order_on_another_thread(self, session: Session) -> None:
        seen: list[tuple[str, bool]] = []
        with WriteBehind(session) as writes:
            writes.insert(IdempotencyRecord, [_row(f"a{i:03}") for i in range(40)])  # COPY
            writes.call(lambda: seen.append(("call", threading.current_thread() is threading.main_thread())))
            writes.insert(IdempotencyRecord, [_row("b")])
        assert seen == [("call", False)]
        assert _keys(session) == [*(f"a{i:03}" for i in range(40)), "b"]

    def test_without_thread_each_write_runs_at_once(self, session: Session) -> None:
        with WriteBehind(session, thread=False) as writes:
            writes.insert(IdempotencyRecord, [_row("c")])
            assert _keys(session) == ["c"]

    def test_not_allowed_in_this_process_each_write_runs_at_once(self, session: Session) -> None:
        allow_write_behind(False)
        try:
            with WriteBehind(session) as writes:
                writes.call(lambda: None)
                writes.insert(IdempotencyRecord, [_row("e")])
                assert _keys(session) == ["e"]
        finally:
            allow_write_behind(True)

    def test_first_error_is_raised_and_later_writes_skipped(self, session: Session) -> None:
        ran: list[str] = []

        def duplicate_then_call() -> None:
            with session.begin_nested(), WriteBehind(session) as writes:
                writes.insert(IdempotencyRecord, [_row("d"), _row("d")])  # a duplicate key
                writes.call(lambda: ran.append("after"))

        with pytest.raises(IntegrityError):
            duplicate_then_call()
        assert ran == []
        assert _keys(session) == []

    def test_an_error_in_the_caller_waits_for_the_thread(self, session: Session) -> None:
        finished = threading.Event()

        def slow_job() -> None:
            time.sleep(0.2)  # still running when the caller fails
            finished.set()

        def fail_while_writing() -> None:
            with session.begin_nested(), WriteBehind(session) as writes:
                writes.call(slow_job)
                raise RuntimeError("caller")

        with pytest.raises(RuntimeError, match="caller"):
            fail_while_writing()
        assert finished.is_set()


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


def test_threads_switch_quickly_only_while_a_writer_runs(session: Session) -> None:
    default = sys.getswitchinterval()
    intervals: list[float] = []
    with WriteBehind(session) as outer:
        with WriteBehind(session, thread=False):  # no thread: no change
            pass
        outer.call(lambda: intervals.append(sys.getswitchinterval()))
    assert intervals == [WRITE_BEHIND_SWITCH_INTERVAL]
    assert sys.getswitchinterval() == default
