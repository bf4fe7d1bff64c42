"""``run_verify`` against the real service (TestClient over the test's rolled-back transaction).

The ledger is written with the ledger service, the checkpoint published with the store, and the audit
reads everything back over HTTP, trusting only the log's public key.
"""

import base64
import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from creditbank.audit.errors import StateFileInvalid
from creditbank.audit.verify import VerifyReport, run_verify
from creditbank.context import AppContext
from creditbank.ledger import service
from creditbank.ledger.models import JournalTransaction
from creditbank.standards.tlog.note import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from creditbank.transparency import store
from tests.ledger.factories import recognition


def _key(session: Session, log_id: str = "main") -> NoteVerifier:
    """The log's verifier key, as an auditor gets it out of band."""
    return NoteVerifier.parse(store.verifier(store.get_log(session, log_id)).to_text())


def _write_ledger(session: Session, log_id: str = "main") -> list[JournalTransaction]:
    """Recognitions, a conversion, its reversal, a second conversion and a revoked lot: 7 entries."""
    (r1, lot1), (r2, lot2), (r3, lot3) = service.record_recognitions(
        session,
        [
            recognition(learner_id="lrn_audit_a", credits="3"),
            recognition(learner_id="lrn_audit_a", credits="2"),
            recognition(learner_id="lrn_audit_b", credits="4"),
        ],
        log_id=log_id,
    )
    conv = service.convert_lots(
        session,
        learner_id="lrn_audit_a",
        lot_ids=[lot1.id],
        programme_id="p1",
        institution_id="ins_b",
        log_id=log_id,
    )
    undo = service.reverse(session, conv.id, reason="wrong programme", by="ins_b")
    conv2 = service.convert_lots(
        session,
        learner_id="lrn_audit_a",
        lot_ids=[lot1.id, lot2.id],
        programme_id="p2",
        institution_id="ins_b",
        log_id=log_id,
    )
    [revoked] = service.revoke_lot(session, lot3.id, reason="certificate withdrawn", by="admin")
    return [r1, r2, r3, conv, undo, conv2, revoked]


def _publish(ctx: AppContext, session: Session, log_id: str = "main") -> None:
    assert store.publish_checkpoint(session, ctx.secrets.master_key, log_id) is not None


def _checks(report: VerifyReport) -> set[tuple[str, int | None]]:
    return {(f.check, f.index) for f in report.findings}


def _save_signed_state(path: Path, signer: NoteSigner, size: int, root: bytes, log_id: str = "main") -> str:
    note = sign_checkpoint(Checkpoint(signer.name, size, root), signer).decode()
    path.write_text(
        json.dumps(
            {
                "format": "creditbank-audit-state/1",
                "log": log_id,
                "size": size,
                "root": base64.b64encode(root).decode(),
                "checkpoint": note,
            }
        )
    )
    return path.read_text()


class TestCleanLedger:
    def test_every_check_passes(self, ctx: AppContext, session: Session, client: TestClient) -> None:
        txs = _write_ledger(session)
        _publish(ctx, session)
        report = run_verify(client, _key(session))
        assert report.findings == []
        assert report.ok
        assert report.checkpoint is not None
        assert report.checkpoint.size == report.entries == len(txs) + txs[0].seq
        assert report.leaf_hashes_ok and report.root_ok
        assert report.replay is not None
        assert report.replay.kinds == {"recognition": 3, "conversion": 2, "reversal": 2}

    def test_only_published_entries_are_audited(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        size = store.get_log(session, "main").size
        service.record_recognitions(session, [recognition(), recognition()])
        report = run_verify(client, _key(session))
        assert report.ok and report.entries == size

    def test_small_pages_give_the_same_result(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        report = run_verify(client, _key(session), page_size=2)
        assert report.ok and report.root_ok and report.entries == store.get_log(session, "main").size

    def test_empty_published_log(self, ctx: AppContext, session: Session, client: TestClient) -> None:
        store.ensure_log(
            session, ctx.secrets.master_key, "empty", store.origin_for("http://testserver", "empty")
        )
        _publish(ctx, session, "empty")
        report = run_verify(client, _key(session, "empty"), log_id="empty")
        assert report.ok and report.entries == 0 and report.root_ok

    def test_a_second_log_is_audited_on_its_own(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        store.ensure_log(
            session, ctx.secrets.master_key, "second", store.origin_for("http://testserver", "second")
        )
        _write_ledger(session, "second")
        _publish(ctx, session, "second")
        report = run_verify(client, _key(session, "second"), log_id="second")
        assert report.ok and report.entries == 7
        # the main log's key does not verify the second log's checkpoint
        wrong = run_verify(client, _key(session, "main"), log_id="second")
        assert _checks(wrong) == {("checkpoint-signature", None)}


class TestCheckpointProblems:
    def test_no_checkpoint_published(self, session: Session, client: TestClient) -> None:
        report = run_verify(client, _key(session))
        assert _checks(report) == {("checkpoint-fetch", None)}
        assert "409" in report.findings[0].message and not report.ok

    def test_unknown_log(self, session: Session, client: TestClient) -> None:
        report = run_verify(client, _key(session), log_id="no-such-log")
        assert _checks(report) == {("checkpoint-fetch", None)}
        assert "404" in report.findings[0].message

    def test_another_key_of_the_same_name_fails(
        self, ctx: AppContext, session: Session, client: TestClient
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        impostor = NoteSigner.generate(_key(session).name).verifier()
        report = run_verify(client, impostor)
        assert _checks(report) == {("checkpoint-signature", None)} and report.entries == 0


class TestStateFile:
    def test_round_trip_across_growth(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        state = tmp_path / "audit" / "main.json"
        key = _key(session)
        _write_ledger(session)
        _publish(ctx, session)
        first = run_verify(client, key, state_file=state)
        assert first.ok and first.state_saved and first.previous is None
        saved = json.loads(state.read_text())
        assert first.checkpoint is not None
        assert (saved["log"], saved["size"]) == ("main", first.checkpoint.size)
        assert saved["checkpoint"] == client.get("/logs/main/checkpoint").text
        # the log grows: the new checkpoint must be proven consistent with the saved one
        service.record_recognitions(session, [recognition() for _ in range(5)])
        _publish(ctx, session)
        second = run_verify(client, key, state_file=state)
        assert second.ok and second.previous is not None
        assert second.checkpoint is not None
        assert (second.previous.size, second.checkpoint.size) == (
            first.checkpoint.size,
            first.checkpoint.size + 5,
        )
        assert json.loads(state.read_text())["size"] == second.checkpoint.size
        # no growth: same size, same root
        third = run_verify(client, key, state_file=state)
        assert third.ok and third.previous is not None and third.previous.size == second.checkpoint.size

    def test_checkpoint_from_a_different_tree_fails(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        signer = store.signer(store.get_log(session, "main"), ctx.secrets.master_key)
        state = tmp_path / "state.json"
        before = _save_signed_state(state, signer, 2, os.urandom(32))
        report = run_verify(client, _key(session), state_file=state)
        assert _checks(report) == {("consistency", None)}
        assert "not an extension of the one of size 2" in report.findings[0].message
        assert not report.ok and not report.state_saved
        assert state.read_text() == before

    def test_same_size_other_root_is_a_fork(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        log = store.get_log(session, "main")
        state = tmp_path / "state.json"
        _save_signed_state(state, store.signer(log, ctx.secrets.master_key), log.size, os.urandom(32))
        report = run_verify(client, _key(session), state_file=state)
        assert _checks(report) == {("consistency", None)} and "forked" in report.findings[0].message

    def test_smaller_checkpoint_than_saved_is_a_rollback(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        log = store.get_log(session, "main")
        state = tmp_path / "state.json"
        _save_signed_state(state, store.signer(log, ctx.secrets.master_key), log.size + 10, os.urandom(32))
        report = run_verify(client, _key(session), state_file=state)
        assert _checks(report) == {("rollback", None)}

    def test_state_signed_by_another_key_is_refused(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        state = tmp_path / "state.json"
        _save_signed_state(state, NoteSigner.generate(_key(session).name), 1, os.urandom(32))
        with pytest.raises(StateFileInvalid, match="does not verify with the given key"):
            run_verify(client, _key(session), state_file=state)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("{not json", "not JSON"),
            ('{"format": "something-else/1"}', "is not a creditbank-audit-state/1 file"),
            ('{"format": "creditbank-audit-state/1", "log": "second"}', "is for log 'second'"),
            ('{"format": "creditbank-audit-state/1", "log": "main"}', "holds no checkpoint"),
        ],
    )
    def test_unusable_state_file_is_refused(
        self,
        ctx: AppContext,
        session: Session,
        client: TestClient,
        tmp_path: Path,
        content: str,
        message: str,
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        state = tmp_path / "state.json"
        state.write_text(content)
        with pytest.raises(StateFileInvalid, match=message):
            run_verify(client, _key(session), state_file=state)

    def test_state_whose_fields_disagree_with_its_note_is_refused(
        self, ctx: AppContext, session: Session, client: TestClient, tmp_path: Path
    ) -> None:
        _write_ledger(session)
        _publish(ctx, session)
        state = tmp_path / "state.json"
        assert run_verify(client, _key(session), state_file=state).ok
        data = json.loads(state.read_text())
        data["size"] += 1
        state.write_text(json.dumps(data))
        with pytest.raises(StateFileInvalid, match="differ from its signed checkpoint"):
            run_verify(client, _key(session), state_file=state)
