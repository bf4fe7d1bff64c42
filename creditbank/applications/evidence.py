"""Evidence files: what they are is read from their bytes, never from their name or declared type.

How this works (:func:`check`):

1. the file must not be empty nor over the per-file limit (``application_file_max_bytes``);
2. its first bytes say which of the three accepted types it is: ``%PDF-`` (PDF), ``FF D8 FF``
   (JPEG) or the PNG signature; anything else is refused as an unsupported type;
3. a file whose name or declared type says PDF (or JPEG, PNG) but whose bytes are another type is
   refused as mistyped: a reviewer must never open something other than what the learner named;
4. the bytes are parsed for real, with ``pypdf`` (a PDF must have at least one page) or Pillow (an
   image must decode, within Pillow's decompression-bomb limit); a file that claims a type and does
   not parse as it is refused.

The caller checks the total of a submission (``application_max_bytes``) and the number of files.
"""

import hashlib
import io
import unicodedata
import warnings
from dataclasses import dataclass

from creditbank.errors import CreditBankError, PayloadTooLarge, ValidationFailed
from creditbank.i18n import msg

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
ACCEPTED = (PDF, JPEG, PNG)
_SIGNATURES = ((b"%PDF-", PDF), (b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG))
_EXTENSIONS = {".pdf": PDF, ".jpg": JPEG, ".jpeg": JPEG, ".png": PNG}
_DECLARED = {PDF: PDF, "image/jpeg": JPEG, "image/jpg": JPEG, "image/pjpeg": JPEG, "image/png": PNG}


class EvidenceTooLarge(PayloadTooLarge):
    slug = "evidence-too-large"
    title = "An evidence file, or the evidence of one submission, is larger than allowed"


class EvidenceEmpty(ValidationFailed):
    slug = "evidence-empty"
    title = "An evidence file is empty"


class EvidenceTypeUnsupported(CreditBankError):
    status = 415
    slug = "evidence-type-unsupported"
    title = "Evidence must be a PDF, JPEG or PNG file"


class EvidenceTypeMismatch(ValidationFailed):
    slug = "evidence-type-mismatch"
    title = "The file is not of the type its name or declared type claims"


class EvidenceUnreadable(ValidationFailed):
    slug = "evidence-unreadable"
    title = "The file could not be read as the type it claims (damaged or not what it says)"


class TooManyFiles(ValidationFailed):
    slug = "evidence-too-many-files"
    title = "Too many evidence files in one submission"


class EvidenceRequired(ValidationFailed):
    slug = "evidence-required"
    title = "Attach at least one evidence file (PDF, JPEG or PNG)"


@dataclass(frozen=True)
class Evidence:
    """One checked file: a safe name, its type by content, its bytes and their SHA-256."""

    filename: str
    media_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


def safe_name(filename: str) -> str:
    """The file's base name, NFKC, without control characters or path separators, at most 120 chars."""
    name = unicodedata.normalize("NFKC", filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in '"<>')
    return name.strip()[:120] or "evidence"


def sniff(data: bytes) -> str | None:
    """The accepted type whose signature the bytes start with, if any."""
    return next((kind for magic, kind in _SIGNATURES if data.startswith(magic)), None)


def claimed(filename: str, declared: str | None) -> str | None:
    """The accepted type the name's extension (else the declared media type) claims, if any."""
    dot = filename.rfind(".")
    by_name = _EXTENSIONS.get(filename[dot:].lower()) if dot >= 0 else None
    by_type = _DECLARED.get((declared or "").split(";")[0].strip().lower())
    return by_name or by_type


def _parses(kind: str, data: bytes) -> bool:
    if kind == PDF:
        from pypdf import PdfReader

        try:
            return len(PdfReader(io.BytesIO(data), strict=False).pages) > 0
        except Exception:  # pypdf raises many kinds (PdfReadError, ValueError, KeyError, ...)
            return False
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != ("JPEG" if kind == JPEG else "PNG"):
                    return False
                image.load()
        return True
    except Exception:  # Pillow raises OSError, SyntaxError, DecompressionBomb*, ...
        return False


def check(filename: str, declared: str | None, data: bytes, *, max_bytes: int) -> Evidence:
    """One uploaded file, checked (see the module docstring).

    Raises:
        EvidenceEmpty, EvidenceTooLarge, EvidenceTypeUnsupported, EvidenceTypeMismatch,
        EvidenceUnreadable: as the steps say.
    """
    name = safe_name(filename)
    if not data:
        raise EvidenceEmpty(msg("detail.applications.evidence.empty", name=name), file=name)
    if len(data) > max_bytes:
        raise EvidenceTooLarge(
            msg("detail.applications.evidence.file_too_large", name=name, limit=max_bytes),
            file=name,
            limit=max_bytes,
        )
    kind = sniff(data)
    said = claimed(name, declared)
    if kind is None:
        if said is not None:
            raise EvidenceTypeMismatch(
                msg("detail.applications.evidence.not_what_it_claims", name=name, claimed=said), file=name
            )
        raise EvidenceTypeUnsupported(msg("detail.applications.evidence.unsupported", name=name), file=name)
    if said is not None and said != kind:
        raise EvidenceTypeMismatch(
            msg("detail.applications.evidence.not_what_it_claims", name=name, claimed=said), file=name
        )
    if not _parses(kind, data):
        raise EvidenceUnreadable(
            msg("detail.applications.evidence.unreadable", name=name, kind=kind), file=name
        )
    return Evidence(filename=name, media_type=kind, data=data)


def check_all(
    files: list[tuple[str, str | None, bytes]], *, max_file: int, max_total: int, max_files: int
) -> list[Evidence]:
    """The files of one submission, each checked, then their number and total size.

    Raises:
        EvidenceRequired: no file.
        TooManyFiles: more than ``max_files``.
        EvidenceTooLarge: together over ``max_total`` bytes (or one over ``max_file``).
        and what :func:`check` raises for the first bad file.
    """
    if not files:
        raise EvidenceRequired(msg("detail.applications.evidence.required"))
    if len(files) > max_files:
        raise TooManyFiles(msg("detail.applications.evidence.too_many", limit=max_files), limit=max_files)
    total = sum(len(data) for _, _, data in files)
    if total > max_total:
        raise EvidenceTooLarge(
            msg("detail.applications.evidence.total_too_large", limit=max_total), limit=max_total
        )
    return [check(name, declared, data, max_bytes=max_file) for name, declared, data in files]


def manifest_hash(items: list[Evidence]) -> str:
    """``sha256:<hex>`` over the files' own hashes, one per line, in the order given: what the outcome
    records of its evidence."""
    lines = "".join(f"{item.sha256}\n" for item in items)
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
