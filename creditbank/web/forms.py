"""Forms and uploads: the outcome form (errors by field) and CSV files of outcomes.

Both produce the same :class:`~creditbank.outcomes.schemas.OutcomeCreate` the API takes, so a
row is valid on a page exactly when it is valid through the API.
"""

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from creditbank.outcomes.batch import ParsedRow, validate_row
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import models as rule_models
from creditbank.web.i18n import Translator

OUTCOME_TYPES: tuple[str, ...] = rule_models.OUTCOME_TYPES  # the choices of the form
FORM_FIELDS: tuple[str, ...] = (
    "learner_id",
    "identity_number",
    "learner_name",
    "reference",
    "outcome_type",
    "title",
    "achieved_on",
    "hours",
    "level",
    "score",
    "grade",
    "field",
    "course_code",
    "evidence_hash",
)
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on", "是", "真"})
ATTRIBUTE_PREFIXES = ("attr.", "attributes.")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_ROWS = 50_000


class UploadUnreadable(ValueError):
    """The upload is not a CSV file this page can read."""


@dataclass
class OutcomeForm:
    """What was typed, and the problems found, by field (``""`` for the form as a whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    item: OutcomeCreate | None = None

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


def _attribute_value(text: str) -> str | int | bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.isdigit() and len(text) < 16:
        return int(text)
    return text


def _message(t: Translator, error: Mapping[str, Any]) -> str:
    key = f"err.{error.get('type', '')}"
    return t(key) if t.has(key) else str(error.get("msg", ""))


def apply_errors(form: OutcomeForm, exc: ValidationError, t: Translator) -> None:
    """Put pydantic's errors next to the fields they concern (whole-form rules name their fields)."""
    known = (*FORM_FIELDS, "identity_verified", "attributes")
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        text = str(error.get("msg", ""))
        if loc and loc[0] in known:
            form.error(loc[0], _message(t, error))
        elif "learner_id" in text:
            form.error("learner_id", t("err.one_learner"))
            form.error("identity_number", t("err.one_learner"))
        elif "achieved_on" in text:
            form.error("achieved_on", text.removeprefix("Value error, "))
        else:
            form.error("", text)


def read_outcome_form(data: Mapping[str, Any], t: Translator) -> OutcomeForm:
    """Validate the outcome form; ``item`` is set only when it is valid."""
    form = OutcomeForm()
    body: dict[str, Any] = {}
    for name in FORM_FIELDS:
        value = data.get(name)
        text = value.strip() if isinstance(value, str) else ""
        form.values[name] = text
        if text:
            body[name] = text
    verified = data.get("identity_verified")
    form.values["identity_verified"] = "on" if isinstance(verified, str) and verified else ""
    body["identity_verified"] = bool(form.values["identity_verified"])
    raw_attributes = data.get("attributes")
    attributes_text = raw_attributes if isinstance(raw_attributes, str) else ""
    form.values["attributes"] = attributes_text
    attributes: dict[str, str | int | bool] = {}
    for number, line in enumerate(attributes_text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            form.error("attributes", t("console.attributes_invalid", line=number))
            continue
        attributes[name.strip()] = _attribute_value(value.strip())
    body["attributes"] = attributes
    try:
        item = OutcomeCreate.model_validate(body)
    except ValidationError as exc:
        apply_errors(form, exc, t)
        return form
    if not form.errors:
        form.item = item
    return form


def decode_upload(data: bytes) -> str:
    """The text of an uploaded CSV: UTF-8 (with or without BOM), else GB18030 (Excel in China).

    Raises:
        UploadUnreadable: neither encoding reads it, or it is too large.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadUnreadable(f"larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UploadUnreadable("neither UTF-8 nor GB18030 text")


def _row_body(record: Mapping[str, str | None]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    attributes: dict[str, str | int | bool] = {}
    for raw_name, raw_value in record.items():
        if raw_name is None:
            continue
        name = raw_name.strip().lstrip("\ufeff")
        value = (raw_value or "").strip() if isinstance(raw_value, str) else ""
        if not name or not value:
            continue
        prefix = next((p for p in ATTRIBUTE_PREFIXES if name.startswith(p)), None)
        if prefix is not None:
            attributes[name[len(prefix) :]] = _attribute_value(value)
        elif name == "identity_verified":
            body[name] = value.lower() in TRUE_WORDS
        else:
            body[name] = value
    if attributes:
        body["attributes"] = attributes
    return body


def csv_rows(text: str) -> tuple[int, Iterator[ParsedRow]]:
    """How many data rows the CSV has, and each row validated (row numbers count data rows from 1).

    Raises:
        UploadUnreadable: no header line, no ``reference`` column, or too many rows.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lstrip("\ufeff") for h in (reader.fieldnames or [])]
    if not header:
        raise UploadUnreadable("the first line must name the columns")
    if "reference" not in header:
        raise UploadUnreadable("there is no reference column")
    records = list(reader)
    if len(records) > MAX_UPLOAD_ROWS:
        raise UploadUnreadable(f"more than {MAX_UPLOAD_ROWS} rows")

    def parsed() -> Iterator[ParsedRow]:
        for number, record in enumerate(records, start=1):
            yield validate_row(number, _row_body(record))

    return len(records), parsed()
