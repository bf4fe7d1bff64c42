"""The tamper test: someone with superuser access edits the journal behind the service's back.

A committed database (not the rolled-back test transaction) holds a small ledger and a signed checkpoint.
Each test edits it with the triggers switched off (``session_replication_role = replica``), runs the
audit, and puts the original bytes back. The audit must fail and name the entry that was changed; when
the stored leaf hash is changed consistently with the leaf, the root (which the log's key signed) must
give it away.
"""

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from creditbank.audit.verify import VerifyReport, run_verify
from creditbank.cli import app as cli
from creditbank.config import Settings
from creditbank.context import AppContext, build_context
from creditbank.db import create_engine, transaction
from creditbank.ledger import service
from creditbank.main import create_app
from creditbank.standards.tlog.note import NoteVerifier
from creditbank.transparency import store
from creditbank.transparency.publisher import ensure_default_log
from tests.ledger.factories import recognition
from tests.support.postgres import PostgresServer
from tests.support.server import free_port

TAMPERED = 1
"""Index of the entry the tests edit: the second recognition (3.00 credits for lrn_t_a)."""


@dataclass
class CommittedLedger:
    ctx: AppContext
    raw_url: str
    key_text: str
    tx_ids: list[str]
    size: int

    def audit(self) -> VerifyReport:
        with TestClient(create_app(ctx=self.ctx)) as client:
            return run_verify(client, NoteVerifier.parse(self.key_text))


@pytest.fixture(scope="module")
def ledger(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommittedLedger]:
    url = pg_server.migrate("audit_tamper")  # the service's role; the tampering is the superuser's
    engine = create_engine(url, pool_size=2)
    settings = Settings(
        var_dir=tmp_path_factory.mktemp("audit_tamper"),
        database_url=url,
        base_url="http://testserver",
        background_publisher=False,
    )
    ctx = build_context(settings, engine=engine)
    ensure_default_log(ctx)
    for session in transaction(ctx.sessions):
        pairs = service.record_recognitions(
            session,
            [
                recognition(learner_id="lrn_t_a", credits="1"),
                recognition(learner_id="lrn_t_a", credits="3"),
                recognition(learner_id="lrn_t_b", credits="2"),
            ],
        )
        conv = service.convert_lots(
            session, learner_id="lrn_t_a", lot_ids=[pairs[1][1].id], programme_id="p1", institution_id="ins_b"
        )
        tx_ids = [tx.id for tx, _ in pairs] + [conv.id]
    for session in transaction(ctx.sessions):
        store.publish_checkpoint(session, ctx.secrets.master_key, "main")
        log = store.get_log(session, "main")
        key_text = store.verifier(log).to_text()
        size = log.size
    yield CommittedLedger(
        ctx=ctx, raw_url=pg_server.url("audit_tamper"), key_text=key_text, tx_ids=tx_ids, size=size
    )
    engine.dispose()


@contextmanager
def superuser(url: str) -> Iterator[psycopg.Connection]:
    """A raw connection as the database superuser, with triggers (append-only, zero-sum) switched off."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@contextmanager
def tampered_leaf(
    ledger: CommittedLedger, index: int, old: bytes, new: bytes, *, node: bool
) -> Iterator[None]:
    """Replace ``old`` by ``new`` in the leaf of entry ``index`` (and its level-0 node if ``node``)."""
    with superuser(ledger.raw_url) as conn:
        [(leaf,)] = conn.execute(
            "SELECT leaf FROM ledger_transactions WHERE log_id = 'main' AND seq = %s", (index,)
        ).fetchall()
        [(stored_hash,)] = conn.execute(
            "SELECT hash FROM tlog_nodes WHERE log_id = 'main' AND level = 0 AND idx = %s", (index,)
        ).fetchall()
        assert old in leaf
        forged = bytes(leaf).replace(old, new)
        conn.execute(
            "UPDATE ledger_transactions SET leaf = %s WHERE log_id = 'main' AND seq = %s", (forged, index)
        )
        if node:
            conn.execute(
                "UPDATE tlog_nodes SET hash = %s WHERE log_id = 'main' AND level = 0 AND idx = %s",
                (hashlib.sha256(b"\x00" + forged).digest(), index),
            )
        try:
            yield
        finally:
            conn.execute(
                "UPDATE ledger_transactions SET leaf = %s WHERE log_id = 'main' AND seq = %s", (leaf, index)
            )
            conn.execute(
                "UPDATE tlog_nodes SET hash = %s WHERE log_id = 'main' AND level = 0 AND idx = %s",
                (stored_hash, index),
            )


def _checks(report: VerifyReport) -> set[tuple[str, int | None]]:
    return {(f.check, f.index) for f in report.findings}


class TestTamper:
    def test_untouched_ledger_passes(self, ledger: CommittedLedger) -> None:
        report = ledger.audit()
        assert report.ok, [str(f) for f in report.findings]
        assert report.entries == ledger.size == 4

    def test_changed_amount_in_a_leaf_is_named(self, ledger: CommittedLedger) -> None:
        # the learner's side of the recognition: 3.00 becomes 30.00 (the issuer's side stays -3.00)
        with tampered_leaf(
            ledger,
            TAMPERED,
            b'"learner:lrn_t_a:available","amount":"3.00"',
            b'"learner:lrn_t_a:available","amount":"30.00"',
            node=False,
        ):
            report = ledger.audit()
        assert not report.ok
        assert _checks(report) == {("leaf-hash", TAMPERED), ("zero-sum", TAMPERED), ("root", None)}
        leaf_hash = next(f for f in report.findings if f.check == "leaf-hash")
        assert leaf_hash.tx_id == ledger.tx_ids[TAMPERED]
        assert ledger.audit().ok  # restored

    def test_leaf_and_its_stored_hash_changed_together_break_the_root(self, ledger: CommittedLedger) -> None:
        # a consistent forgery: both postings and the lot say 30.00, and tlog_nodes holds the new leaf hash
        with tampered_leaf(ledger, TAMPERED, b'3.00"', b'30.00"', node=True):
            report = ledger.audit()
        assert _checks(report) == {("root", None)}
        assert report.leaf_hashes_ok and not report.root_ok

    def test_the_cli_exits_1_and_names_the_entry(self, ledger: CommittedLedger, tmp_path: Path) -> None:
        with live_server(ledger.ctx) as base_url:
            state = tmp_path / "state.json"
            args = ["audit", "verify", "--url", base_url, "--key", ledger.key_text, "--state", str(state)]
            clean = CliRunner().invoke(cli, [*args, "--no-progress"])
            assert clean.exit_code == 0, clean.output
            assert "every check passed; checkpoint saved to the state file" in clean.stdout
            assert state.exists()
            again = CliRunner().invoke(cli, [*args, "--no-progress"])
            assert again.exit_code == 0 and "previous audit: consistent with size 4" in again.stdout
            broken = tmp_path / "broken.json"
            broken.write_text("{not json")
            unusable = CliRunner().invoke(cli, [*args[:-1], str(broken), "--no-progress"])
            assert unusable.exit_code == 2 and "error (audit-state-invalid)" in unusable.stderr
            with tampered_leaf(ledger, TAMPERED, b'"amount":"-3.00"', b'"amount":"-0.30"', node=False):
                result = CliRunner().invoke(cli, [*args, "--no-progress"])
        assert result.exit_code == 1, result.output
        tx_id = ledger.tx_ids[TAMPERED]
        assert f"FAIL entry {TAMPERED} ({tx_id}): leaf-hash:" in result.stderr
        assert "FAILED" in result.stderr


@contextmanager
def live_server(ctx: AppContext) -> Iterator[str]:
    """The app served over real HTTP by uvicorn in a thread (for the CLI, which opens its own client)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx=ctx), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


CHINESE = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "zh_CN.UTF-8"}
ENGLISH = {"CREDITBANK_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "en_US.UTF-8"}


class TestFindingsInTheReadersLanguage:
    def test_verify_says_a_tampered_leaf_in_chinese_under_zh_cn_and_in_english_otherwise(
        self, ledger: CommittedLedger
    ) -> None:
        tx_id = ledger.tx_ids[TAMPERED]
        with live_server(ledger.ctx) as base_url:
            args = ["audit", "verify", "--url", base_url, "--key", ledger.key_text, "--no-progress"]
            with tampered_leaf(ledger, TAMPERED, b'"amount":"-3.00"', b'"amount":"-0.30"', node=False):
                zh = CliRunner().invoke(cli, args, env=CHINESE)
                en = CliRunner().invoke(cli, args, env=ENGLISH)
        assert zh.exit_code == en.exit_code == 1, (zh.output, en.output)
        assert f"未通过 条目 {TAMPERED}（{tx_id}）：leaf-hash：服务器给出的叶子哈希" in zh.stderr
        assert "叶子或其哈希被改动" in zh.stderr
        assert f"未通过 root：由 {ledger.size} 个叶子重算的根为" in zh.stderr
        assert "the served leaf hash" not in zh.stderr and "recomputed" not in zh.stderr
        assert f"未通过 条目 {TAMPERED}（{tx_id}）：zero-sum：分录合计为 2.70，不为零" in zh.stderr
        assert f"FAIL entry {TAMPERED} ({tx_id}): zero-sum: the postings sum to 2.70, not zero" in en.stderr
        assert f"FAIL entry {TAMPERED} ({tx_id}): leaf-hash: the served leaf hash" in en.stderr
        assert f"FAIL root: the root recomputed from the {ledger.size} leaves is" in en.stderr
        assert "叶子" not in en.stderr
