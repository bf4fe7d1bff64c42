"""Forms and uploads: the outcome form (errors by field) and CSV or XLSX files of outcomes (read
by the one batch pipeline, :mod:`creditbank.outcomes.pipeline`).

Both produce the same :class:`~creditbank.outcomes.schemas.OutcomeCreate` the API takes, so a
row is valid on a page exactly when it is valid through the API.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from creditbank.errors import ValidationFailed
from creditbank.i18n import Translator, msg
from creditbank.outcomes import dialect, pipeline
from creditbank.outcomes.batch import ParsedRow
from creditbank.outcomes.schemas import OutcomeCreate
from creditbank.rule_engine import models as rule_models

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
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_CHUNK_ROWS = 200  # rows per transaction: the page shows progress chunk by chunk


class UploadUnreadable(ValidationFailed):
    slug = "upload-unreadable"
    title = "The upload cannot be read"


@dataclass
class OutcomeForm:
    """What was typed, and the problems found, by field (``""`` for the form as a whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    item: OutcomeCreate | None = None

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)


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
        attributes[name.strip()] = dialect.attribute_value(value.strip())
    body["attributes"] = attributes
    try:
        item = OutcomeCreate.model_validate(body)
    except ValidationError as exc:
        apply_errors(form, exc, t)
        return form
    if not form.errors:
        form.item = item
    return form


def upload_rows(data: bytes, filename: str, max_rows: int) -> tuple[int, list[list[ParsedRow]]]:
    """How many data rows an uploaded CSV or XLSX file has, and its rows validated, in chunks:
    parsed by the one batch pipeline (:mod:`creditbank.outcomes.pipeline`), in its CSV dialect.

    Raises:
        UploadUnreadable: larger than :data:`MAX_UPLOAD_BYTES`.
        BodyMalformed: not CSV (UTF-8 or GB18030) or XLSX, or a header naming no outcome columns.
        TooManyRows: more than ``max_rows`` rows.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadUnreadable(
            msg("detail.web.forms.larger_than_mb", value=MAX_UPLOAD_BYTES // (1024 * 1024))
        )
    fmt: pipeline.Format = "xlsx" if filename.lower().endswith(".xlsx") else "csv"
    chunks = list(pipeline.file_chunks([data], fmt, UPLOAD_CHUNK_ROWS, max_rows))
    return sum(len(chunk) for chunk in chunks), chunks


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` naming a download after an uploaded file (RFC 6266: an ASCII
    fallback, and the name itself percent-encoded)."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "report"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
