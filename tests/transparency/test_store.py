"""The logs in the database: checkpoint publishing, several logs side by side, concurrent appends."""

import datetime as dt
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction
from creditbank.ledger import service
from creditbank.ledger.models import JournalTransaction
from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.note import open_checkpoint
from creditbank.transparency import store
from creditbank.transparency.models import MerkleNode, SignedCheckpoint, TransparencyLog
from creditbank.transparency.publisher import ensure_default_log, publish_all
from tests.ledger.factories import recognition
from tests.support.postgres import PostgresServer


def _new_log(ctx: AppContext, session: Session, log_id: str) -> str:
    store.ensure_log(session, ctx.secrets.master_key, log_id, store.origin_for("http://testserver", log_id))
    return log_id


def _append(session: Session, log_id: str, count: int) -> list[JournalTransaction]:
    pairs = service.record_recognitions(session, [recognition() for _ in range(count)], log_id=log_id)
    return [tx for tx, _ in pairs]


def _leaves(session: Session, log_id: str) -> list[bytes]:
    rows = session.exec(
        select(JournalTransaction.leaf)
        .where(col(JournalTransaction.log_id) == log_id)
        .order_by(col(JournalTransaction.seq))
    ).all()
    return [bytes(r) for r in rows]


def _tree_root(leaves: list[bytes]) -> bytes:
    store_ = merkle.MemoryNodeStore()
    store_.extend(leaves)
    return store_.root()


class TestPublishCheckpoint:
    def test_signs_the_root_of_the_leaves(self, ctx: AppContext, session: Session) -> None:
        log_id = _new_log(ctx, session, "pub_root")
        _append(session, log_id, 6)
        row = store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        assert row is not None and row.size == 6
        log = store.get_log(session, log_id)
        checkpoint = open_checkpoint(row.note.encode(), store.verifier(log))
        assert checkpoint.root_hash == row.root == _tree_root(_leaves(session, log_id))

    def test_not_resigned_when_the_log_did_not_grow(self, ctx: AppContext, session: Session) -> None:
        log_id = _new_log(ctx, session, "pub_same")
        _append(session, log_id, 2)
        first = store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        assert first is not None
        assert store.publish_checkpoint(session, ctx.secrets.master_key, log_id) is None
        assert store.publish_checkpoint(session, ctx.secrets.master_key, log_id, republish_after=3600) is None
        rows = session.exec(select(SignedCheckpoint).where(col(SignedCheckpoint.log_id) == log_id)).all()
        assert [(r.size, r.note) for r in rows] == [(2, first.note)]

    def test_republished_after_the_interval(self, ctx: AppContext, session: Session) -> None:
        log_id = _new_log(ctx, session, "pub_again")
        _append(session, log_id, 2)
        first = store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        assert first is not None
        an_hour_ago = first.created_at - dt.timedelta(hours=1)
        session.execute(
            update(SignedCheckpoint)
            .where(col(SignedCheckpoint.log_id) == log_id)
            .values(created_at=an_hour_ago)
        )
        # within the interval: left alone
        store.publish_checkpoint(session, ctx.secrets.master_key, log_id, republish_after=7200)
        latest = store.latest_checkpoint(session, log_id)
        assert latest is not None and latest.created_at == an_hour_ago
        # past it: published again (same size and note, fresh time)
        store.publish_checkpoint(session, ctx.secrets.master_key, log_id, republish_after=1800)
        session.expire_all()
        latest = store.latest_checkpoint(session, log_id)
        assert latest is not None and latest.created_at > an_hour_ago
        assert (latest.size, latest.note) == (first.size, first.note)

    def test_refuses_a_checkpoint_inconsistent_with_the_last(self, superuser_ctx: AppContext) -> None:
        ctx = superuser_ctx
        with ctx.sessions() as session:
            self._refuses_a_checkpoint_inconsistent_with_the_last(ctx, session)

    @staticmethod
    def _refuses_a_checkpoint_inconsistent_with_the_last(ctx: AppContext, session: Session) -> None:
        log_id = _new_log(ctx, session, "pub_fork")
        _append(session, log_id, 3)
        assert store.publish_checkpoint(session, ctx.secrets.master_key, log_id) is not None
        _append(session, log_id, 2)
        # rewrite history in the node store: the subtree over leaves 0-1 (in the 3 -> 5 proof) changes;
        # the append-only trigger refuses it, so the test plays a superuser switching triggers off
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(
            update(MerkleNode)
            .where(col(MerkleNode.log_id) == log_id, col(MerkleNode.level) == 1, col(MerkleNode.idx) == 0)
            .values(hash=os.urandom(32))
        )
        session.execute(text("SET LOCAL session_replication_role = DEFAULT"))
        with pytest.raises(store.InconsistentCheckpoint):
            store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        latest = store.latest_checkpoint(session, log_id)
        assert latest is not None and latest.size == 3

    def test_refuses_when_the_frontier_does_not_match_the_nodes(
        self, ctx: AppContext, session: Session
    ) -> None:
        log_id = _new_log(ctx, session, "pub_frontier")
        _append(session, log_id, 3)
        assert store.publish_checkpoint(session, ctx.secrets.master_key, log_id) is not None
        _append(session, log_id, 2)
        # the frontier of a 5-leaf tree is two hashes; change the second (the leaf at index 4)
        log = store.get_log(session, log_id)
        forged = bytes(log.frontier)[:32] + os.urandom(32)
        session.execute(
            update(TransparencyLog).where(col(TransparencyLog.id) == log_id).values(frontier=forged)
        )
        session.expire_all()
        with pytest.raises(store.InconsistentCheckpoint, match="frontier"):
            store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        latest = store.latest_checkpoint(session, log_id)
        assert latest is not None and latest.size == 3

    def test_publish_all_covers_every_grown_log(self, ctx: AppContext, session: Session) -> None:
        _append(session, _new_log(ctx, session, "pub_all_a"), 1)
        _new_log(ctx, session, "pub_all_b")
        published = {row.log_id: row.size for row in publish_all(ctx)}
        assert published.get("pub_all_a") == 1
        assert published.get("pub_all_b") == 0  # an empty log gets its first (empty) checkpoint
        assert {r.log_id for r in publish_all(ctx)}.isdisjoint({"pub_all_a", "pub_all_b"})


class TestProofsFromTheStore:
    def test_inclusion_and_consistency_read_stored_nodes(self, ctx: AppContext, session: Session) -> None:
        log_id = _new_log(ctx, session, "proofs")
        _append(session, log_id, 5)
        store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        _append(session, log_id, 6)
        cp = store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        assert cp is not None
        leaves = _leaves(session, log_id)
        for index in range(11):
            leaf_hash, proof, used = store.inclusion(session, log_id, index, None)
            assert used.size == 11 and leaf_hash == merkle.leaf_hash(leaves[index])
            merkle.verify_inclusion(leaf_hash, index, 11, proof, cp.root)
        size, proof, used = store.consistency(session, log_id, 5, 11)
        merkle.verify_consistency(5, size, proof, _tree_root(leaves[:5]), used.root)
        assert store.leaf_hashes(session, log_id, 3, 6) == {i: merkle.leaf_hash(leaves[i]) for i in (3, 4, 5)}

    def test_a_proof_looks_up_its_nodes_by_key_however_stale_the_statistics(
        self, ctx: AppContext, session: Session
    ) -> None:
        """A log grown since the table was last analysed: the lookup of a proof's nodes must not read
        every node of the log (as a hash join over them did, planned for a table thought tiny)."""
        log_id = _new_log(ctx, session, "planned")
        _append(session, log_id, 300)
        store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        ids = [(0, 7), (1, 2), (2, 0), (3, 1), (4, 1), (5, 1)]
        plan = (
            session.connection()
            .exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + store._PG_NODES,
                ([lv for lv, _ in ids], [ix for _, ix in ids], log_id),
            )
            .scalar_one()
        )

        def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
            return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

        scans = [n for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "tlog_nodes"]
        assert scans and all(n["Node Type"] == "Index Scan" for n in scans), scans
        assert sum(n["Actual Rows"] * n["Actual Loops"] for n in scans) == len(ids)

    def test_refusals(self, ctx: AppContext, session: Session) -> None:
        log_id = _new_log(ctx, session, "proof_refusals")
        with pytest.raises(store.NoCheckpoint):
            store.inclusion(session, log_id, 0, None)
        _append(session, log_id, 3)
        store.publish_checkpoint(session, ctx.secrets.master_key, log_id)
        with pytest.raises(store.NoCheckpoint):
            store.inclusion(session, log_id, 0, 2)
        with pytest.raises(store.BadProofRequest):
            store.inclusion(session, log_id, 3, 3)
        with pytest.raises(store.BadProofRequest):
            store.consistency(session, log_id, 4, 3)
        with pytest.raises(store.BadProofRequest):
            store.consistency(session, log_id, 0, None)
        with pytest.raises(store.LogNotFound):
            store.consistency(session, "absent", 1, None)


class TestSecondLog:
    def test_logs_are_independent(self, ctx: AppContext, session: Session) -> None:
        main_before = store.get_log(session, "main").size
        second = _new_log(ctx, session, "second")
        assert store.ensure_log(session, ctx.secrets.master_key, second, "ignored").origin.endswith("/second")
        txs = _append(session, second, 4)
        assert [tx.seq for tx in txs] == [0, 1, 2, 3]
        assert store.get_log(session, "main").size == main_before
        main_txs = _append(session, "main", 2)
        assert [tx.seq for tx in main_txs] == [main_before, main_before + 1]
        assert store.get_log(session, second).size == 4
        second_cp = store.publish_checkpoint(session, ctx.secrets.master_key, second)
        main_cp = store.publish_checkpoint(session, ctx.secrets.master_key, "main")
        assert second_cp is not None and main_cp is not None
        second_log, main_log = store.get_log(session, second), store.get_log(session, "main")
        assert second_log.public_key != main_log.public_key
        open_checkpoint(second_cp.note.encode(), store.verifier(second_log))
        with pytest.raises(Exception, match="no signature from a known key"):
            open_checkpoint(second_cp.note.encode(), store.verifier(main_log))
        assert second_cp.root == _tree_root(_leaves(session, second))


# --- concurrency on a committed database ---------------------------------------------------------------


@pytest.fixture(scope="module")
def committed(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    url = pg_server.migrate("tlog_concurrent")
    engine = create_engine(url, pool_size=8)
    var_dir: Path = tmp_path_factory.mktemp("tlog_concurrent")
    ctx = build_context(
        Settings(var_dir=var_dir, database_url=url, base_url="http://testserver", background_publisher=False),
        engine=engine,
    )
    ensure_default_log(ctx)
    for session in transaction(ctx.sessions):
        _new_log(ctx, session, "second")
    yield ctx
    engine.dispose()


class TestConcurrentAppends:
    WRITERS_PER_LOG = 3
    BATCHES = 12

    def test_two_logs_from_threads_stay_gapless(self, committed: AppContext) -> None:
        errors: list[BaseException] = []
        start = threading.Barrier(2 * self.WRITERS_PER_LOG)

        def writer(log_id: str, worker: int) -> None:
            try:
                start.wait()
                for batch in range(self.BATCHES):
                    for session in transaction(committed.sessions):
                        # the same issuer account for everyone: writers contend on it across logs
                        service.record_recognitions(
                            session,
                            [recognition(issuer_id="ins_shared") for _ in range(1 + (worker + batch) % 3)],
                            log_id=log_id,
                        )
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=writer, args=(log_id, worker))
            for log_id in ("main", "second")
            for worker in range(self.WRITERS_PER_LOG)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        expected = sum(1 + (w + b) % 3 for w in range(self.WRITERS_PER_LOG) for b in range(self.BATCHES))
        publish_all(committed)
        for session in transaction(committed.sessions):
            for log_id in ("main", "second"):
                seqs = session.exec(
                    select(JournalTransaction.seq)
                    .where(col(JournalTransaction.log_id) == log_id)
                    .order_by(col(JournalTransaction.seq))
                ).all()
                assert list(seqs) == list(range(expected))
                log = store.get_log(session, log_id)
                leaves = _leaves(session, log_id)
                assert log.size == expected
                assert [f'"seq":{i},' in leaf.decode() for i, leaf in enumerate(leaves)] == [True] * expected
                cp = store.latest_checkpoint(session, log_id)
                assert cp is not None and cp.size == expected
                assert (
                    cp.root == _tree_root(leaves) == merkle.Frontier.from_bytes(log.size, log.frontier).root()
                )
                nodes = session.exec(
                    select(MerkleNode.idx, MerkleNode.hash).where(
                        col(MerkleNode.log_id) == log_id, col(MerkleNode.level) == 0
                    )
                ).all()
                assert {int(i): bytes(h) for i, h in nodes} == {
                    i: hashlib.sha256(b"\x00" + leaf).digest() for i, leaf in enumerate(leaves)
                }
            balance = service.account_balance(session, service.issuer_account("ins_shared"))
            assert balance == -2 * expected * service.credits("2.5")
