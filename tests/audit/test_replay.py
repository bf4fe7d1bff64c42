"""The replay of the journal invariants, on synthetic leaves (no database, no HTTP).

Each scenario builds a small log and names the findings it must produce, as (check, entry index)
pairs; a clean scenario must produce none. The replay must collect every finding, not stop at the first.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from creditbank.audit.findings import CHECKS, Finding
from creditbank.audit.replay import Replay, replay
from tests.audit.factories import SyntheticLog


def _checks(log: SyntheticLog, log_id: str = "main") -> set[tuple[str, int | None]]:
    result = replay(log.leaves, log_id)
    return {(f.check, f.index) for f in result.findings}


@dataclass(frozen=True)
class Scenario:
    name: str
    build: Callable[[SyntheticLog], None]
    expected: frozenset[tuple[str, int]]


def _clean(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")  # 0
    log.recognise("lrn_a", "2.5", "lot_2")  # 1
    conv = log.convert("lrn_a", {"lot_1": "3"})  # 2
    log.reverse(conv)  # 3: frees lot_1
    log.convert("lrn_a", {"lot_1": "3", "lot_2": "2.5"})  # 4: lot_1 again, allowed
    log.entry("note", [], details={"event": "erasure of a vault"})  # 5
    rec = log.recognise("lrn_b", "1", "lot_3")  # 6
    log.reverse(rec)  # 7: revokes lot_3


def _negative_balance(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    # moves 5 credits out of an account holding 3 (balanced, but the learner goes to -2)
    log.entry(
        "conversion",
        [
            {"account": "learner:lrn_a:available", "amount": "-5.00", "lot": "lot_1"},
            {"account": "learner:lrn_a:converted", "amount": "5.00", "lot": "lot_1"},
        ],
        converts=[{"lot": "lot_1", "programme": "p1"}],
    )


def _double_conversion(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "3", "lot_2")
    log.convert("lrn_a", {"lot_1": "3"})
    log.convert("lrn_a", {"lot_1": "3"}, programme="p2")  # 3


def _reconverted_through_reversal_of_reversal(log: SyntheticLog) -> None:
    # The service accepts this today (see the report): reversing the reversal of a conversion converts
    # the lot again without locking it, so a later conversion takes it a second time.
    log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "5", "lot_2")
    conv = log.convert("lrn_a", {"lot_1": "3"})
    undo = log.reverse(conv)
    log.reverse(undo)  # 4: lot_1 converted again by entry 2
    log.convert("lrn_a", {"lot_1": "3"})  # 5


def _unbalanced(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.entry(
        "recognition",
        [
            {"account": "issuer:ins_a", "amount": "-2.00", "lot": "lot_2"},
            {"account": "learner:lrn_a:available", "amount": "2.50", "lot": "lot_2"},
        ],
    )


def _gap(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "3", "lot_2", seq=2)  # index 1 claims seq 2


def _double_reversal(log: SyntheticLog) -> None:
    rec = log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "3", "lot_2")
    log.reverse(rec)
    log.reverse(rec)  # 3


def _revoked_lot_converted(log: SyntheticLog) -> None:
    rec = log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "3", "lot_2")
    log.reverse(rec)
    log.convert("lrn_a", {"lot_1": "3"})  # 3


def _recognition_reversed_while_converted(log: SyntheticLog) -> None:
    # Also accepted by the service today when the learner holds other available credits.
    rec = log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "5", "lot_2")
    log.convert("lrn_a", {"lot_1": "3"})
    log.reverse(rec)  # 3


def _unknown_lot(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.convert("lrn_a", {"lot_x": "3"})


def _someone_elses_lot(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_b", "3", "lot_2")
    log.convert("lrn_a", {"lot_2": "3"})  # lrn_a's accounts, lrn_b's lot


def _wrong_reversal_target(log: SyntheticLog) -> None:
    rec = log.recognise("lrn_a", "3", "lot_1")
    log.reverse(rec, reverses={"id": log.tx_id(rec), "seq": 5})


def _reversal_not_a_mirror(log: SyntheticLog) -> None:
    rec = log.recognise("lrn_a", "3", "lot_1")
    log.entry(
        "reversal",
        [
            {"account": "issuer:ins_a", "amount": "2.00", "lot": "lot_1"},
            {"account": "learner:lrn_a:available", "amount": "-2.00", "lot": "lot_1"},
        ],
        reverses={"id": log.tx_id(rec), "seq": rec},
    )


def _converts_list_differs(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "3", "lot_2")
    log.convert("lrn_a", {"lot_1": "3"}, converts=[{"lot": "lot_2", "programme": "p1"}])


def _identity_problems(log: SyntheticLog) -> None:
    log.recognise("lrn_a", "3", "lot_1")
    log.recognise("lrn_a", "3", "lot_2", id="jtx_0000")  # 1: id of entry 0
    log.recognise("lrn_a", "3", "lot_3", log="other")  # 2
    log.entry("gift", [])  # 3
    log.recognise("lrn_b", "3", "lot_1")  # 4: lot id taken


def _format_problems(log: SyntheticLog) -> None:
    log.raw(b"\xffnot json")  # 0
    log.raw(json.dumps({"v": 1, "log": "main", "seq": 1}, indent=2).encode())  # 1: no id (and not JCS)
    body = {"v": 1, "log": "main", "seq": 2, "id": "jtx_x", "kind": "note", "time": "t", "postings": []}
    log.raw(json.dumps(body, indent=1).encode())  # 2: valid but not canonical
    log.entry("note", [], v=2)  # 3
    log.entry("note", [{"account": "learner:lrn_a:available", "amount": "2.5"}])  # 4
    log.raw(b'{"id":"jtx_y","kind":"note","log":"main","postings":[],"seq":5,"v":1,"x":NaN}')  # 5


SCENARIOS = [
    Scenario("clean", _clean, frozenset()),
    Scenario("negative balance", _negative_balance, frozenset({("negative-balance", 1)})),
    Scenario("double conversion", _double_conversion, frozenset({("double-conversion", 3)})),
    Scenario(
        "conversion revived by reversing its reversal, then converted again",
        _reconverted_through_reversal_of_reversal,
        frozenset({("double-conversion", 5)}),
    ),
    Scenario("unbalanced entry", _unbalanced, frozenset({("zero-sum", 1)})),
    Scenario("gap in seq", _gap, frozenset({("sequence", 1)})),
    Scenario("double reversal", _double_reversal, frozenset({("double-reversal", 3)})),
    Scenario("revoked lot converted", _revoked_lot_converted, frozenset({("lot-revoked", 3)})),
    Scenario(
        "recognition reversed while its lot is converted",
        _recognition_reversed_while_converted,
        frozenset({("revoked-while-converted", 3)}),
    ),
    Scenario("unknown lot", _unknown_lot, frozenset({("lot-unknown", 1)})),
    Scenario("another learner's lot", _someone_elses_lot, frozenset({("lot-owner", 2)})),
    Scenario("reversal names the wrong seq", _wrong_reversal_target, frozenset({("reversal-target", 1)})),
    Scenario("reversal is not a mirror", _reversal_not_a_mirror, frozenset({("reversal-mirror", 1)})),
    Scenario("converts list differs", _converts_list_differs, frozenset({("conversion-lots", 2)})),
    Scenario(
        "identity problems",
        _identity_problems,
        frozenset({("duplicate-id", 1), ("log-id", 2), ("kind", 3), ("lot-duplicate", 4)}),
    ),
    Scenario(
        "format problems",
        _format_problems,
        frozenset(
            {
                ("leaf-json", 0),
                ("leaf-json", 1),
                ("leaf-canonical", 2),
                ("leaf-version", 3),
                ("posting", 4),
                ("leaf-json", 5),
            }
        ),
    ),
]


class TestReplayScenarios:
    @pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
    def test_finds_exactly_the_expected_problems(self, scenario: Scenario) -> None:
        log = SyntheticLog()
        scenario.build(log)
        assert _checks(log) == scenario.expected

    def test_every_problem_of_a_log_is_reported_not_only_the_first(self) -> None:
        log = SyntheticLog()
        _double_conversion(log)
        _unbalanced_tail = log.entry(
            "note", [{"account": "issuer:ins_a", "amount": "1.00"}]
        )  # unbalanced, after the double conversion
        log.recognise("lrn_z", "1", "lot_9", seq=99)
        assert _checks(log) == {
            ("double-conversion", 3),
            ("zero-sum", _unbalanced_tail),
            ("sequence", _unbalanced_tail + 1),
        }

    def test_findings_name_the_entry_and_its_transaction(self) -> None:
        log = SyntheticLog()
        _double_conversion(log)
        [finding] = replay(log.leaves, "main").findings
        assert (finding.index, finding.tx_id) == (3, "jtx_0003")
        assert str(finding).startswith(
            "entry 3 (jtx_0003): double-conversion: lot lot_1 is already converted"
        )

    def test_another_log_id_is_a_finding_for_every_entry(self) -> None:
        log = SyntheticLog()
        _clean(log)
        assert _checks(log, "second") == {("log-id", i) for i in range(len(log.leaves))}

    def test_stats_count_kinds_lots_and_accounts(self) -> None:
        log = SyntheticLog()
        _clean(log)
        stats = replay(log.leaves, "main").stats()
        assert stats.entries == 8
        assert stats.kinds == {"recognition": 3, "conversion": 2, "reversal": 2, "note": 1}
        assert (stats.lots, stats.learner_accounts) == (3, 3)

    def test_findings_are_capped_but_counted(self) -> None:
        log = SyntheticLog()
        for _ in range(30):
            log.raw(b"junk")
        result = Replay("main", max_findings=5)
        for leaf in log.leaves:
            result.feed(leaf)
        assert (len(result.findings), result.finding_count, result.ok) == (5, 30, False)

    def test_a_finding_must_name_a_known_check(self) -> None:
        assert "double-conversion" in CHECKS
        with pytest.raises(ValueError, match="unknown audit check"):
            Finding("no-such-check", "x")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


class TestCanonicalCheck:
    """The fast canonical check must agree with the ``rfc8785`` package on every JSON value."""

    @settings(max_examples=300, deadline=None)
    @given(body=st.dictionaries(st.text(max_size=6), json_values, max_size=5))
    def test_agrees_with_rfc8785(self, body: dict[str, Any]) -> None:
        state = Replay("main")
        for candidate in {
            json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            ),
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
            _jcs_or_none(body),
        }:
            if candidate is None:
                continue
            try:
                parsed = state._load(candidate)
            except ValueError:
                continue
            expected = _jcs_or_none(parsed) == candidate
            assert state._is_canonical(candidate, parsed) == expected

    @pytest.mark.parametrize(
        ("leaf", "canonical"),
        [
            (b'{"a":1,"b":"x"}', True),
            (b'{"b":"x","a":1}', False),
            (b'{"a":1.0}', False),  # JCS writes 1
            (b'{"a":1e2}', False),
            (b'{"a":"\\u00e9"}', False),  # JCS writes the character itself
            ('{"a":"é"}'.encode(), True),
            (b'{"a":"\\u001f"}', True),
            (b'{"a":1,"a":2}', False),  # duplicate keys
            ('{"\U0001f600":1,"\ufb01":2}'.encode(), True),  # UTF-16 order: the astral key sorts first
            ('{"\ufb01":2,"\U0001f600":1}'.encode(), False),
            (b'{"a":9007199254740993}', False),  # beyond 2**53
        ],
    )
    def test_known_cases(self, leaf: bytes, canonical: bool) -> None:
        state = Replay("main")
        assert state._is_canonical(leaf, state._load(leaf)) is canonical


def _jcs_or_none(body: Any) -> bytes | None:
    try:
        return bytes(rfc8785.dumps(body))
    except (rfc8785.CanonicalizationError, ValueError, UnicodeEncodeError):
        return None
