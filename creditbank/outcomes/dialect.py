"""The one CSV dialect of outcome uploads (the batch API, ``creditbank import``, the console).

- **Encoding.** UTF-8 with or without a byte-order mark, or GB18030 (what Excel in China saves).
  It is decided on the first 64 bytes from the first one that is not ASCII (or fewer at the end):
  if they read as UTF-8 strictly, the file is UTF-8, else GB18030 (ASCII reads the same in both,
  so until then nothing needs deciding).
- **Header.** The first line names the columns: the field names of
  :class:`~creditbank.outcomes.schemas.OutcomeCreate`, or their Chinese or English labels
  (``机构编号``/``reference``, ``身份证号``/``identity_number``, ``取得日期``/``achieved_on`` …, see
  :data:`COLUMN_NAMES`); ``attr.<name>`` (also ``attributes.<name>``, ``属性.<name>``) are
  attributes. An unknown or repeated column, or no ``reference`` column, refuses the whole file.
- **Cells.** Trimmed; an empty cell is left out. ``outcome_type`` may be the type's Chinese or
  English label (``非学历培训课程``); ``identity_verified`` reads 是/否, true/false, 1/0, yes/no;
  an attribute that reads as a whole number or true/false keeps that type.
- **Records.** A quoted cell may hold line breaks; a record may not pass 64 KiB. Rows are numbered
  from 1 after the header; a row with more or fewer cells than the header fails on its own.

The decoder is fed bytes as they arrive (the batch API streams), so memory stays bounded.
"""

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, Final

from creditbank.i18n import msg
from creditbank.outcomes.batch import MAX_ROW_BYTES, BodyMalformed, ParsedRow, RowInvalid, validate_row
from creditbank.rule_engine.models import OUTCOME_TYPE_LABELS

BOM: Final = codecs.BOM_UTF8
SNIFF_BYTES: Final = 64  # non-ASCII bytes read before the encoding is decided (or the end of the file)
ATTRIBUTE_PREFIXES: Final = ("attr.", "attributes.", "属性.")
TRUE_WORDS: Final = frozenset({"true", "1", "yes", "y", "on", "是", "真", "已核验", "√"})
FALSE_WORDS: Final = frozenset({"false", "0", "no", "n", "off", "否", "假", "未核验"})

#: field -> the other names a column of it may have (compared without case, spaces or underscores)
COLUMN_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "reference": ("机构编号", "成果编号", "编号", "your reference", "ref"),
    "learner_id": ("学习者编号", "学习者id", "learner id"),
    "identity_number": ("身份证号", "身份证号码", "证件号码", "id number"),
    "learner_name": ("姓名", "学习者姓名", "name"),
    "outcome_type": ("成果类型", "类型", "type"),
    "title": ("名称", "成果名称", "课程名称", "证书名称"),
    "achieved_on": ("取得日期", "获得日期", "获证日期", "日期", "date achieved", "date"),
    "hours": ("学时", "study hours"),
    "level": ("等级", "级别"),
    "score": ("分数", "成绩"),
    "grade": ("成绩等第", "等第"),
    "field": ("专业或工种", "专业", "工种", "field or trade", "trade"),
    "course_code": ("课程代码", "课程编号"),
    "identity_verified": ("考核时已核验身份", "已核验身份", "实名认证", "identity verified"),
    "evidence_hash": ("证明材料哈希", "evidence"),
}
_INTEGER = re.compile(r"^-?[0-9]{1,15}$")


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "", unicodedata.normalize("NFKC", name)).lower()


_COLUMNS: Final[dict[str, str]] = {
    _key(alias): field for field, aliases in COLUMN_NAMES.items() for alias in (field, *aliases)
}
_TYPES: Final[dict[str, str]] = {
    _key(name): code for code, labels in OUTCOME_TYPE_LABELS.items() for name in (code, *labels)
}


class CsvHeaderInvalid(BodyMalformed):
    slug = "csv-header-invalid"
    title = "The CSV header does not name outcome columns"


def column_of(name: str) -> str | None:
    """The field (or ``attr.<name>``) a header cell names; None when it names none."""
    text = unicodedata.normalize("NFKC", name).strip().lstrip("\ufeff")
    for prefix in ATTRIBUTE_PREFIXES:
        if text.lower().startswith(prefix) and len(text) > len(prefix):
            return "attr." + text[len(prefix) :].strip()
    return _COLUMNS.get(_key(text))


def read_header(cells: list[str]) -> list[str]:
    """The field of each header cell.

    Raises:
        CsvHeaderInvalid: an empty header, unknown or repeated columns, or no ``reference`` column.
    """
    if not any(cell.strip() for cell in cells):
        raise CsvHeaderInvalid(msg("detail.outcomes.dialect.first_line_must_name"))
    fields = [column_of(cell) for cell in cells]
    unknown = [cell for cell, field in zip(cells, fields, strict=True) if field is None]
    if unknown:
        raise CsvHeaderInvalid(
            msg("detail.outcomes.dialect.unknown_column_s_use", value=", ".join(unknown)),
            columns=unknown,
        )
    named = [f for f in fields if f is not None]
    if len(set(named)) != len(named):
        raise CsvHeaderInvalid(msg("detail.outcomes.dialect.column_appears_twice"))
    if "reference" not in named:
        raise CsvHeaderInvalid(msg("detail.outcomes.dialect.there_no_reference_column"))
    return named


def attribute_value(text: str) -> str | int | bool:
    """A cell as an attribute: true/false and whole numbers keep their JSON type."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INTEGER.match(text):
        return int(text)
    return text


def row_body(fields: list[str], cells: list[str]) -> dict[str, Any]:
    """The JSON body of one CSV row (the same an API client would send)."""
    body: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for field, cell in zip(fields, cells, strict=True):
        text = cell.strip()
        if not text:
            continue
        if field.startswith("attr."):
            attributes[field.removeprefix("attr.")] = attribute_value(text)
        elif field == "outcome_type":
            body[field] = _TYPES.get(_key(text), text)
        elif field == "identity_verified":
            word = _key(text)
            body[field] = True if word in TRUE_WORDS else False if word in FALSE_WORDS else text
        else:
            body[field] = text
    if attributes:
        body["attributes"] = attributes
    return body


class TextDecoder:
    """Bytes to text: UTF-8 (BOM or not) or GB18030, decided on the first non-ASCII bytes."""

    def __init__(self) -> None:
        self._decoder: codecs.IncrementalDecoder | None = None
        self._start = True
        self._pending = b""

    def decode(self, data: bytes, final: bool = False) -> str:
        data = self._pending + data
        self._pending = b""
        if self._start:
            if len(data) < len(BOM) and BOM.startswith(data) and not final:
                self._pending = data
                return ""
            self._start = False
            if data.startswith(BOM):
                data = data[len(BOM) :]
                self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        if self._decoder is None:
            if data.isascii():
                return data.decode("ascii")
            first = next(i for i, byte in enumerate(data) if byte >= 0x80)
            if not final and len(data) - first < SNIFF_BYTES:  # too few to tell: wait for more
                self._pending = data[first:]
                return data[:first].decode("ascii")
            try:
                utf8 = codecs.getincrementaldecoder("utf-8")("strict")
                text = utf8.decode(data, final)
                self._decoder = utf8
                return text
            except UnicodeDecodeError:
                self._decoder = codecs.getincrementaldecoder("gb18030")("strict")
        try:
            return self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise BodyMalformed(msg("detail.outcomes.dialect.file_neither_utf_nor")) from exc


class CsvRowDecoder:
    """Feed bytes, get rows: the CSV counterpart of :class:`~creditbank.outcomes.batch.RowDecoder`."""

    def __init__(self) -> None:
        self._text = TextDecoder()
        self._buffer = ""
        self._record = ""
        self._quotes = 0
        self._fields: list[str] | None = None
        self.row = 0

    def feed(self, data: bytes, final: bool = False) -> Iterator[ParsedRow]:
        self._buffer += self._text.decode(data, final)
        start = 0
        while True:
            newline = self._buffer.find("\n", start)
            if newline < 0:
                break
            yield from self._line(self._buffer[start : newline + 1])
            start = newline + 1
        self._buffer = self._buffer[start:]
        if len(self._record) + len(self._buffer) > MAX_ROW_BYTES:
            raise BodyMalformed(
                msg("detail.outcomes.dialect.csv_record_longer_than", MAX_ROW_BYTES=MAX_ROW_BYTES)
            )
        if final:
            if self._buffer:
                yield from self._line(self._buffer)
                self._buffer = ""
            if self._record:
                raise BodyMalformed(msg("detail.outcomes.dialect.row_quoted_cell_closed", value=self.row + 1))
            if self._fields is None:
                raise CsvHeaderInvalid(msg("detail.outcomes.dialect.file_empty_first_line"))

    def _line(self, line: str) -> Iterator[ParsedRow]:
        self._record += line
        self._quotes += line.count('"')
        if self._quotes % 2:
            return  # inside a quoted cell: the record goes on in the next line
        record, self._record, self._quotes = self._record, "", 0
        if not record.strip():
            return
        try:
            cells = next(csv.reader([record.rstrip("\r\n")], strict=True))
        except csv.Error as exc:
            if self._fields is None:
                raise CsvHeaderInvalid(msg("detail.outcomes.dialect.header_line_csv", exc=exc)) from exc
            self.row += 1
            yield ParsedRow(
                self.row, None, None, RowInvalid(msg("detail.outcomes.dialect.not_a_csv_row", exc=exc))
            )
            return
        if self._fields is None:
            self._fields = read_header(cells)
            return
        self.row += 1
        if len(cells) != len(self._fields):
            reference = self._reference(cells)
            yield ParsedRow(
                self.row,
                None,
                reference,
                RowInvalid(
                    msg("detail.outcomes.dialect.cell_count", cells=len(cells), fields=len(self._fields)),
                    errors=[{"loc": [], "msg": "cell count", "type": "cell_count"}],
                ),
            )
            return
        yield validate_row(self.row, row_body(self._fields, cells))

    def _reference(self, cells: list[str]) -> str | None:
        assert self._fields is not None
        at = self._fields.index("reference")
        return cells[at].strip() or None if at < len(cells) else None
