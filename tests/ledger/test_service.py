from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from creditbank.context import AppContext
from creditbank.ids import LotId
from creditbank.ledger import append, service
from creditbank.ledger.errors import (
    AlreadyReversed,
    CannotReverseReversal,
    InsufficientCredits,
    LotAlreadyConverted,
    LotNotAvailable,
    UnbalancedTransaction,
)
from creditbank.ledger.models import AccountKind, TxKind
from creditbank.standards.ledger import leaf
from creditbank.standards.ledger.leaf import AccountId, TransactionId
from creditbank.standards.tlog import merkle
from tests.ledger.factories import recognise, recognition


class TestRecordRecognition:
    def test_creates_lot_and_balances(self, session: Session) -> None:
        tx, lot = recognise(session, learner_id="lrn_a", credits="2.5")
        assert tx.kind == "recognition"
        assert lot.recognition_tx_id == tx.id
        assert service.account_balance(session, service.available_account("lrn_a")) == Decimal("2.50")
        assert service.account_balance(session, service.issuer_account("ins_test")) == Decimal("-2.50")
        [line] = service.balances(session, "lrn_a")
        assert (line.category, line.level, line.available, line.converted) == (
            "vocational",
            4,
            Decimal("2.50"),
            Decimal(0),
        )

    def test_leaf_is_canonical_json_with_citation(self, session: Session) -> None:
        import json

        tx, _ = recognise(session, learner_id="lrn_leaf")
        leaf = json.loads(tx.leaf)
        assert leaf["seq"] == tx.seq
        assert leaf["lots"][0]["rule"] == {"id": "bj-training-hours", "version": "1", "set_hash": "ab" * 32}
        assert [p["amount"] for p in leaf["postings"]] == ["-2.50", "2.50"]
        import rfc8785

        assert rfc8785.dumps(leaf) == tx.leaf

    def test_sequence_is_gapless_in_one_batch(self, session: Session) -> None:
        pairs = service.record_recognitions(session, [recognition() for _ in range(5)])
        seqs = [tx.seq for tx, _ in pairs]
        assert seqs == list(range(seqs[0], seqs[0] + 5))

    def test_credits_never_float(self) -> None:
        with pytest.raises(TypeError):
            service.credits(2.5)  # type: ignore[arg-type]
        with pytest.raises(UnbalancedTransaction):
            service.credits("1.005")


class TestConvert:
    def test_converts_once(self, session: Session) -> None:
        _, lot = recognise(session, learner_id="lrn_c", credits="3")
        service.convert_lots(
            session, learner_id="lrn_c", lot_ids=[lot.id], programme_id="p1", institution_id="ins_b"
        )
        [line] = service.balances(session, "lrn_c")
        assert (line.available, line.converted) == (Decimal(0), Decimal(3))
        with pytest.raises(LotAlreadyConverted):
            service.convert_lots(
                session, learner_id="lrn_c", lot_ids=[lot.id], programme_id="p2", institution_id="ins_c"
            )

    def test_reversed_conversion_frees_lot(self, session: Session) -> None:
        _, lot = recognise(session, learner_id="lrn_r")
        conv = service.convert_lots(
            session, learner_id="lrn_r", lot_ids=[lot.id], programme_id="p1", institution_id="ins_b"
        )
        service.reverse(session, conv.id, reason="wrong programme", by="ins_b")
        assert service.lot_conversion(session, lot.id) is None
        service.convert_lots(
            session, learner_id="lrn_r", lot_ids=[lot.id], programme_id="p2", institution_id="ins_b"
        )
        with pytest.raises(AlreadyReversed):
            service.reverse(session, conv.id, reason="again", by="ins_b")

    def test_other_learners_lot_refused(self, session: Session) -> None:
        _, lot = recognise(session, learner_id="lrn_x")
        with pytest.raises(LotNotAvailable):
            service.convert_lots(
                session, learner_id="lrn_y", lot_ids=[lot.id], programme_id="p", institution_id="ins_b"
            )

    def test_reversed_lot_cannot_be_converted(self, session: Session) -> None:
        tx, lot = recognise(session, learner_id="lrn_z")
        service.reverse(session, tx.id, reason="posted in error", by="ins_test")
        with pytest.raises(LotNotAvailable):
            service.convert_lots(
                session, learner_id="lrn_z", lot_ids=[lot.id], programme_id="p", institution_id="ins_b"
            )


class TestReverse:
    def test_recognition_of_converted_lot_needs_conversion_reversed_first(self, session: Session) -> None:
        tx, lot = recognise(session, learner_id="lrn_q", credits="2")
        service.convert_lots(
            session, learner_id="lrn_q", lot_ids=[lot.id], programme_id="p", institution_id="i"
        )
        with pytest.raises(LotAlreadyConverted, match="reverse its conversion first"):
            service.reverse(session, tx.id, reason="revoked", by="ins_test")

    def test_recognition_of_converted_lot_refused_even_with_other_credits(self, session: Session) -> None:
        tx, lot = recognise(session, learner_id="lrn_o", credits="2")
        recognise(session, learner_id="lrn_o", credits="5")  # enough available credits elsewhere
        service.convert_lots(
            session, learner_id="lrn_o", lot_ids=[lot.id], programme_id="p", institution_id="i"
        )
        with pytest.raises(LotAlreadyConverted):
            service.reverse(session, tx.id, reason="revoked", by="ins_test")

    def test_a_reversal_is_not_reversed(self, session: Session) -> None:
        _, lot = recognise(session, learner_id="lrn_rr", credits="2")
        conv = service.convert_lots(
            session, learner_id="lrn_rr", lot_ids=[lot.id], programme_id="p", institution_id="i"
        )
        undo = service.reverse(session, conv.id, reason="wrong programme", by="i")
        with pytest.raises(CannotReverseReversal):
            service.reverse(session, undo.id, reason="undo the undo", by="i")
        # the lot is free exactly once: one new conversion, then no more
        service.convert_lots(
            session, learner_id="lrn_rr", lot_ids=[lot.id], programme_id="p2", institution_id="i"
        )
        with pytest.raises(LotAlreadyConverted):
            service.convert_lots(
                session, learner_id="lrn_rr", lot_ids=[lot.id], programme_id="p3", institution_id="i"
            )

    def test_no_negative_balance_inside_a_batch(self, session: Session) -> None:
        def move(amount: str) -> service.EntrySpec:
            return service.EntrySpec(
                kind=TxKind.note,
                postings=[
                    service.PostingSpec(
                        AccountId("learner:lrn_m:available"),
                        AccountKind.learner_available,
                        "lrn_m",
                        Decimal(amount),
                    ),
                    service.PostingSpec(AccountId("issuer:i"), AccountKind.issuer, "i", -Decimal(amount)),
                ],
            )

        # -3 then +3 nets to zero, but the first entry alone would leave the learner at -3
        with pytest.raises(InsufficientCredits):
            service.append(session, "main", [move("-3"), move("3")])

    def test_revoke_lot_reverses_both(self, session: Session) -> None:
        _, lot = recognise(session, learner_id="lrn_v", credits="2")
        service.convert_lots(
            session, learner_id="lrn_v", lot_ids=[lot.id], programme_id="p", institution_id="i"
        )
        done = service.revoke_lot(session, lot.id, reason="certificate withdrawn", by="ins_test")
        assert [t.kind for t in done] == ["reversal", "reversal"]
        [line] = service.balances(session, "lrn_v")
        assert (line.available, line.converted) == (Decimal(0), Decimal(0))

    def test_unbalanced_entry_refused(self, session: Session) -> None:
        spec = service.EntrySpec(
            kind=TxKind.note,
            postings=[
                service.PostingSpec(
                    AccountId("learner:l:available"), AccountKind.learner_available, "l", Decimal(1)
                )
            ],
        )
        with pytest.raises(UnbalancedTransaction):
            service.append(session, "main", [spec])


class TestDatabaseInvariants:
    """The database refuses what the service would never do."""

    # The append-only triggers hold for any role with the table privileges (the owner; here the
    # superuser). The service's role is refused before them (tests/test_privileges.py).

    def test_journal_rows_cannot_be_updated_or_deleted(self, superuser_ctx: AppContext) -> None:
        with superuser_ctx.sessions() as session:
            tx, _ = recognise(session)
            for statement in (
                "UPDATE ledger_transactions SET kind = 'x' WHERE id = :id",
                "DELETE FROM ledger_postings WHERE transaction_id = :id",
                "UPDATE ledger_lots SET credits = 100 WHERE recognition_tx_id = :id",
            ):
                with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
                    session.execute(text(statement), {"id": tx.id})

    def test_tree_nodes_and_signed_checkpoints_cannot_be_rewritten(self, superuser_ctx: AppContext) -> None:
        with superuser_ctx.sessions() as session:
            self._tree_nodes_and_signed_checkpoints_cannot_be_rewritten(session, superuser_ctx)

    @staticmethod
    def _tree_nodes_and_signed_checkpoints_cannot_be_rewritten(session: Session, ctx: AppContext) -> None:
        from creditbank.transparency.store import publish_checkpoint

        recognise(session)
        cp = publish_checkpoint(session, ctx.secrets.master_key, "main")
        assert cp is not None
        for statement in (
            "UPDATE tlog_nodes SET hash = hash WHERE log_id = 'main'",
            "DELETE FROM tlog_nodes WHERE log_id = 'main'",
            "UPDATE tlog_checkpoints SET note = note || 'x' WHERE log_id = 'main'",
            "UPDATE tlog_checkpoints SET root = '\\x00' WHERE log_id = 'main'",
            "DELETE FROM tlog_checkpoints WHERE log_id = 'main'",
        ):
            with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
                session.execute(text(statement))
        # republishing an unchanged checkpoint only moves its time
        with session.begin_nested():
            session.execute(text("UPDATE tlog_checkpoints SET created_at = now() WHERE log_id = 'main'"))

    def test_negative_learner_balance_refused(self, session: Session) -> None:
        recognise(session, learner_id="lrn_n", credits="1")
        with pytest.raises(DBAPIError, match="learner_not_negative"), session.begin_nested():
            session.execute(
                text("UPDATE ledger_accounts SET balance = -1 WHERE id = 'learner:lrn_n:available'")
            )

    def test_unbalanced_insert_refused_at_commit(self, session: Session) -> None:
        recognise(session)
        nested = session.begin_nested()
        session.execute(
            text(
                "INSERT INTO ledger_transactions (id, log_id, seq, kind, posting_count, created_at, leaf) "
                "VALUES ('jtx_bad', 'main', 999999, 'note', 1, now(), 'x')"
            )
        )
        session.execute(
            text(
                "INSERT INTO ledger_postings (transaction_id, position, account_id, amount) "
                "VALUES ('jtx_bad', 0, 'issuer:ins_test', 5)"
            )
        )
        with pytest.raises(DBAPIError, match="sum to"):
            session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        nested.rollback()

    def test_lot_lock_primary_key(self, session: Session) -> None:
        _, lot = recognise(session, learner_id="lrn_k")
        conv = service.convert_lots(
            session, learner_id="lrn_k", lot_ids=[lot.id], programme_id="p", institution_id="i"
        )
        with pytest.raises(DBAPIError), session.begin_nested():
            session.execute(
                text(
                    "INSERT INTO ledger_lot_locks (lot_id, conversion_tx_id, programme_id, institution_id) "
                    "VALUES (:lot, :tx, 'p2', 'i2')"
                ),
                {"lot": lot.id, "tx": conv.id},
            )


class TestTree:
    # 7 entries go in one pipelined round trip; 600 by COPY, in chunks
    @pytest.mark.parametrize("entries", [7, 600])
    def test_nodes_match_leaves(self, session: Session, entries: int) -> None:
        from creditbank.transparency.store import DbNodeReader, get_log

        assert entries > 2 * append.WRITE_CHUNK or entries <= append.PIPELINE_MAX_ENTRIES
        pairs = service.record_recognitions(session, [recognition() for _ in range(entries)])
        log = get_log(session, "main")
        reader = DbNodeReader(session, "main")
        expected = merkle.MemoryNodeStore()
        from sqlmodel import col, select

        from creditbank.ledger.models import JournalTransaction

        leaves = session.exec(
            select(JournalTransaction.leaf)
            .where(col(JournalTransaction.log_id) == "main")
            .order_by(col(JournalTransaction.seq))
        ).all()
        expected.extend([bytes(x) for x in leaves])
        assert merkle.root(reader, log.size) == expected.root()
        assert pairs[-1][0].seq == log.size - 1
        assert [tx.seq for tx, _ in pairs] == list(range(log.size - entries, log.size))


class TestBigAppend:
    """An append of more than PIPELINE_MAX_ENTRIES entries writes by COPY, chunk by chunk."""

    def test_rows_and_balances(self, session: Session) -> None:
        recs = [recognition(learner_id=f"lrn_big{i % 40}", credits="1.5") for i in range(300)]
        pairs = service.record_recognitions(session, recs)
        ids = [tx.id for tx, _ in pairs]
        postings = session.execute(
            text("SELECT count(*) FROM ledger_postings WHERE transaction_id = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
        lots = session.execute(
            text("SELECT count(*) FROM ledger_lots WHERE recognition_tx_id = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
        assert (postings, lots) == (600, 300)
        # 300 recognitions over 40 learners: 7 or 8 each of 1.5 credits
        assert service.account_balance(session, service.available_account("lrn_big0")) == Decimal("12.00")
        assert service.account_balance(session, service.available_account("lrn_big39")) == Decimal("10.50")

    def test_a_failed_write_fails_the_append_and_leaves_nothing(self, session: Session) -> None:
        import dataclasses

        from creditbank.transparency.store import get_log

        existing, _ = recognise(session, learner_id="lrn_dup")
        size = get_log(session, "main").size
        specs = [service.recognition_entry(recognition(learner_id="lrn_dup2"))[0] for _ in range(300)]
        # the 280th entry reuses a journal id: its chunk's COPY fails on the writer thread
        specs[280] = dataclasses.replace(specs[280], tx_id=TransactionId(existing.id))
        with pytest.raises(DBAPIError, match="pk_ledger_transactions"), session.begin_nested():
            service.append(session, "main", specs)
        assert get_log(session, "main").size == size
        assert service.account_balance(session, service.available_account("lrn_dup2")) == Decimal(0)
        written = session.execute(
            text("SELECT count(*) FROM ledger_transactions WHERE id = ANY(:ids)"),
            {"ids": [spec.tx_id for spec in specs[:280]]},
        ).scalar_one()
        assert written == 0


class TestLeavesParse:
    def test_every_kind_the_ledger_writes_parses_to_its_facts(self, session: Session) -> None:
        rec_tx, lot = recognise(session, learner_id="lrn_p", credits="3")
        conv_tx = service.convert_lots(
            session, learner_id="lrn_p", lot_ids=[lot.id], programme_id="prog_p", institution_id="ins_d"
        )
        rev_tx = service.reverse(session, conv_tx.id, reason="withdrawn", by="ins_d")
        recognition, conversion, reversal = (leaf.parse(tx.leaf) for tx in (rec_tx, conv_tx, rev_tx))
        [new_lot] = recognition.lots
        assert (new_lot.id, new_lot.learner, new_lot.credits) == (lot.id, "lrn_p", Decimal("3.00"))
        assert (new_lot.rule.id, new_lot.rule.set_hash) == (lot.rule_id, lot.rule_set_hash)
        assert conversion.converts == (leaf.Conversion(LotId(lot.id), "prog_p"),)
        assert reversal.reverses == leaf.Reverses(TransactionId(conv_tx.id), conv_tx.seq)
        assert {p.amount for p in reversal.postings} == {Decimal("3.00"), Decimal("-3.00")}
        assert recognition.learner_ids == conversion.learner_ids == {"lrn_p"}
