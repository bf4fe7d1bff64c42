"""Bulk posting with constant memory.

The request body (JSON lines, or one JSON array) is read incrementally and decoded row by row
with the standard library's ``JSONDecoder.raw_decode``; rows are posted in chunks, each chunk in
its own transaction, so a huge upload never sits in memory and an interrupted upload keeps every
chunk that was acknowledged. Re-sending the same rows is safe: a row whose reference was already
posted with the same content is reported as a duplicate and applies nothing.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from creditbank import jsontext
from creditbank.errors import CreditBankError, ValidationFailed
from creditbank.i18n import msg
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.problems import accepted_values

CHUNK_ROWS = 2500  # rows per transaction: fewer commits, account locks and balance writes per row
# than with 1,000 (two concurrent uploads: about 5,000 -> 6,000 outcomes/s in bench/posting.py);
# 5,000 measured no better and holds the log's lock twice as long
MAX_ROW_BYTES = 64 * 1024


class RowInvalid(ValidationFailed):
    slug = "row-invalid"
    title = "A row of the upload is not valid"


class BodyMalformed(ValidationFailed):
    slug = "batch-malformed"
    title = "The upload is neither JSON lines nor a JSON array of objects"


@dataclass
class ParsedRow:
    row: int
    item: OutcomeCreate | None
    reference: str | None
    error: CreditBankError | None


def validate_row(row: int, value: Any) -> ParsedRow:
    reference = value.get("reference") if isinstance(value, dict) else None
    reference = reference if isinstance(reference, str) else None
    try:
        jsontext.check_depth(value)
    except jsontext.JsonTooDeep as exc:
        return ParsedRow(row, None, reference, RowInvalid(exc.detail))
    try:
        return ParsedRow(row, OutcomeCreate.model_validate(value), reference, None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg")),
                "type": str(e.get("type", "")),
                **_context(e),
                **accepted_values(e),
            }
            for e in exc.errors()
        ]
        return ParsedRow(row, None, reference, RowInvalid(detail, errors=errors))


def _context(error: Any) -> dict[str, Any]:
    """The printable part of a validation error's context (the values its message names)."""
    context = error.get("ctx")
    if not isinstance(context, dict):
        return {}
    kept = {k: v for k, v in context.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
    return {"ctx": kept} if kept else {}


class RowDecoder:
    """Feed bytes, get rows. Accepts JSON lines or a single top-level JSON array of objects.

    The undecoded text is kept in one buffer read from a moving position (``_pos``), so each byte
    is scanned a bounded number of times however many rows a block of the body holds.
    """

    def __init__(self) -> None:
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._pos = 0
        self._pending = b""
        self._mode: str | None = None  # "array" or "lines"
        self._closed = False
        self._expect = "first"  # in an array: "first" value or ], a "comma" or ], or a "value"
        self.row = 0

    def feed(self, data: bytes, final: bool = False) -> Iterator[ParsedRow]:
        self._pending += data
        try:
            text = self._pending.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as exc:
            if final or len(self._pending) - exc.start > 4:
                raise BodyMalformed(msg("detail.outcomes.batch.upload_utf")) from exc
            text = self._pending[: exc.start].decode("utf-8")
            self._pending = self._pending[exc.start :]
        self._buffer = self._buffer[self._pos :] + text
        self._pos = 0
        yield from self._drain(final)

    def _skip_space(self) -> int:
        """Move past whitespace; return the position of the next character (len when none)."""
        match = _SPACE.match(self._buffer, self._pos)
        self._pos = match.end() if match else self._pos
        return self._pos

    def _drain(self, final: bool) -> Iterator[ParsedRow]:
        buffer = self._buffer
        end = len(buffer)
        while True:
            pos = self._skip_space()
            if pos >= end:
                if final and self._mode == "array" and not self._closed:
                    raise BodyMalformed(msg("detail.outcomes.batch.json_array_closed"))
                return
            if self._closed:
                raise BodyMalformed(msg("detail.outcomes.batch.text_after_closing"))
            if self._mode is None:
                self._mode = "array" if buffer[pos] == "[" else "lines"
                if self._mode == "array":
                    self._pos += 1
                    continue
            if self._mode == "lines":
                newline = buffer.find("\n", pos)
                if newline < 0 and not final:
                    if end - pos > MAX_ROW_BYTES:
                        raise BodyMalformed(
                            msg("detail.outcomes.batch.line_longer_than_bytes", MAX_ROW_BYTES=MAX_ROW_BYTES)
                        )
                    return
                line_end = end if newline < 0 else newline
                line = buffer[pos:line_end]
                self._pos = line_end + 1 if newline >= 0 else end
                if not line.strip():
                    continue
                self.row += 1
                try:
                    value = jsontext.loads(line)
                except jsontext.JsonInvalid as exc:
                    yield ParsedRow(self.row, None, None, RowInvalid(exc.detail))
                    continue
                yield validate_row(self.row, value)
                continue
            # array mode: [ value , value , ... ]
            char = buffer[pos]
            if self._expect == "comma":
                if char == "]":
                    self._closed = True
                    self._pos += 1
                elif char == ",":
                    self._expect = "value"
                    self._pos += 1
                else:
                    raise BodyMalformed(msg("detail.outcomes.batch.expected_after_row_array", row=self.row))
                continue
            if char == "]":
                if self._expect == "value":
                    raise BodyMalformed(msg("detail.outcomes.batch.comma_before_closing"))
                self._closed = True
                self._pos += 1
                continue
            try:
                value, value_end = self._decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as exc:
                if final or end - pos > MAX_ROW_BYTES:
                    raise BodyMalformed(
                        msg("detail.outcomes.batch.row_array_json", value=self.row + 1, msg=exc.msg)
                    ) from exc
                return
            except RecursionError as exc:
                raise BodyMalformed(
                    msg("detail.outcomes.batch.row_array_nested_too", value=self.row + 1)
                ) from exc
            if value_end >= end and not final:
                return  # a number or literal may go on in the next block: decode it then
            self.row += 1
            self._pos = value_end
            self._expect = "comma"
            yield validate_row(self.row, value)


_SPACE = re.compile(r"[ \t\r\n]*")


class TooManyRows(CreditBankError):
    status = 413
    slug = "batch-too-many-rows"
    title = "The upload has more rows than one batch may hold"
