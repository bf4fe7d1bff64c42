"""Auditing a log over its public HTTP interface, trusting nothing but the log's public key.

How this works (:func:`run_verify`, one log):

1. Download ``GET /logs/{log}/checkpoint`` and verify it with the log's verifier key (named after the
   log's origin).
2. Compare it with the checkpoint saved by the previous run (the state file): a smaller tree is a
   rollback; a larger one must come with a valid RFC 9162 consistency proof
   (``GET /logs/{log}/proof/consistency``); an equal size must have the same root.
3. Download every entry of the checkpoint's tree (``GET /logs/{log}/entries``, pages of 1,000), check
   each served ``leaf_hash`` against SHA-256(0x00 || leaf), fold the leaves into a streaming
   :class:`~creditbank.standards.tlog.merkle.Frontier` and feed them to a
   :class:`~creditbank.audit.replay.Replay` in the same pass.
4. Compare the recomputed root with the checkpoint's root, collect the replay's findings.
5. Only when every check held, save the new checkpoint (the signed note itself) to the state file.

Problems with the log are findings in the :class:`VerifyReport`, never exceptions: the report lists
them all. Only a state file that cannot be trusted raises (:class:`StateFileInvalid`).
"""

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from tqdm import tqdm

from creditbank.audit.checkpoint import verify_checkpoint
from creditbank.audit.errors import StateFileInvalid
from creditbank.audit.findings import Finding
from creditbank.audit.replay import Replay, ReplayStats
from creditbank.i18n import Said, msg
from creditbank.standards.tlog import merkle
from creditbank.standards.tlog.errors import CheckpointInvalid, NoteInvalid, NoteKeyInvalid, ProofInvalid
from creditbank.standards.tlog.note import Checkpoint, NoteVerifier

PAGE_SIZE = 1000
"""Entries per request: the most the log serves in one page."""

STATE_FORMAT = "creditbank-audit-state/1"
_LEAF_PREFIX = merkle.LEAF_PREFIX
_sha256 = hashlib.sha256


# --- the state file ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedState:
    """The checkpoint that the last successful audit of a log verified, kept as its signed note."""

    log_id: str
    note: str
    checkpoint: Checkpoint
    verified_at: str

    @classmethod
    def load(cls, path: Path, key: NoteVerifier, log_id: str) -> "SavedState | None":
        """Read the state file, re-verifying its checkpoint with ``key``; None if the file does not exist.

        Raises:
            StateFileInvalid: the file is unreadable or not a state file, is for another log, or its
                checkpoint does not verify with ``key``.
        """
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StateFileInvalid(
                msg("detail.audit.verify.cannot_read_state_file", path=path, exc=exc)
            ) from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise StateFileInvalid(msg("detail.audit.verify.state_file_json", path=path, exc=exc)) from exc
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise StateFileInvalid(
                msg("detail.audit.verify.not_state_file", path=path, STATE_FORMAT=STATE_FORMAT)
            )
        if data.get("log") != log_id:
            raise StateFileInvalid(
                msg("detail.audit.verify.state_file_log", path=path, value=data.get("log"), log_id=log_id)
            )
        note = data.get("checkpoint")
        if not isinstance(note, str):
            raise StateFileInvalid(msg("detail.audit.verify.state_file_holds_no", path=path))
        try:
            checkpoint = verify_checkpoint(note.encode("utf-8"), [key], origin=key.name).checkpoint
        except (NoteInvalid, NoteKeyInvalid, CheckpointInvalid) as exc:
            raise StateFileInvalid(
                msg("detail.audit.verify.checkpoint_does_verify_given", path=path, reason=exc.said)
            ) from exc
        if data.get("size") != checkpoint.size or data.get("root") != _b64(checkpoint.root_hash):
            raise StateFileInvalid(msg("detail.audit.verify.size_root_differ_from", path=path))
        return cls(log_id, note, checkpoint, str(data.get("verified_at", "")))

    def save(self, path: Path) -> None:
        """Write the state file atomically (a temporary file renamed over it)."""
        body = {
            "format": STATE_FORMAT,
            "log": self.log_id,
            "origin": self.checkpoint.origin,
            "size": self.checkpoint.size,
            "root": _b64(self.checkpoint.root_hash),
            "verified_at": self.verified_at,
            "checkpoint": self.note,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(body, handle, ensure_ascii=False, indent=2)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# --- the report ----------------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What :func:`run_verify` found. ``ok`` only when the checkpoint verified and no check failed."""

    log_id: str
    checkpoint: Checkpoint | None = None
    previous: Checkpoint | None = None
    entries: int = 0
    leaf_hashes_ok: bool = False
    root_ok: bool = False
    replay: ReplayStats | None = None
    findings: list[Finding] = field(default_factory=list)
    finding_count: int = 0
    state_saved: bool = False
    max_findings: int = 1000

    @property
    def ok(self) -> bool:
        return self.checkpoint is not None and self.finding_count == 0

    def add(self, finding: Finding) -> None:
        self.finding_count += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(finding)


class _FetchFailed(Exception):
    """The server's answer was not what the interface promises (status, JSON shape, base64)."""

    def __init__(self, said: Said) -> None:
        super().__init__(str(said))
        self.said = said


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: Said) -> bytes:
    if not isinstance(text, str):
        raise _FetchFailed(msg("audit.fetch.not_base64", what=what))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _FetchFailed(msg("audit.fetch.not_standard_base64", what=what)) from exc


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


def _get(client: httpx.Client, path: str, params: dict[str, int] | None = None) -> httpx.Response:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise _FetchFailed(msg("audit.fetch.get_failed", path=path, error=str(exc))) from exc
    if response.status_code != 200:
        raise _FetchFailed(msg("audit.fetch.get_status", path=path, problem=_problem(response)))
    return response


def _tx_id_of(leaf: bytes) -> str | None:
    try:
        body = json.loads(leaf)
    except ValueError:
        return None
    tx_id = body.get("id") if isinstance(body, dict) else None
    return tx_id if isinstance(tx_id, str) else None


# --- the steps -----------------------------------------------------------------------------------------


def _check_against_saved(
    client: httpx.Client, base: str, key: NoteVerifier, old: Checkpoint, new: Checkpoint
) -> Finding | None:
    """Step 2: is ``new`` an extension of the tree ``old`` that the last audit saw?"""
    if new.size < old.size:
        return Finding(
            "rollback",
            msg("audit.rollback", new=new.size, old=old.size),
        )
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            return Finding(
                "consistency",
                msg("audit.consistency.forked", size=new.size),
            )
        return None
    if old.size == 0:
        return None  # the empty tree is a prefix of every tree
    try:
        response = _get(client, f"{base}/proof/consistency", {"first": old.size, "second": new.size})
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("proof"), list):
            raise _FetchFailed(msg("audit.fetch.no_proof_list"))
        proof = [_unb64(h, msg("audit.fetch.what.proof_hash")) for h in body["proof"]]
        note = body.get("checkpoint")
        if not isinstance(note, str):
            raise _FetchFailed(msg("audit.fetch.no_proof_checkpoint"))
    except (_FetchFailed, ValueError) as exc:
        reason = exc.said if isinstance(exc, _FetchFailed) else str(exc)
        return Finding(
            "consistency", msg("audit.consistency.unproved", new=new.size, old=old.size, reason=reason)
        )
    try:
        answered = verify_checkpoint(note.encode("utf-8"), [key], origin=key.name).checkpoint
    except (NoteInvalid, CheckpointInvalid) as exc:
        return Finding("consistency", msg("audit.consistency.bad_checkpoint", reason=exc.said))
    if (answered.size, answered.root_hash) != (new.size, new.root_hash):
        return Finding("consistency", msg("audit.consistency.other_checkpoint"))
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root_hash, new.root_hash)
    except ProofInvalid as exc:
        return Finding(
            "consistency",
            msg("audit.consistency.not_extension", new=new.size, old=old.size, reason=exc.said),
        )
    return None


def _page(client: httpx.Client, base: str, start: int, end: int) -> list[tuple[int, bytes, bytes]]:
    """Download entries [start, end) as (index, leaf, served leaf hash).

    Raises:
        _FetchFailed: the request failed, or the answer is not exactly those entries.
    """
    response = _get(client, f"{base}/entries", {"start": start, "end": end})
    try:
        entries = response.json()["entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _FetchFailed(msg("audit.fetch.page_not_json", start=start, end=end)) from exc
    if not isinstance(entries, list):
        raise _FetchFailed(msg("audit.fetch.page_no_list", start=start, end=end))
    page: list[tuple[int, bytes, bytes]] = []
    for expected, entry in enumerate(entries, start):
        if not isinstance(entry, dict) or entry.get("index") != expected:
            raise _FetchFailed(
                msg(
                    "audit.fetch.page_wrong_entry",
                    expected=expected,
                    start=start,
                    end=end,
                    got=f"{entry!r:.80}",
                )
            )
        page.append(
            (
                expected,
                _unb64(entry.get("leaf"), msg("audit.fetch.what.leaf", index=expected)),
                _unb64(entry.get("leaf_hash"), msg("audit.fetch.what.leaf_hash", index=expected)),
            )
        )
    if len(page) != end - start:
        raise _FetchFailed(msg("audit.fetch.page_count", start=start, end=end, count=len(page)))
    return page


def _pages(
    client: httpx.Client, base: str, size: int, page_size: int
) -> Iterator[list[tuple[int, bytes, bytes]]]:
    """Step 3's download: pages in order until ``size``, the next one fetched while the caller checks
    the current one (one request in flight at a time, so the client is never used concurrently).

    Raises:
        _FetchFailed: see :func:`_page`.
    """
    ranges = [(start, min(start + page_size, size)) for start in range(0, size, page_size)]
    if not ranges:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-fetch") as pool:
        pending = pool.submit(_page, client, base, *ranges[0])
        for following in [*ranges[1:], None]:
            page = pending.result()
            if following is not None:
                pending = pool.submit(_page, client, base, *following)
            yield page


def run_verify(
    client: httpx.Client,
    key: NoteVerifier,
    *,
    log_id: str = "main",
    state_file: Path | None = None,
    page_size: int = PAGE_SIZE,
    progress: bool = False,
    max_findings: int = 1000,
) -> VerifyReport:
    """Audit one log through ``client`` (an :class:`httpx.Client` whose base URL is the service's).

    Raises:
        StateFileInvalid: ``state_file`` exists but cannot be trusted (see :meth:`SavedState.load`).
    """
    report = VerifyReport(log_id=log_id, max_findings=max_findings)
    base = f"logs/{quote(log_id, safe='')}"
    # 1. The checkpoint, signed by the log's key.
    try:
        note = _get(client, f"{base}/checkpoint").content
    except _FetchFailed as exc:
        report.add(Finding("checkpoint-fetch", exc.said))
        return report
    try:
        checkpoint = verify_checkpoint(note, [key], origin=key.name).checkpoint
    except (NoteInvalid, CheckpointInvalid) as exc:
        report.add(Finding("checkpoint-signature", exc.said))
        return report
    report.checkpoint = checkpoint
    # 2. Against the checkpoint the previous audit verified.
    saved = SavedState.load(state_file, key, log_id) if state_file is not None else None
    if saved is not None:
        report.previous = saved.checkpoint
        finding = _check_against_saved(client, base, key, saved.checkpoint, checkpoint)
        if finding is not None:
            report.add(finding)
    # 3. Every entry: leaf hash, frontier, replay.
    frontier = merkle.Frontier()
    replay = Replay(log_id, max_findings=max_findings)
    hashes_ok = True
    complete = False
    bar = tqdm(
        total=checkpoint.size,
        unit=" entries",
        unit_scale=True,
        desc=f"audit {log_id}",
        file=sys.stderr,
        disable=not progress,
    )
    try:
        for page in _pages(client, base, checkpoint.size, page_size):
            for index, leaf, served in page:
                computed = _sha256(_LEAF_PREFIX + leaf).digest()
                if served != computed:
                    hashes_ok = False
                    report.add(
                        Finding(
                            "leaf-hash",
                            msg("audit.leaf_hash", served=_b64(served), computed=_b64(computed)),
                            index,
                            _tx_id_of(leaf),
                        )
                    )
                frontier.append(computed)
                replay.feed(leaf)
            bar.update(len(page))
        complete = True
    except _FetchFailed as exc:
        report.add(Finding("entries-fetch", exc.said, frontier.size))
    finally:
        bar.close()
    report.entries = frontier.size
    report.leaf_hashes_ok = complete and hashes_ok
    # 4. The root, and the replay's findings.
    if complete:
        recomputed = frontier.root()
        if recomputed != checkpoint.root_hash:
            report.add(
                Finding(
                    "root",
                    msg(
                        "audit.root",
                        size=frontier.size,
                        recomputed=_b64(recomputed),
                        signed=_b64(checkpoint.root_hash),
                    ),
                )
            )
        else:
            report.root_ok = True
    report.replay = replay.stats()
    for finding in replay.findings:
        report.add(finding)
    report.finding_count += replay.finding_count - len(replay.findings)
    # 5. Remember this checkpoint, only if everything held.
    if report.ok and state_file is not None:
        verified_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        SavedState(log_id, note.decode("utf-8"), checkpoint, verified_at).save(state_file)
        report.state_saved = True
    return report
