"""The database helpers that the hot paths use directly: WriteBehind."""

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from creditbank.db import WriteBehind, utcnow
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
