"""``creditbank audit database``: each served table, tampered behind the service's back, is named.

A committed PostgreSQL database holds the demo world (outcomes of every kind, reviews, corrections, a
revocation, a converted transfer) and a signed checkpoint. Each tamper test edits one derived table as
the database superuser with the triggers and foreign keys switched off
(``SET LOCAL session_replication_role = replica``), runs the audit on that same connection inside the
uncommitted transaction, and rolls back: the audit must name the table and the row. A clean database
passes, through the command line too, and so does the demo world on SQLite.

On PostgreSQL the audit recomputes the tables in the server (``creditbank.audit.database_sql``); every
audit here also runs the Python audit (``engine="python"``, the one SQLite uses) on the same snapshot,
and both must name the same rows with the same messages.
"""

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from typer.testing import CliRunner

from creditbank.audit.database import (
    DatabaseReport,
    Db,
    audit_database,
    candidates,
    fast_candidates,
    helper_connection,
    read_on_two,
    snapshot,
)
from creditbank.audit.database_sql import SPLIT
from creditbank.cli import app as cli
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction
from creditbank.demo import load_demo, load_exchange
from creditbank.migrate import upgrade
from creditbank.standards.tlog.merkle import Frontier, leaf_hash
from creditbank.transparency import store
from creditbank.transparency.publisher import ensure_default_log
from tests.support.postgres import PostgresServer


@dataclass
class DemoDatabase:
    url: str
    """The service's URL (what ``audit database --url`` is given)."""
    superuser_url: str


def _load_world(ctx: AppContext) -> None:
    ensure_default_log(ctx)
    for session in transaction(ctx.sessions):
        load_demo(session, ctx)
    for session in transaction(ctx.sessions):
        load_exchange(session, ctx)
    for session in transaction(ctx.sessions):
        store.publish_checkpoint(session, ctx.secrets.master_key, store.DEFAULT_LOG)


@pytest.fixture(scope="module")
def demo_db(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> DemoDatabase:
    url = pg_server.migrate("audit_database")  # the world is loaded by the service's role
    engine = create_engine(url, pool_size=2)
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("audit_database"),
        database_url=url,
        base_url="http://testserver",
        background_publisher=False,
    )
    _load_world(build_context(settings, engine=engine))
    engine.dispose()
    return DemoDatabase(url=url, superuser_url=pg_server.url("audit_database"))


def _named(report: DatabaseReport) -> set[tuple[str, str]]:
    return {(d.table, d.row_id) for d in report.differences}


def _audit(conn: psycopg.Connection[Any]) -> DatabaseReport:
    """``audit database`` as the command runs it, checked against the Python audit of the same state,
    and the two statements the command runs on two connections against the one statement."""
    by_server = audit_database(conn)
    by_python = audit_database(conn, engine="python")
    assert by_server.engine == "postgresql" and by_python.engine == "python"
    assert sorted(map(str, by_server.differences)) == sorted(map(str, by_python.differences))
    whole = candidates(Db(conn))
    halves = [candidates(Db(conn), checks) for checks in SPLIT]
    if whole is None:
        assert None in halves
    else:
        assert sorted(map(repr, whole)) == sorted(repr(row) for half in halves for row in half or [])
    # the statements that parse each leaf once: when their per-entry half finds nothing, their state
    # half finds what these find; otherwise these run (so they must find something too)
    fast = fast_candidates(Db(conn))
    assert (fast is None) == (whole is None)
    if fast is not None and whole is not None:
        per_entry, state = fast
        if per_entry:
            assert any(what in ("entry", "lot") for what, _, _ in whole)
        else:
            assert sorted(map(repr, state)) == sorted(map(repr, whole))
    return by_server


def _one(conn: psycopg.Connection[Any], sql: str) -> Any:
    row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return row[0]


@pytest.fixture
def superuser(demo_db: DemoDatabase) -> Iterator[psycopg.Connection[Any]]:
    """The superuser inside a transaction that is rolled back, triggers and foreign keys off."""
    with psycopg.connect(demo_db.superuser_url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        try:
            yield conn
        finally:
            conn.rollback()


class TestCleanDatabase:
    def test_the_demo_world_agrees_with_its_journal(self, superuser: psycopg.Connection[Any]) -> None:
        report = _audit(superuser)
        assert report.rows == audit_database(superuser, engine="python").rows
        assert report.ok, [str(d) for d in report.differences]
        # it compared something of every kind
        for table in (
            "ledger_transactions",
            "ledger_postings",
            "ledger_lots",
            "ledger_accounts",
            "ledger_lot_locks",
            "recognitions",
            "conversions",
            "tlog_nodes",
        ):
            assert report.rows.get(table, 0) > 0, table

    def test_the_command_exits_zero(self, demo_db: DemoDatabase) -> None:
        result = CliRunner().invoke(cli, ["audit", "database", "--url", demo_db.url])
        assert result.exit_code == 0, result.output
        assert "every served table agrees with the journal" in result.output

    def test_the_demo_world_on_sqlite(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'demo.db'}"
        settings = Settings(var_dir=tmp_path, database_url=url, base_url="http://testserver")
        ctx = build_context(settings)
        upgrade(ctx.engine)
        _load_world(ctx)
        with snapshot(ctx.engine) as driver:
            report = audit_database(driver)
        assert report.ok, [str(d) for d in report.differences]
        assert report.rows["recognitions"] > 0 and report.rows["conversions"] > 0
        ctx.engine.dispose()
        # tampered (the append-only trigger dropped inside the transaction), then rolled back
        conn = sqlite3.connect(tmp_path / "demo.db", isolation_level=None)
        conn.execute("BEGIN")
        conn.execute("DROP TRIGGER ledger_lots_no_update")
        lot = conn.execute("SELECT id FROM ledger_lots ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("UPDATE ledger_lots SET credits = '50.00' WHERE id = ?", (lot,))
        report = audit_database(conn)
        conn.execute("ROLLBACK")
        conn.close()
        assert ("ledger_lots", lot) in _named(report)
        assert any("credits" in d.message for d in report.differences)


class TestEachTamperedTableIsNamed:
    def test_lot_credits_raised(self, superuser: psycopg.Connection[Any]) -> None:
        """The issue's attack: UPDATE ledger_lots SET credits = 50 (certificates are issued from lots)."""
        lot = _one(superuser, "SELECT id FROM ledger_lots ORDER BY id LIMIT 1")
        superuser.execute("UPDATE ledger_lots SET credits = 50 WHERE id = %s", (lot,))
        report = _audit(superuser)
        assert not report.ok
        assert _named(report) == {("ledger_lots", lot)}
        [difference] = report.differences
        assert "credits" in difference.message and "50" in difference.message

    def test_lot_deleted(self, superuser: psycopg.Connection[Any]) -> None:
        lot = _one(superuser, "SELECT id FROM ledger_lots ORDER BY id DESC LIMIT 1")
        superuser.execute("DELETE FROM ledger_lots WHERE id = %s", (lot,))
        assert ("ledger_lots", lot) in _named(_audit(superuser))

    def test_account_balance(self, superuser: psycopg.Connection[Any]) -> None:
        account = _one(
            superuser, "SELECT id FROM ledger_accounts WHERE kind = 'learner_available' ORDER BY id LIMIT 1"
        )
        superuser.execute("UPDATE ledger_accounts SET balance = balance + 50 WHERE id = %s", (account,))
        assert _named(_audit(superuser)) == {("ledger_accounts", account)}

    def test_account_kind(self, superuser: psycopg.Connection[Any]) -> None:
        """A learner account relabelled as an issuer's would escape the not-negative check."""
        account = _one(
            superuser, "SELECT id FROM ledger_accounts WHERE kind = 'learner_available' ORDER BY id LIMIT 1"
        )
        superuser.execute("UPDATE ledger_accounts SET kind = 'issuer' WHERE id = %s", (account,))
        assert _named(_audit(superuser)) == {("ledger_accounts", account)}

    def test_lot_lock_removed(self, superuser: psycopg.Connection[Any]) -> None:
        """A converted lot made free again could be converted a second time."""
        lot = _one(superuser, "SELECT lot_id FROM ledger_lot_locks ORDER BY lot_id LIMIT 1")
        superuser.execute("DELETE FROM ledger_lot_locks WHERE lot_id = %s", (lot,))
        assert _named(_audit(superuser)) == {("ledger_lot_locks", lot)}

    def test_lot_lock_added(self, superuser: psycopg.Connection[Any]) -> None:
        lot = _one(
            superuser,
            "SELECT id FROM ledger_lots WHERE id NOT IN (SELECT lot_id FROM ledger_lot_locks) "
            "ORDER BY id LIMIT 1",
        )
        tx = _one(superuser, "SELECT conversion_tx_id FROM ledger_lot_locks LIMIT 1")
        superuser.execute(
            "INSERT INTO ledger_lot_locks (lot_id, conversion_tx_id, programme_id, institution_id) "
            "VALUES (%s, %s, 'prog_x', 'ins_x')",
            (lot, tx),
        )
        assert _named(_audit(superuser)) == {("ledger_lot_locks", lot)}

    def test_rejected_outcome_made_recognised(self, superuser: psycopg.Connection[Any]) -> None:
        outcome = _one(superuser, "SELECT outcome_id FROM recognitions WHERE status = 'rejected' LIMIT 1")
        superuser.execute(
            "UPDATE recognitions SET status = 'recognised', credits = 9 WHERE outcome_id = %s", (outcome,)
        )
        assert _named(_audit(superuser)) == {("recognitions", outcome)}

    def test_recognised_credits_raised(self, superuser: psycopg.Connection[Any]) -> None:
        outcome = _one(
            superuser,
            "SELECT outcome_id FROM recognitions WHERE status = 'recognised' ORDER BY outcome_id LIMIT 1",
        )
        superuser.execute("UPDATE recognitions SET credits = credits + 1 WHERE outcome_id = %s", (outcome,))
        assert _named(_audit(superuser)) == {("recognitions", outcome)}

    def test_revoked_outcome_made_recognised_again(self, superuser: psycopg.Connection[Any]) -> None:
        outcome = _one(
            superuser, "SELECT outcome_id FROM recognitions WHERE status = 'revoked' AND lot_id IS NOT NULL"
        )
        superuser.execute("UPDATE recognitions SET status = 'recognised' WHERE outcome_id = %s", (outcome,))
        assert _named(_audit(superuser)) == {("recognitions", outcome)}

    def test_outcome_moved_to_another_learner(self, superuser: psycopg.Connection[Any]) -> None:
        outcome, other = superuser.execute(
            "SELECT r.outcome_id, (SELECT id FROM learners WHERE id <> o.learner_id LIMIT 1) "
            "FROM recognitions r JOIN outcomes o ON o.id = r.outcome_id WHERE r.status = 'recognised' LIMIT 1"
        ).fetchone() or (None, None)
        superuser.execute("UPDATE outcomes SET learner_id = %s WHERE id = %s", (other, outcome))
        assert _named(_audit(superuser)) == {("outcomes", outcome)}

    def test_conversion_credits_and_lots(self, superuser: psycopg.Connection[Any]) -> None:
        conversion = _one(superuser, "SELECT id FROM conversions LIMIT 1")
        superuser.execute("UPDATE conversions SET credits = credits + 20 WHERE id = %s", (conversion,))
        report = _audit(superuser)
        assert _named(report) == {("conversions", conversion)}
        superuser.execute(
            "UPDATE conversions SET lot_ids = '[\"lot_forged\"]'::json, credits = credits - 20 WHERE id = %s",
            (conversion,),
        )
        report = _audit(superuser)
        assert _named(report) == {("conversions", conversion)}
        assert "lot_ids" in report.differences[0].message

    def test_conversion_deleted(self, superuser: psycopg.Connection[Any]) -> None:
        conversion = _one(superuser, "SELECT id FROM conversions LIMIT 1")
        superuser.execute("DELETE FROM conversions WHERE id = %s", (conversion,))
        assert _named(_audit(superuser)) == {("conversions", conversion)}

    def test_posting_amount(self, superuser: psycopg.Connection[Any]) -> None:
        """The learner's balances by category are summed from ledger_postings."""
        tx, position = superuser.execute(
            "SELECT transaction_id, position FROM ledger_postings WHERE amount > 0 "
            "ORDER BY transaction_id LIMIT 1"
        ).fetchone() or (None, None)
        superuser.execute(
            "UPDATE ledger_postings SET amount = amount + 5 WHERE transaction_id = %s AND position = %s",
            (tx, position),
        )
        assert _named(_audit(superuser)) == {("ledger_postings", f"{tx}/{position}")}

    def test_entry_filed_under_another_learner(self, superuser: psycopg.Connection[Any]) -> None:
        tx = _one(
            superuser, "SELECT id FROM ledger_transactions WHERE kind = 'recognition' ORDER BY seq LIMIT 1"
        )
        superuser.execute("UPDATE ledger_transactions SET learner_id = 'lrn_other' WHERE id = %s", (tx,))
        assert _named(_audit(superuser)) == {("ledger_transactions", tx)}

    def test_tree_node(self, superuser: psycopg.Connection[Any]) -> None:
        """Inclusion proofs are built from tlog_nodes."""
        superuser.execute(
            "UPDATE tlog_nodes SET hash = sha256(hash) WHERE log_id = 'main' AND level = 1 AND idx = 0"
        )
        assert _named(_audit(superuser)) == {("tlog_nodes", "main/1/0")}

    def test_tree_node_deleted_and_one_added(self, superuser: psycopg.Connection[Any]) -> None:
        """Each level of the tree is compared whole first; a level that differs is read node by node."""
        superuser.execute("DELETE FROM tlog_nodes WHERE log_id = 'main' AND level = 0 AND idx = 3")
        superuser.execute(
            "INSERT INTO tlog_nodes (log_id, level, idx, hash) "
            "SELECT 'main', 1, max(idx) + 1, sha256('forged') FROM tlog_nodes "
            "WHERE log_id = 'main' AND level = 1"
        )
        extra = _one(superuser, "SELECT max(idx) FROM tlog_nodes WHERE log_id = 'main' AND level = 1")
        report = _audit(superuser)
        assert _named(report) == {("tlog_nodes", "main/0/3"), ("tlog_nodes", f"main/1/{extra}")}
        assert {d.message.split(" (")[0] for d in report.differences} == {
            "missing",
            "a tree node beyond the journal's entries",
        }

    def test_lot_no_leaf_creates(self, superuser: psycopg.Connection[Any]) -> None:
        """A forged lot row filed under a real recognition entry: no leaf creates it."""
        superuser.execute(
            "INSERT INTO ledger_lots (id, learner_id, issuer_id, outcome_id, credits, category, level, "
            "field, rule_id, rule_version, rule_set_hash, recognition_tx_id, expires_on, created_at) "
            "SELECT 'lot_forged', learner_id, issuer_id, NULL, 40, category, level, field, rule_id, "
            "rule_version, rule_set_hash, recognition_tx_id, expires_on, created_at "
            "FROM ledger_lots ORDER BY id LIMIT 1"
        )
        assert _named(_audit(superuser)) == {("ledger_lots", "lot_forged")}

    def test_lot_moved_to_another_entry(self, superuser: psycopg.Connection[Any]) -> None:
        lot = _one(superuser, "SELECT id FROM ledger_lots ORDER BY id LIMIT 1")
        other = _one(
            superuser,
            "SELECT t.id FROM ledger_transactions t WHERE t.kind = 'recognition' AND t.id <> "
            "(SELECT recognition_tx_id FROM ledger_lots ORDER BY id LIMIT 1) ORDER BY t.seq LIMIT 1",
        )
        superuser.execute("UPDATE ledger_lots SET recognition_tx_id = %s WHERE id = %s", (other, lot))
        report = _audit(superuser)
        assert ("ledger_lots", lot) in _named(report) and not report.ok

    def test_checkpoint_root(self, superuser: psycopg.Connection[Any]) -> None:
        size = _one(superuser, "SELECT max(size) FROM tlog_checkpoints WHERE log_id = 'main'")
        superuser.execute(
            "UPDATE tlog_checkpoints SET root = sha256(root) WHERE log_id = 'main' AND size = %s", (size,)
        )
        assert _named(_audit(superuser)) == {("tlog_checkpoints", f"main/{size}")}


class TestTheLeavesAreTheLog:
    """The server parses the leaves; the leaves it parses are the ones the signed checkpoints commit to."""

    def test_a_leaf_byte_changed(self, superuser: psycopg.Connection[Any]) -> None:
        """One digit of an entry's time: still JSON, same facts, but no longer the leaf in the tree."""
        tx, seq = superuser.execute(
            "SELECT id, seq FROM ledger_transactions WHERE log_id = 'main' ORDER BY seq LIMIT 1 OFFSET 2"
        ).fetchone() or (None, None)
        superuser.execute(
            "UPDATE ledger_transactions SET leaf = convert_to(regexp_replace(convert_from(leaf, 'UTF8'), "
            "'\"time\":\"([0-9])', '\"time\":\"9'), 'UTF8') WHERE id = %s",
            (tx,),
        )
        named = _named(_audit(superuser))
        assert ("tlog_nodes", f"main/0/{seq}") in named
        assert {table for table, _ in named} == {"tlog_nodes", "tlog_checkpoints"}

    def test_a_leaf_hash_changed(self, superuser: psycopg.Connection[Any]) -> None:
        superuser.execute(
            "UPDATE tlog_nodes SET hash = sha256(hash) WHERE log_id = 'main' AND level = 0 AND idx = 4"
        )
        assert _named(_audit(superuser)) == {("tlog_nodes", "main/0/4")}

    def test_a_leaf_that_is_not_json_is_named_by_the_python_audit(
        self, superuser: psycopg.Connection[Any]
    ) -> None:
        """The server cannot parse it: the audit falls back to reading every leaf in this process."""
        tx = _one(superuser, "SELECT id FROM ledger_transactions WHERE log_id = 'main' ORDER BY seq LIMIT 1")
        superuser.execute("UPDATE ledger_transactions SET leaf = '\\xff7b'::bytea WHERE id = %s", (tx,))
        report = audit_database(superuser)
        assert report.engine == "python"
        assert ("ledger_transactions", tx) in _named(report)
        assert any("not a JSON object" in d.message for d in report.differences)

    def test_a_forger_who_rewrites_leaf_tables_and_tree_is_stopped_by_the_signatures(
        self, superuser: psycopg.Connection[Any]
    ) -> None:
        """A recognition's credits raised everywhere the database holds them: its leaf, lot, postings,
        recognition and balances, the whole tree recomputed and the checkpoints' root columns with it.
        Only the signed notes cannot follow."""
        tx, lot, outcome, credits = superuser.execute(
            "SELECT t.id, l.id, l.outcome_id, l.credits FROM ledger_transactions t "
            "JOIN ledger_lots l ON l.recognition_tx_id = t.id WHERE t.log_id = 'main' "
            "AND l.outcome_id IS NOT NULL ORDER BY t.seq LIMIT 1"
        ).fetchone() or (None, None, None, Decimal(0))
        raised = credits + 40
        superuser.execute(
            "UPDATE ledger_transactions SET leaf = convert_to(replace(replace(convert_from(leaf, 'UTF8'), "
            "%s, %s), %s, %s), 'UTF8') WHERE id = %s",
            (f'"{credits}"', f'"{raised}"', f'"-{raised}"', f'"-{raised}"', tx),
        )
        superuser.execute(
            "UPDATE ledger_transactions SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'), %s, %s), "
            "'UTF8') WHERE id = %s",
            (f'"-{credits}"', f'"-{raised}"', tx),
        )
        for account_id, amount in superuser.execute(
            "SELECT account_id, amount FROM ledger_postings WHERE transaction_id = %s", (tx,)
        ).fetchall():
            change = 40 if amount > 0 else -40
            superuser.execute(
                "UPDATE ledger_postings SET amount = amount + %s "
                "WHERE transaction_id = %s AND account_id = %s",
                (change, tx, account_id),
            )
            superuser.execute(
                "UPDATE ledger_accounts SET balance = balance + %s WHERE id = %s", (change, account_id)
            )
        superuser.execute("UPDATE ledger_lots SET credits = %s WHERE id = %s", (raised, lot))
        superuser.execute("UPDATE recognitions SET credits = %s WHERE outcome_id = %s", (raised, outcome))
        # the tree and every checkpoint's root recomputed from the forged leaves
        frontier, nodes, roots = Frontier(), [], {}
        sizes = {
            row[0] for row in superuser.execute("SELECT size FROM tlog_checkpoints WHERE log_id = 'main'")
        }
        for (leaf,) in superuser.execute(
            "SELECT leaf FROM ledger_transactions WHERE log_id = 'main' ORDER BY seq"
        ).fetchall():
            nodes += frontier.append(leaf_hash(bytes(leaf)))
            if frontier.size in sizes:
                roots[frontier.size] = frontier.root()
        superuser.execute("DELETE FROM tlog_nodes WHERE log_id = 'main'")
        with superuser.cursor().copy("COPY tlog_nodes (log_id, level, idx, hash) FROM STDIN") as copy:
            for level, idx, value in nodes:
                copy.write_row(("main", level, idx, value))
        for size, root in roots.items():
            superuser.execute(
                "UPDATE tlog_checkpoints SET root = %s WHERE log_id = 'main' AND size = %s", (root, size)
            )
        report = _audit(superuser)
        forged = {
            size
            for size in roots
            if size > _one(superuser, f"SELECT seq FROM ledger_transactions WHERE id = '{tx}'")
        }
        assert forged
        assert _named(report) == {("tlog_checkpoints", f"main/{size}") for size in forged}
        assert all("signed note states another size or root" in d.message for d in report.differences)


def test_the_command_names_a_committed_tamper_and_exits_one(demo_db: DemoDatabase) -> None:
    with psycopg.connect(demo_db.superuser_url, autocommit=True) as conn:
        account, balance = conn.execute(
            "SELECT id, balance FROM ledger_accounts WHERE kind = 'learner_converted' ORDER BY id LIMIT 1"
        ).fetchone() or (None, None)
        conn.execute("UPDATE ledger_accounts SET balance = balance + 50 WHERE id = %s", (account,))
        try:
            result = CliRunner().invoke(cli, ["audit", "database", "--url", demo_db.url])
            as_json = CliRunner().invoke(cli, ["audit", "database", "--url", demo_db.url, "--json"])
        finally:
            conn.execute("UPDATE ledger_accounts SET balance = %s WHERE id = %s", (balance, account))
    assert result.exit_code == 1, result.output
    assert f"DIFF ledger_accounts {account}: balance is" in result.output
    assert "1 difference(s)" in result.output
    assert as_json.exit_code == 1
    assert f'"table": "ledger_accounts", "id": "{account}"' in as_json.output


def test_an_unreachable_database_exits_two() -> None:
    result = CliRunner().invoke(
        cli, ["audit", "database", "--url", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"]
    )
    assert result.exit_code == 2
    assert "the audit could not run" in result.output


class TestOnTwoConnections:
    """The command audits on two connections sharing one snapshot (``helper``): committed tampers on
    both halves are named as the Python audit names them, and both halves read the same snapshot."""

    TAMPERS = (  # (table, changed column, the change): on each half of SPLIT
        ("ledger_lots", "credits", "credits + 1"),
        ("ledger_postings", "amount", "amount * 2"),
        ("recognitions", "credits", "credits + 2"),
        ("ledger_accounts", "balance", "balance + 3"),
        ("ledger_lot_locks", "programme_id", "'prog_elsewhere'"),
    )

    def test_committed_tampers_of_both_halves(self, demo_db: DemoDatabase) -> None:
        engine = create_engine(demo_db.superuser_url, pool_size=2)
        restore: list[tuple[str, str, Any, Any]] = []
        with psycopg.connect(demo_db.superuser_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            try:
                for table, column, change in self.TAMPERS:
                    row = conn.execute(
                        f"SELECT ctid, {column} FROM {table} WHERE {column} IS NOT NULL LIMIT 1"
                    ).fetchone()
                    assert row is not None, table
                    changed = _one(
                        conn, f"UPDATE {table} SET {column} = {change} WHERE ctid = '{row[0]}' RETURNING ctid"
                    )
                    restore.append((table, column, changed, row[1]))
                with snapshot(engine) as driver, helper_connection(engine) as helper:
                    assert helper is not None
                    two = audit_database(driver, helper=helper)
                    by_python = audit_database(driver, engine="python")
            finally:
                for table, column, ctid, was in restore:
                    conn.execute(f"UPDATE {table} SET {column} = %s WHERE ctid = '{ctid}'", (was,))
                engine.dispose()
        assert two.engine == "postgresql"
        assert sorted(map(str, two.differences)) == sorted(map(str, by_python.differences))
        named = {d.table for d in two.differences}
        assert {
            "ledger_lots",
            "ledger_postings",
            "recognitions",
            "ledger_accounts",
            "ledger_lot_locks",
        } <= named

    def test_a_clean_database_is_proved_by_the_statements_that_parse_each_leaf_once(
        self, demo_db: DemoDatabase
    ) -> None:
        engine = create_engine(demo_db.superuser_url, pool_size=2)
        try:
            with snapshot(engine) as driver, helper_connection(engine) as helper:
                assert helper is not None
                read = read_on_two(Db(driver), helper, ["main"])
                report = audit_database(driver, helper=helper)
        finally:
            engine.dispose()
        assert read.fast and read.found is not None
        assert read.counts is not None and read.orphans == [[], [], []]
        assert report.ok and report.entries["main"] > 0

    # Tampers that keep a derived table consistent with the tampered table it is read from by the
    # statements that parse each leaf once: the balance with the changed posting, the recognition
    # with the changed lot. The per-entry statements see the posting or the lot differ from its leaf,
    # so the audit recomputes everything from the leaves and names both rows, as the Python audit does.
    CONSISTENT: ClassVar[dict[str, tuple[Any, ...]]] = {
        "a posting and its account's balance": (
            "SELECT transaction_id, position, account_id FROM ledger_postings ORDER BY 1, 2 LIMIT 1",
            (
                "UPDATE ledger_postings SET amount = amount + {d} "
                "WHERE transaction_id = %s AND position = %s",
                "UPDATE ledger_accounts SET balance = balance + {d} WHERE id = %s",
            ),
            lambda row: ((row[0], row[1]), (row[2],)),
            {"ledger_postings", "ledger_accounts"},
        ),
        "a lot and its recognition": (
            "SELECT l.id, r.outcome_id FROM ledger_lots l JOIN recognitions r ON r.lot_id = l.id "
            "WHERE r.status = 'recognised' ORDER BY 1 LIMIT 1",
            (
                "UPDATE ledger_lots SET credits = credits + {d} WHERE id = %s",
                "UPDATE recognitions SET credits = credits + {d} WHERE outcome_id = %s",
            ),
            lambda row: ((row[0],), (row[1],)),
            {"ledger_lots", "recognitions"},
        ),
    }

    @pytest.mark.parametrize("tamper", sorted(CONSISTENT))
    def test_consistent_tampers_of_a_table_and_what_is_recomputed_from_it(
        self, demo_db: DemoDatabase, tamper: str
    ) -> None:
        pick, changes, params_of, tables = self.CONSISTENT[tamper]
        engine = create_engine(demo_db.superuser_url, pool_size=2)
        with psycopg.connect(demo_db.superuser_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            row = conn.execute(pick).fetchone()
            assert row is not None, tamper
            params = params_of(row)

            def change(d: int) -> None:
                with conn.transaction():
                    for statement, values in zip(changes, params, strict=True):
                        assert conn.execute(statement.format(d=d), values).rowcount == 1

            change(1000)  # no amount is -1000: a posting of 0 would break a check constraint
            try:
                with snapshot(engine) as driver, helper_connection(engine) as helper:
                    assert helper is not None
                    read = read_on_two(Db(driver), helper, ["main"])
                    two = audit_database(driver, helper=helper)
                    by_python = audit_database(driver, engine="python")
            finally:
                change(-1000)
                engine.dispose()
        assert not read.fast and read.found
        assert any(what in ("entry", "lot") for what, _, _ in read.found)
        assert sorted(map(str, two.differences)) == sorted(map(str, by_python.differences))
        assert tables <= {d.table for d in two.differences}

    def test_the_second_connection_reads_the_first_ones_snapshot(self, demo_db: DemoDatabase) -> None:
        """A change committed after the audit's snapshot began is seen by neither connection: the
        second one (the accounts are on its half) does not name the account; outside the snapshot it
        does."""
        engine = create_engine(demo_db.superuser_url, pool_size=3)
        try:
            with snapshot(engine) as driver, helper_connection(engine) as helper:
                assert helper is not None
                driver.execute("SELECT 1")  # the snapshot is taken
                with psycopg.connect(demo_db.superuser_url, autocommit=True) as conn:
                    account = _one(conn, "SELECT id FROM ledger_accounts ORDER BY id LIMIT 1")
                    conn.execute("UPDATE ledger_accounts SET balance = balance + 7 WHERE id = %s", (account,))
                    try:
                        found = read_on_two(Db(driver), helper, ["main"]).found
                        with snapshot(engine) as fresh:
                            seen = candidates(Db(fresh), SPLIT[1])
                    finally:
                        conn.execute(
                            "UPDATE ledger_accounts SET balance = balance - 7 WHERE id = %s", (account,)
                        )
        finally:
            engine.dispose()
        assert found is not None and ("account", account) not in [(what, key) for what, key, _ in found]
        assert seen is not None and ("account", account) in [(what, key) for what, key, _ in seen]


CHINESE = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
ENGLISH = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}


def test_the_command_names_a_tamper_in_the_readers_language(demo_db: DemoDatabase) -> None:
    """A raised balance and a raised lot: each difference said in Chinese under zh_CN, in English
    otherwise; ``--json`` keeps the English text whatever the language."""
    args = ["audit", "database", "--url", demo_db.url]
    with psycopg.connect(demo_db.superuser_url, autocommit=True) as conn:
        account, balance = conn.execute(
            "SELECT id, balance FROM ledger_accounts WHERE kind = 'learner_converted' ORDER BY id LIMIT 1"
        ).fetchone() or (None, None)
        lot, credits = conn.execute("SELECT id, credits FROM ledger_lots ORDER BY id LIMIT 1").fetchone() or (
            None,
            None,
        )
        conn.execute("SET session_replication_role = replica")  # the lots' append-only trigger off
        conn.execute("UPDATE ledger_accounts SET balance = balance + 50 WHERE id = %s", (account,))
        conn.execute("UPDATE ledger_lots SET credits = 50 WHERE id = %s", (lot,))
        try:
            zh = CliRunner().invoke(cli, args, env=CHINESE)
            en = CliRunner().invoke(cli, args, env=ENGLISH)
            zh_json = CliRunner().invoke(cli, [*args, "--json"], env=CHINESE)
        finally:
            conn.execute("UPDATE ledger_accounts SET balance = %s WHERE id = %s", (balance, account))
            conn.execute("UPDATE ledger_lots SET credits = %s WHERE id = %s", (credits, lot))
    assert zh.exit_code == en.exit_code == zh_json.exit_code == 1, (zh.output, en.output)
    assert f"差异 ledger_accounts {account}：余额为 {balance + 50}，账簿中的分录合计为 {balance}" in zh.stderr
    assert f"差异 ledger_lots {lot}：credits 为 50" in zh.stderr and "账簿记为" in zh.stderr
    assert "（日志 " in zh.stderr and " 条）" in zh.stderr
    assert "the journal" not in zh.stderr and "balance is" not in zh.stderr and "leaves" not in zh.stderr
    assert (
        f"DIFF ledger_accounts {account}: balance is {balance + 50}, the journal's postings sum to {balance}"
        in (en.stderr)
    )
    assert (
        f"DIFF ledger_lots {lot}: credits is 50" in en.stderr
        and "the journal says" in en.stderr
        and "(log " in en.stderr
    )
    assert "账簿" not in en.stderr
    differences = json.loads(zh_json.stdout)["differences"]
    assert {
        "table": "ledger_accounts",
        "id": account,
        "message": f"balance is {balance + 50}, the journal's postings sum to {balance}",
    } in differences
    assert not any("账簿" in d["message"] for d in differences)
