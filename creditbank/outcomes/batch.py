"""Bulk posting with constant memory.

The request body (JSON lines, or one JSON array) is read incrementally and decoded row by row
with the standard library's ``JSONDecoder.raw_decode``; rows are posted in chunks, each chunk in
its own transaction, so a huge upload never sits in memory and an interrupted upload keeps every
chunk that was acknowledged. Re-sending the same rows is safe: a row whose reference was already
posted with the same content is reported as a duplicate and applies nothing.
"""

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from creditbank.errors import CreditBankError, ValidationFailed
from creditbank.outcomes.schemas import OutcomeCreate

CHUNK_ROWS = 1000
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
        return ParsedRow(row, OutcomeCreate.model_validate(value), reference, None)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg"))} for e in exc.errors()]
        return ParsedRow(row, None, reference, RowInvalid(detail, errors=errors))


class RowDecoder:
    """Feed bytes, get rows. Accepts JSON lines or a single top-level JSON array of objects."""

    def __init__(self) -> None:
        self._decoder = json.JSONDecoder()
        self._buffer = ""
        self._pending = b""
        self._mode: str | None = None  # "array" or "lines"
        self._closed = False
        self.row = 0

    def feed(self, data: bytes, final: bool = False) -> Iterator[ParsedRow]:
        self._pending += data
        try:
            text = self._pending.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as exc:
            if final or len(self._pending) - exc.start > 4:
                raise BodyMalformed("the upload is not UTF-8") from exc
            text = self._pending[: exc.start].decode("utf-8")
            self._pending = self._pending[exc.start :]
        self._buffer += text
        yield from self._drain(final)

    def _drain(self, final: bool) -> Iterator[ParsedRow]:
        while True:
            stripped = self._buffer.lstrip()
            if self._mode is None:
                if not stripped:
                    return
                self._mode = "array" if stripped[0] == "[" else "lines"
                if self._mode == "array":
                    stripped = stripped[1:]
            if self._mode == "array":
                stripped = stripped.lstrip()
                if stripped.startswith(","):
                    stripped = stripped[1:].lstrip()
                if stripped.startswith("]"):
                    self._closed = True
                    if stripped[1:].strip():
                        raise BodyMalformed("text after the closing ]")
                    self._buffer = ""
                    return
            if not stripped:
                self._buffer = ""
                if final and self._mode == "array" and not self._closed:
                    raise BodyMalformed("the JSON array is not closed")
                return
            if self._mode == "lines":
                newline = stripped.find("\n")
                if newline < 0 and not final:
                    if len(stripped) > MAX_ROW_BYTES:
                        raise BodyMalformed(f"a line longer than {MAX_ROW_BYTES} bytes")
                    self._buffer = stripped
                    return
                line, rest = (stripped, "") if newline < 0 else (stripped[:newline], stripped[newline + 1 :])
                self._buffer = rest
                if not line.strip():
                    continue
                self.row += 1
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield ParsedRow(self.row, None, None, RowInvalid(f"not JSON: {exc.msg}"))
                    continue
                yield validate_row(self.row, value)
                continue
            try:
                value, end = self._decoder.raw_decode(stripped)
            except json.JSONDecodeError as exc:
                if final or len(stripped) > MAX_ROW_BYTES:
                    raise BodyMalformed(f"row {self.row + 1} of the array is not JSON: {exc.msg}") from exc
                self._buffer = stripped
                return
            self.row += 1
            self._buffer = stripped[end:]
            yield validate_row(self.row, value)


async def chunks(stream: AsyncIterator[bytes], size: int = CHUNK_ROWS) -> AsyncIterator[list[ParsedRow]]:
    """Rows of the request body, ``size`` at a time."""
    decoder = RowDecoder()
    batch: list[ParsedRow] = []
    async for data in stream:
        for parsed in decoder.feed(data):
            batch.append(parsed)
            if len(batch) >= size:
                yield batch
                batch = []
    for parsed in decoder.feed(b"", final=True):
        batch.append(parsed)
    if batch:
        yield batch
