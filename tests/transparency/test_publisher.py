"""The checkpoint publisher: one signer across processes (a PostgreSQL advisory lock held on the
publisher's own connection), and no signature over entries that a failover could lose."""

import gc
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, durable_on_sync_standby, transaction
from creditbank.ledger import service
from creditbank.migrate import upgrade
from creditbank.transparency import store
from creditbank.transparency.publisher import (
    PUBLISHER_LOCK,
    CheckpointPublisher,
    ensure_default_log,
    publish_all,
)
from tests.ledger.factories import recognition
from tests.support.postgres import PostgresServer


def _context(url: str, var_dir: Path, **settings: object) -> AppContext:
    return build_context(
        Settings(
            var_dir=var_dir,
            database_url=url,
            base_url="http://testserver",
            background_publisher=False,
            **settings,  # type: ignore[arg-type]
        ),
        engine=create_engine(url, pool_size=4),
    )


@pytest.fixture
def committed(pg_server: PostgresServer, tmp_path: Path) -> Iterator[AppContext]:
    """A database of its own, written by committed transactions (publishers see other connections)."""
    url = pg_server.create_database("tlog_publisher")
    ctx = _context(url, tmp_path)
    upgrade(ctx.engine)
    ensure_default_log(ctx)
    yield ctx
    ctx.engine.dispose()


def _grow(ctx: AppContext, count: int) -> None:
    for session in transaction(ctx.sessions):
        service.record_recognitions(session, [recognition() for _ in range(count)])


def _latest_size(ctx: AppContext) -> int:
    for session in transaction(ctx.sessions):
        latest = store.latest_checkpoint(session, store.DEFAULT_LOG)
    return 0 if latest is None else latest.size


def _lock_holder(ctx: AppContext) -> int | None:
    """The server process id holding the publisher's session-level advisory lock."""
    with ctx.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": PUBLISHER_LOCK},
        ).scalar()
    return None if found is None else int(found)


class TestOneSigner:
    def test_only_the_lock_holder_signs(self, committed: AppContext) -> None:
        first, second = (CheckpointPublisher(committed, 1, 300) for _ in range(2))
        try:
            _grow(committed, 3)
            assert [cp.size for cp in first.run_once()] == [3]
            assert first.holds_lock
            _grow(committed, 2)
            # the log grew, but the second publisher is not the signer: it signs nothing
            assert second.run_once() == []
            assert not second.holds_lock
            assert _latest_size(committed) == 3
            assert [cp.size for cp in first.run_once()] == [5]
        finally:
            first.stop()
            second.stop()

    def test_the_lock_passes_on_when_the_signer_connection_dies(self, committed: AppContext) -> None:
        first, second = (CheckpointPublisher(committed, 1, 300) for _ in range(2))
        try:
            _grow(committed, 1)
            assert [cp.size for cp in first.run_once()] == [1]
            holder = _lock_holder(committed)
            assert holder is not None
            # what a failover does to every connection to the old primary
            with committed.engine.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder}).scalar()
            _grow(committed, 4)
            assert [cp.size for cp in second.run_once()] == [5]
            assert second.holds_lock
            # the old signer's round fails on its dead connection, and then it no longer signs
            assert first.run_once() == []
            assert not first.holds_lock
            _grow(committed, 1)
            assert first.run_once() == []
            assert _latest_size(committed) == 5
            assert [cp.size for cp in second.run_once()] == [6]
        finally:
            first.stop()
            second.stop()

    def test_stopping_the_signer_frees_the_lock(self, committed: AppContext) -> None:
        first, second = (CheckpointPublisher(committed, 1, 300) for _ in range(2))
        try:
            _grow(committed, 2)
            assert [cp.size for cp in first.run_once()] == [2]
            first.stop()
            _grow(committed, 1)
            assert [cp.size for cp in second.run_once()] == [3]
        finally:
            second.stop()


class TestDurableOnly:
    """Without a synchronous standby holding the entries, nothing is signed (when required)."""

    def test_the_check_fails_closed_on_a_server_without_standby(self, committed: AppContext) -> None:
        for session in transaction(committed.sessions):
            assert durable_on_sync_standby(session, timeout=0.2) is False

    def test_no_checkpoint_over_entries_only_the_primary_holds(
        self, committed: AppContext, tmp_path: Path
    ) -> None:
        url = committed.engine.url.render_as_string(hide_password=False)
        cautious = _context(url, tmp_path, checkpoint_requires_sync_standby=True)
        try:
            _grow(committed, 4)
            assert publish_all(cautious) == []
            assert _latest_size(committed) == 0
            # the same round where a single server is all there is signs at once
            assert [cp.size for cp in publish_all(committed)] == [4]
        finally:
            cautious.engine.dispose()

    def test_the_setting_is_off_by_default(self) -> None:
        assert Settings().checkpoint_requires_sync_standby is False


def test_rounds_keep_no_memory_per_round(committed: AppContext) -> None:
    """A round every checkpoint interval (0.5 s in the served tests and the soak) for the life of the
    process: it must not leave anything behind. A session factory per round did (each sessionmaker
    makes a Session subclass, with SQLAlchemy's event registry for it, freed only by a full garbage
    collection); one factory per connection keeps the classes at one however many rounds run."""
    from sqlmodel import Session

    publisher = CheckpointPublisher(committed, 1, 300)
    gc.disable()  # what a served process's rare full collections leave alive, kept alive here
    try:
        _grow(committed, 1)
        publisher.run_once()
        before = len(Session.__subclasses__())
        for i in range(40):
            _grow(committed, 1)
            assert [cp.size for cp in publisher.run_once()] == [2 + i]
        assert len(Session.__subclasses__()) - before <= 1
    finally:
        gc.enable()
        publisher.stop()


def _ensure(ctx: AppContext, failures: list[BaseException]) -> None:
    try:
        ensure_default_log(ctx)
    except BaseException as exc:  # reported to the test's thread
        failures.append(exc)


def test_a_second_process_starting_on_a_new_database_finds_the_first_ones_log(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """Two instances start at once on a new database (the failover rehearsal does): the one that
    loses the race to create the default log must find the winner's, not stop on the unique key."""
    url = pg_server.create_database("tlog_first_start")
    first, second = _context(url, tmp_path), _context(url, tmp_path)
    upgrade(first.engine)
    failures: list[BaseException] = []
    with first.sessions() as session:
        created = store.ensure_log(session, first.secrets.master_key, store.DEFAULT_LOG, "first/logs/main")
        key = bytes(created.public_key)
        racer = threading.Thread(target=_ensure, args=(second, failures))
        racer.start()
        # the second's INSERT waits on the first's uncommitted key: then the first commits
        deadline = time.monotonic() + 120  # a loaded machine starts the second context slowly
        with first.engine.connect() as watch:
            while time.monotonic() < deadline and racer.is_alive():
                waiting = watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'tlog_first_start'"
                        " AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
                if waiting:
                    break
                # PostgreSQL takes one snapshot of pg_stat_activity per transaction: end it, so that
                # the next poll sees a backend that connected after this one
                watch.rollback()
                time.sleep(0.05)
            seen = watch.execute(
                text(
                    "SELECT wait_event_type, wait_event, state, left(query, 80) FROM pg_stat_activity"
                    " WHERE datname = 'tlog_first_start' AND pid <> pg_backend_pid()"
                )
            ).all()
        assert waiting == 1, f"the second process never reached the insert: {failures!r} {seen!r}"
        session.commit()
    racer.join(timeout=30)
    assert not racer.is_alive()
    assert failures == []
    for session in transaction(second.sessions):
        [log] = store.list_logs(session)
        assert bytes(log.public_key) == key and log.origin == "first/logs/main"
    first.engine.dispose()
    second.engine.dispose()


def test_a_publisher_started_while_the_database_was_down_makes_sure_of_the_log_first(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """A worker started during an outage could not create the default log at its start
    (``start_publisher``); its publisher's first round that reaches the database does."""
    url = pg_server.create_database("tlog_ensure_later")
    ctx = _context(url, tmp_path)
    upgrade(ctx.engine)
    publisher = CheckpointPublisher(ctx, 1, 300, ensure_log=True)
    try:
        for session in transaction(ctx.sessions):
            assert store.list_logs(session) == []
        publisher.run_once()
        assert publisher.ensure_log is False
        for session in transaction(ctx.sessions):
            assert [log.id for log in store.list_logs(session)] == [store.DEFAULT_LOG]
    finally:
        publisher.stop()
        ctx.engine.dispose()
