"""What the verification page shows of the transparency logs: each log's latest signed checkpoint,
checked against the checkpoint the browser saw before (remembered in a cookie) with a consistency
proof from :mod:`creditbank.transparency.store`.
"""

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from creditbank.errors import CreditBankError
from creditbank.i18n import Said, msg
from creditbank.standards.tlog import merkle, note
from creditbank.standards.tlog.errors import TransparencyError
from creditbank.transparency import store


@dataclass(frozen=True)
class SeenCheckpoint:
    size: int
    root: bytes


@dataclass(frozen=True)
class LogView:
    log_id: str
    origin: str
    verifier_key: str
    size: int | None
    root_b64: str | None
    note: str | None
    signature_ok: bool
    signature_error: Said | None
    consistency: str  # none | first | same | consistent | inconsistent
    previous_size: int | None
    reason: Said | None


def parse_seen(raw: str | None) -> dict[str, SeenCheckpoint]:
    """The checkpoints a browser saw, from its cookie (``{"log": [size, "base64 root"]}``, base64url)."""
    if not raw or len(raw) > 4000:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        return {}
    seen: dict[str, SeenCheckpoint] = {}
    if not isinstance(data, dict):
        return {}
    for log_id, value in data.items():
        if (
            isinstance(log_id, str)
            and isinstance(value, list)
            and len(value) == 2
            and isinstance(value[0], int)
            and isinstance(value[1], str)
        ):
            try:
                root = base64.b64decode(value[1], validate=True)
            except (ValueError, binascii.Error):
                continue
            if value[0] >= 0 and len(root) == merkle.HASH_SIZE:
                seen[log_id] = SeenCheckpoint(value[0], root)
    return seen


def format_seen(views: Iterable[LogView], before: Mapping[str, SeenCheckpoint]) -> str:
    """The cookie value remembering the checkpoints now shown (an inconsistent one is not adopted)."""
    data: dict[str, list[Any]] = {
        log_id: [s.size, base64.b64encode(s.root).decode()] for log_id, s in before.items()
    }
    for view in views:
        if view.size is not None and view.root_b64 is not None and view.consistency != "inconsistent":
            data[view.log_id] = [view.size, view.root_b64]
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _consistency(
    session: Session, log_id: str, seen: SeenCheckpoint, size: int, root: bytes
) -> tuple[str, Said | None]:
    if seen.size > size:
        return "inconsistent", msg("logs.shrank", before=seen.size, size=size)
    if seen.size == size:
        if seen.root != root:
            return "inconsistent", msg("logs.two_roots", size=size)
        return "same", None
    if seen.size == 0:
        return "consistent", None
    try:
        _, proof, _ = store.consistency(session, log_id, seen.size, size)
        merkle.verify_consistency(seen.size, size, proof, seen.root, root)
    except CreditBankError as exc:  # ProofInvalid, or no checkpoint of that size
        return "inconsistent", exc.said
    return "consistent", None


def log_views(session: Session, seen: Mapping[str, SeenCheckpoint]) -> list[LogView]:
    """Each log's latest signed checkpoint, its signature, and its consistency with what was seen."""
    views: list[LogView] = []
    for log in store.list_logs(session):
        verifier = store.verifier(log)
        latest = store.latest_checkpoint(session, log.id)
        if latest is None:
            views.append(
                LogView(
                    log.id, log.origin, verifier.to_text(), None, None, None, False, None, "none", None, None
                )
            )
            continue
        try:
            opened = note.open_checkpoint(latest.note.encode(), verifier)
            signature_ok, signature_error = True, None
            size, root = opened.size, opened.root_hash
        except TransparencyError as exc:
            signature_ok, signature_error = False, exc.said
            size, root = int(latest.size), bytes(latest.root)
        before = seen.get(log.id)
        if before is None:
            state, reason = "first", None
        else:
            state, reason = _consistency(session, log.id, before, size, root)
        views.append(
            LogView(
                log_id=log.id,
                origin=log.origin,
                verifier_key=verifier.to_text(),
                size=size,
                root_b64=base64.b64encode(root).decode(),
                note=latest.note,
                signature_ok=signature_ok,
                signature_error=signature_error,
                consistency=state,
                previous_size=before.size if before else None,
                reason=reason,
            )
        )
    return views
