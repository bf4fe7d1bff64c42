"""``creditbank audit database`` on a log whose first checkpoint is the empty tree.

A served process's publisher starts on an empty log and signs a checkpoint of size 0 (the empty
tree's root); the audit checks it like any other checkpoint instead of calling it a difference.
"""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from creditbank.audit.database import audit_database, snapshot
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction
from creditbank.ledger import service
from creditbank.migrate import upgrade
from creditbank.transparency import store
from creditbank.transparency.publisher import ensure_default_log
from tests.ledger.factories import recognition
from tests.support.postgres import PostgresServer


@pytest.fixture
def started_empty(pg_server: PostgresServer, tmp_path: Path) -> Iterator[AppContext]:
    """A log checkpointed at size 0, then grown by three entries and checkpointed again."""
    url = pg_server.create_database("audit_empty_checkpoint")
    engine = create_engine(url, pool_size=2)
    upgrade(engine)
    ctx = build_context(
        Settings(
            var_dir=tmp_path, database_url=url, base_url="http://testserver", background_publisher=False
        ),
        engine=engine,
    )
    ensure_default_log(ctx)
    for session in transaction(ctx.sessions):
        first = store.publish_checkpoint(session, ctx.secrets.master_key, store.DEFAULT_LOG)
        assert first is not None and first.size == 0
    for session in transaction(ctx.sessions):
        service.record_recognitions(session, [recognition() for _ in range(3)])
    for session in transaction(ctx.sessions):
        store.publish_checkpoint(session, ctx.secrets.master_key, store.DEFAULT_LOG)
    yield ctx
    engine.dispose()


def test_a_checkpoint_of_the_empty_tree_is_no_difference(started_empty: AppContext) -> None:
    with snapshot(started_empty.engine) as driver:
        report = audit_database(driver)
    assert report.differences == []


def test_a_forged_empty_tree_checkpoint_is_named(started_empty: AppContext) -> None:
    url = started_empty.settings.effective_database_url
    with psycopg.connect(url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE tlog_checkpoints SET root = %s WHERE log_id = 'main' AND size = 0", (b"\x01" * 32,)
        )
        report = audit_database(conn)
        conn.rollback()
    assert {(d.table, d.row_id) for d in report.differences} == {("tlog_checkpoints", "main/0")}
