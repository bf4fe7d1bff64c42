"""The one CSV dialect, fed as a request body arrives: any split of the bytes gives the same rows."""

import io

import pytest
from openpyxl import Workbook

from creditbank.outcomes import pipeline
from creditbank.outcomes.batch import BodyMalformed, ParsedRow
from creditbank.outcomes.dialect import CsvHeaderInvalid, CsvRowDecoder, column_of

TEXT = (
    "机构编号,学习者编号,成果类型,名称,取得日期,学时,属性.备注\r\n"
    'R-1,lrn_1,非学历培训课程,"中级电工\r\n作业培训",2026年10月1日,48,"说""明"\r\n'
    "R-2,lrn_1,training_course,焊工,2026/10/01,16\r\n"
)

ENGLISH = (  # the first non-ASCII byte is GB18030's lead of 中 (0xD6), also a UTF-8 lead byte
    "reference,learner_id,outcome_type,title,achieved_on,hours,attr.note\r\n"
    + TEXT.split("\r\n", 1)[1].replace("非学历培训课程", "training_course")
)


def rows(data: bytes, step: int) -> list[tuple[int, str | None, str]]:
    decoder = CsvRowDecoder()
    out: list[ParsedRow] = []
    for at in range(0, len(data), step):
        out.extend(decoder.feed(data[at : at + step]))
    out.extend(decoder.feed(b"", final=True))
    return [(p.row, p.reference, p.item.title if p.item else type(p.error).__name__) for p in out]


@pytest.mark.parametrize("text", [TEXT, ENGLISH])
@pytest.mark.parametrize("encoding", ["gb18030", "utf-8", "utf-8-sig"])
@pytest.mark.parametrize("step", [1, 2, 3, 7, 4096])
def test_every_split_of_every_encoding_reads_the_same(text: str, encoding: str, step: int) -> None:
    assert rows(text.encode(encoding), step) == [
        (1, "R-1", "中级电工\r\n作业培训"),
        (2, "R-2", "RowInvalid"),  # one cell short
    ]


def test_headers_by_field_name_or_label() -> None:
    assert [column_of(n) for n in ("机构编号", "Date achieved", " achieved_on ", "attr.x", "属性.备注")] == [
        "reference",
        "achieved_on",
        "achieved_on",
        "attr.x",
        "attr.备注",
    ]
    for body in (b"", b"title\nx\n", b"reference,huors\nR,1\n", b"reference,reference\n"):
        with pytest.raises(CsvHeaderInvalid):
            list(CsvRowDecoder().feed(body, final=True))


def test_text_in_neither_encoding_and_unclosed_quotes_are_refused() -> None:
    with pytest.raises(BodyMalformed):
        list(CsvRowDecoder().feed(b"reference\n" + b"\xff\xff\n", final=True))
    with pytest.raises(BodyMalformed, match="not closed"):
        list(CsvRowDecoder().feed(b'reference,title\nR-1,"open\n', final=True))


def test_a_workbook_that_unpacks_too_large_is_refused_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["reference", "title"])
    sheet.append(["R-1", "x" * 5_000])
    out = io.BytesIO()
    book.save(out)
    assert [p.reference for p in pipeline.xlsx_rows(out.getvalue())] == ["R-1"]
    monkeypatch.setattr(pipeline, "MAX_XLSX_UNPACKED", 4_000)
    with pytest.raises(CsvHeaderInvalid, match="unpacks to more than"):
        list(pipeline.xlsx_rows(out.getvalue()))
    with pytest.raises(CsvHeaderInvalid, match="not an XLSX"):
        list(pipeline.xlsx_rows(b"PK\x03\x04 not a zip"))
