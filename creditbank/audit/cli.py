"""``creditbank audit ...``: verify checkpoints and whole logs from the command line.

``audit_app`` is a Typer app; the main CLI mounts it with ``app.add_typer(audit_app, name="audit")``.
Exit status: 0 when every check held, 1 when a check failed, 2 when the audit could not run (a malformed
key, an unreadable file or state file).
"""

import json
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from creditbank import __version__
from creditbank.audit.checkpoint import parse_verifier_keys, verify_checkpoint
from creditbank.audit.errors import AuditError
from creditbank.audit.verify import PAGE_SIZE, VerifyReport, run_verify
from creditbank.cli_common import cli_help, echo
from creditbank.i18n import Message, joined, msg
from creditbank.standards.tlog.errors import CheckpointInvalid, NoteInvalid, NoteKeyInvalid
from creditbank.standards.tlog.note import NoteVerifier

audit_app = typer.Typer(help=cli_help("help.audit.audit_app"), no_args_is_help=True)

KeyOption = Annotated[
    list[str],
    typer.Option(
        "--key",
        help=cli_help("help.audit.KeyOption"),
    ),
]


def _keys(texts: list[str]) -> list[NoteVerifier]:
    try:
        return parse_verifier_keys(texts)
    except NoteKeyInvalid as exc:
        echo(msg("cli.audit.error_bad_verifier_key", reason=exc.said), err=True)
        raise typer.Exit(2) from exc


@audit_app.command("checkpoint", help=cli_help("help.audit.checkpoint"))
def checkpoint(
    file: Annotated[Path, typer.Argument(help=cli_help("help.audit.checkpoint.file"))],
    key: KeyOption,
    origin: Annotated[str | None, typer.Option(help=cli_help("help.audit.checkpoint.origin"))] = None,
) -> None:
    """Verify a C2SP checkpoint (any log's) with a verifier key; print its origin, size and root.

    Exit 0 when a given key signed it and it is a well-formed checkpoint, 1 otherwise, 2 for a
    malformed key or an unreadable file.
    """
    keys = _keys(key)
    try:
        note = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        echo(msg("cli.audit.error_cannot_read", file=file, strerror=exc.strerror), err=True)
        raise typer.Exit(2) from exc
    try:
        verified = verify_checkpoint(note, keys, origin=origin)
    except (NoteInvalid, NoteKeyInvalid) as exc:
        echo(msg("cli.audit.signature_failed", reason=exc.said), err=True)
        raise typer.Exit(1) from exc
    except CheckpointInvalid as exc:
        echo(msg("cli.audit.signature_ok_but_valid", reason=exc.said), err=True)
        raise typer.Exit(1) from exc
    for signature in verified.signatures:
        echo(msg("cli.audit.signature_ok", name=signature.name, value=signature.key_id.hex()))
    cp = verified.checkpoint
    echo(msg("cli.audit.origin", origin=cp.origin))
    echo(msg("cli.audit.size", size=cp.size))
    echo(msg("cli.audit.root_hex", value=cp.format().splitlines()[2], value2=cp.root_hash.hex()))
    for line in cp.extensions:
        echo(msg("cli.audit.extension", line=line))


def print_report(report: VerifyReport) -> None:
    """Print each step's result and every failed check (findings beyond the stored ones are counted),
    in the command line's language."""
    cp = report.checkpoint
    if cp is None:
        for finding in report.findings:
            echo(msg("cli.audit.verify.fail", finding=finding.line()), err=True)
        echo(msg("cli.audit.verify.no_checkpoint", log_id=report.log_id), err=True)
        return
    echo(msg("cli.audit.verify.checkpoint", origin=cp.origin, size=cp.size, root=cp.root_hash.hex()))
    if report.previous is None:
        echo(msg("cli.audit.verify.no_previous"))
    elif not any(f.check in ("rollback", "consistency") for f in report.findings):
        echo(msg("cli.audit.verify.previous_consistent", size=report.previous.size))
    leaf_hashes = _ok(report.leaf_hashes_ok)
    echo(msg("cli.audit.verify.entries", entries=report.entries, size=cp.size, leaf_hashes=leaf_hashes))
    echo(msg("cli.audit.verify.root", root=_ok(report.root_ok)))
    if report.replay is not None:
        counts = [
            msg("cli.audit.verify.kind_count", count=n, kind=k)
            for k, n in sorted(report.replay.kinds.items())
        ]
        kinds = joined(counts) if counts else msg("cli.audit.verify.no_entries")
        replay = report.replay
        echo(msg("cli.audit.verify.replay", kinds=kinds, lots=replay.lots, accounts=replay.learner_accounts))
    for finding in report.findings:
        echo(msg("cli.audit.verify.fail", finding=finding.line()), err=True)
    hidden = report.finding_count - len(report.findings)
    if hidden:
        echo(msg("cli.audit.verify.hidden", hidden=hidden), err=True)
    if report.ok and report.state_saved:
        echo(msg("cli.audit.verify.passed_saved", log_id=report.log_id))
    elif report.ok:
        echo(msg("cli.audit.verify.passed", log_id=report.log_id))
    else:
        echo(msg("cli.audit.verify.failed", log_id=report.log_id, count=report.finding_count), err=True)


def _ok(value: bool) -> Message:
    return msg("cli.audit.verify.ok") if value else msg("cli.audit.verify.failed_mark")


@audit_app.command("verify", help=cli_help("help.audit.verify"))
def verify(
    url: Annotated[str, typer.Option(help=cli_help("help.audit.verify.url"))],
    key: Annotated[str, typer.Option(help=cli_help("help.audit.verify.key"))],
    log: Annotated[str, typer.Option(help=cli_help("help.audit.verify.log"))] = "main",
    state: Annotated[
        Path | None,
        typer.Option(help=cli_help("help.audit.verify.state")),
    ] = None,
    page_size: Annotated[
        int, typer.Option(min=1, max=PAGE_SIZE, help=cli_help("help.audit.verify.page_size"))
    ] = PAGE_SIZE,
    timeout: Annotated[float, typer.Option(help=cli_help("help.audit.verify.timeout"))] = 60.0,
    progress: Annotated[bool, typer.Option(help=cli_help("help.audit.verify.progress"))] = True,
) -> None:
    """Audit a whole log: signature, consistency, leaf hashes, root and the journal's invariants.

    Checks the checkpoint's signature, its consistency with the one saved by the last run, every leaf
    hash, the root, and replays the journal invariants from the leaves. Exit 0 only if every check
    passed.
    """
    [verifier] = _keys([key])
    headers = {"User-Agent": f"creditbank-audit/{__version__}"}
    try:
        with httpx.Client(base_url=url, timeout=timeout, headers=headers, follow_redirects=True) as client:
            report = run_verify(
                client, verifier, log_id=log, state_file=state, page_size=page_size, progress=progress
            )
    except AuditError as exc:
        echo(msg("cli.error_slug", slug=exc.slug, reason=exc.said), err=True)
        raise typer.Exit(2) from exc
    print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("database", help=cli_help("help.audit.database"))
def database(
    url: Annotated[
        str | None,
        typer.Option(help=cli_help("help.audit.database.url")),
    ] = None,
    max_differences: Annotated[
        int, typer.Option(min=1, help=cli_help("help.audit.database.max_differences"))
    ] = 1_000,
    as_json: Annotated[bool, typer.Option("--json", help=cli_help("help.audit.database.as_json"))] = False,
) -> None:
    """Recompute balances, lots, lot states, recognitions, conversions and the tree from the journal.

    The operator's internal audit, with database access: every table the service answers from is
    compared with what the journal's leaves say, and each difference is printed by table and row id.
    Exit 0 when nothing differs, 1 when something does, 2 when the audit could not run.
    """
    from creditbank.audit.database import audit_database, helper_connection, snapshot
    from creditbank.config import get_settings
    from creditbank.db import create_engine

    target = url or get_settings().effective_database_url
    engine = create_engine(target)
    try:
        with snapshot(engine) as driver, helper_connection(engine) as helper:
            progress = None if as_json else (lambda step: echo(msg("cli.audit.reading", step=step), err=True))
            report = audit_database(driver, max_differences=max_differences, progress=progress, helper=helper)
    except Exception as exc:  # unreachable, not migrated, ...: say so, exit 2
        echo(msg("cli.audit.error_audit_could_run", kind=type(exc).__name__, exc=exc), err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "engine": report.engine,
                    "entries": report.entries,
                    "rows": report.rows,
                    "difference_count": report.difference_count,
                    "differences": [d.as_dict() for d in report.differences],
                },
                ensure_ascii=False,
            )
        )
    else:
        entries = ", ".join(f"{log} {n}" for log, n in sorted(report.entries.items())) or "none"
        echo(msg("cli.audit.journal_entries", entries=entries, engine=report.engine))
        compared = ", ".join(f"{table} {n}" for table, n in sorted(report.rows.items()))
        echo(msg("cli.audit.rows_compared", rows=compared))
        for difference in report.differences:
            echo(msg("cli.audit.diff", difference=difference.line()), err=True)
        hidden = report.difference_count - len(report.differences)
        if hidden:
            echo(msg("cli.audit.more_differences", hidden=hidden), err=True)
        if report.ok:
            echo(msg("cli.audit.database_audit_every_served"))
        else:
            echo(
                msg("cli.audit.database_audit_failed_difference", difference_count=report.difference_count),
                err=True,
            )
    if not report.ok:
        raise typer.Exit(1)
