"""The batch body decoder: the same rows however the body is split into blocks."""

import json

import pytest

from creditbank.outcomes.batch import BodyMalformed, ParsedRow, RowDecoder

ROWS = [
    {"reference": "r-1", "title": "数字技能培训", "outcome_type": "training_course"},
    {"reference": "r-2", "title": "老年大学 书法", "outcome_type": "community_course", "hours": 24},
    {"reference": "r-3", "title": "MOOC: 数据结构", "outcome_type": "mooc"},
]


def decode(body: bytes, block: int) -> list[tuple[int, str | None, str | None]]:
    decoder = RowDecoder()
    rows: list[ParsedRow] = []
    for start in range(0, len(body), block):
        rows.extend(decoder.feed(body[start : start + block]))
    rows.extend(decoder.feed(b"", final=True))
    return [(r.row, r.reference, type(r.error).__name__ if r.error else None) for r in rows]


def bodies() -> list[bytes]:
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode()
    array = json.dumps(ROWS, ensure_ascii=False, indent=1).encode()
    compact = json.dumps(ROWS, ensure_ascii=False, separators=(",", ":")).encode()
    return [lines, lines + b"\n\n", b"\n  " + lines, array, compact, b"  " + compact + b"\n"]


@pytest.mark.parametrize("body", bodies())
def test_every_split_gives_the_same_rows(body: bytes) -> None:
    whole = decode(body, len(body))
    assert [ref for _, ref, _ in whole] == ["r-1", "r-2", "r-3"]
    for block in range(1, 40):
        assert decode(body, block) == whole, block


def test_a_bad_line_fails_alone() -> None:
    body = b'{"reference": "a"}\nnot json\n{"reference": "b"}\n'
    got = decode(body, 5)
    assert [(row, err) for row, _, err in got] == [(1, "RowInvalid"), (2, "RowInvalid"), (3, "RowInvalid")]
    assert [ref for _, ref, _ in got] == ["a", None, "b"]


def test_empty_array_and_empty_body() -> None:
    assert decode(b"[ ]", 1) == []
    assert decode(b"", 1) == []
    assert decode(b"\n\n", 1) == []


@pytest.mark.parametrize(
    "body",
    [
        b"[{}",  # not closed
        b'[{"a": 1},',  # not closed after a comma
        b"[{},]",  # trailing comma
        b"[{} {}]",  # no comma
        b"[{}] {}",  # text after ]
        b"[{]",  # not JSON
        b"\xff\xfe{}",  # not UTF-8
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    for block in (1, 3, len(body)):
        with pytest.raises(BodyMalformed):
            decode(body, block)


def test_numbers_split_across_blocks_are_one_row() -> None:
    got = decode(b"[12345, 6]", 3)
    assert [row for row, _, _ in got] == [1, 2]
