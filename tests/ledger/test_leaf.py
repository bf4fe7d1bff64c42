"""The leaf format module: the bytes the ledger has always written, parsed back to the same facts."""

import datetime as dt
from decimal import Decimal

import pytest

from creditbank.ids import InstitutionId, LearnerId, LogId, LotId
from creditbank.standards.ledger import leaf
from creditbank.standards.ledger.leaf import AccountId, TransactionId, TxKind

# Written by the ledger before the format had its own module: the format must not drift.
RECOGNITION = (
    b'{"details":{"outcome":"out_1","outcome_type":"training_course"},"id":"jtx_1","kind":"recognition",'
    b'"log":"main","lots":[{"category":"vocational","credits":"2.50","expires":"2031-12-05",'
    b'"field":"\xe7\x94\xb5\xe5\xb7\xa5","id":"lot_a","issuer":"ins_s","learner":"lrn_x","level":4,'
    b'"rule":{"id":"r1","set_hash":"' + b"ab" * 32 + b'","version":"3"}}],'
    b'"postings":[{"account":"issuer:ins_s","amount":"-2.50","lot":"lot_a"},'
    b'{"account":"learner:lrn_x:available","amount":"2.50","lot":"lot_a"}],'
    b'"seq":0,"time":"2026-12-05T10:30:15.123Z","v":1}'
)
CONVERSION = (
    b'{"converts":[{"lot":"lot_a","programme":"prog_1"}],"details":{"programme":"prog_1"},"id":"jtx_2",'
    b'"kind":"conversion","log":"main","postings":[{"account":"learner:lrn_x:available","amount":"-2.50",'
    b'"lot":"lot_a"},{"account":"learner:lrn_x:converted","amount":"2.50","lot":"lot_a"}],"seq":1,'
    b'"time":"2026-12-05T10:30:15.123Z","v":1}'
)
REVERSAL = (
    b'{"details":{"reason":"x"},"id":"jtx_3","kind":"reversal","log":"main","postings":[{"account":'
    b'"learner:lrn_x:available","amount":"2.50","lot":"lot_a"},{"account":"learner:lrn_x:converted",'
    b'"amount":"-2.50","lot":"lot_a"}],"reverses":{"id":"jtx_2","seq":1},"seq":2,'
    b'"time":"2026-12-05T10:30:15.123Z","v":1}'
)
AT = dt.datetime(2026, 12, 5, 10, 30, 15, 123456, tzinfo=dt.UTC)


def _recognition() -> leaf.Leaf:
    return leaf.Leaf(
        log=LogId("main"),
        seq=0,
        id=TransactionId("jtx_1"),
        kind=TxKind.recognition,
        time=leaf.format_time(AT),
        postings=(
            leaf.Posting(leaf.issuer_account("ins_s"), Decimal("-2.50"), LotId("lot_a")),
            leaf.Posting(leaf.available_account("lrn_x"), Decimal("2.50"), LotId("lot_a")),
        ),
        lots=(
            leaf.NewLot(
                id=LotId("lot_a"),
                learner=LearnerId("lrn_x"),
                issuer=InstitutionId("ins_s"),
                credits=Decimal("2.50"),
                category="vocational",
                level=4,
                field="电工",
                rule=leaf.RuleCitation(id="r1", version="3", set_hash="ab" * 32),
                expires=dt.date(2031, 12, 5),
            ),
        ),
        details={"outcome": "out_1", "outcome_type": "training_course"},
    )


class TestEncode:
    def test_recognition_bytes_unchanged(self) -> None:
        assert leaf.encode(_recognition()) == RECOGNITION

    def test_conversion_and_reversal_bytes_unchanged(self) -> None:
        lot = LotId("lot_a")
        postings = (
            leaf.Posting(leaf.available_account("lrn_x"), Decimal("-2.50"), lot),
            leaf.Posting(leaf.converted_account("lrn_x"), Decimal("2.50"), lot),
        )
        conversion = leaf.Leaf(
            log=LogId("main"),
            seq=1,
            id=TransactionId("jtx_2"),
            kind=TxKind.conversion,
            time=leaf.format_time(AT),
            postings=postings,
            converts=(leaf.Conversion(lot, "prog_1"),),
            details={"programme": "prog_1"},
        )
        reversal = leaf.Leaf(
            log=LogId("main"),
            seq=2,
            id=TransactionId("jtx_3"),
            kind=TxKind.reversal,
            time=leaf.format_time(AT),
            postings=tuple(leaf.Posting(p.account, -p.amount, p.lot) for p in postings),
            reverses=leaf.Reverses(TransactionId("jtx_2"), 1),
            details={"reason": "x"},
        )
        assert (leaf.encode(conversion), leaf.encode(reversal)) == (CONVERSION, REVERSAL)


class TestParse:
    @pytest.mark.parametrize("data", [RECOGNITION, CONVERSION, REVERSAL])
    def test_round_trip(self, data: bytes) -> None:
        assert leaf.encode(leaf.parse(data)) == data

    def test_recognition_facts(self) -> None:
        parsed = leaf.parse(RECOGNITION)
        assert parsed == _recognition()
        lot = parsed.lot("lot_a")
        assert lot is not None
        assert (lot.learner, lot.credits, lot.rule.id) == ("lrn_x", Decimal("2.50"), "r1")
        assert parsed.learner_ids == {"lrn_x"}
        assert parsed.lot("lot_b") is None

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (b"not json", "not JSON"),
            (b"[]", "not a JSON object"),
            (RECOGNITION.replace(b'"v":1', b'"v":2'), "version"),
            (RECOGNITION.replace(b'"kind":"recognition"', b'"kind":"gift"'), "unknown kind"),
            (RECOGNITION.replace(b'"amount":"2.50"', b'"amount":"2.5"'), "amount"),
            (RECOGNITION.replace(b'"level":4', b'"level":"4"'), "level"),
            (RECOGNITION.replace(b'"expires":"2031-12-05"', b'"expires":"soon"'), "expires"),
            (RECOGNITION.replace(b'"id":"jtx_1","kind"', b'"kind"'), "id"),
            (b" " + RECOGNITION, "canonical"),
            (CONVERSION.replace(b'"converts":[{"lot":"lot_a",', b'"converts":[{'), "lot"),
        ],
    )
    def test_refuses_what_is_not_a_leaf(self, data: bytes, message: str) -> None:
        with pytest.raises(leaf.LeafFormatError, match=message):
            leaf.parse(data)


class TestAccounts:
    def test_learner_of_account(self) -> None:
        assert leaf.learner_of_account(leaf.available_account("lrn_a:b")) == "lrn_a:b"
        assert leaf.learner_of_account(leaf.converted_account("lrn_c")) == "lrn_c"
        assert leaf.learner_of_account(leaf.issuer_account("ins_x")) is None
        assert leaf.learner_of_account(AccountId("learner:lrn_d:other")) is None

    def test_kinds_are_the_enum(self) -> None:
        assert {kind.value for kind in TxKind} == leaf.KINDS
