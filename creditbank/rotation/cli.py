"""``creditbank secrets rotate master-key|session-secret|pepper`` and ``creditbank secrets
retire-pepper`` (see :mod:`creditbank.rotation.service` and :mod:`creditbank.rotation.pepper`)."""

import datetime as dt
from enum import StrEnum

import typer

from creditbank.cli_common import context, session_scope
from creditbank.context import AppContext
from creditbank.crypto.errors import DecryptionFailed
from creditbank.rotation import pepper as peppers
from creditbank.rotation import service as rotation

secrets_app = typer.Typer(help="secret keys: rotation", no_args_is_help=True)


class Rotatable(StrEnum):
    master_key = "master-key"
    session_secret = "session-secret"  # noqa: S105 - a name, not a secret
    pepper = "pepper"


@secrets_app.command("rotate")
def rotate(secret: Rotatable) -> None:
    """Replace a secret with a new random one. Stop every server process first and start them again
    afterwards: a running process keeps the old secret (see docs/operations.md)."""
    ctx = context()
    if secret is Rotatable.pepper:
        _rotate_pepper(ctx)
        return
    name = "master.key" if secret is Rotatable.master_key else "session.key"
    current = ctx.settings.secret_path(name)
    try:
        pending, value = rotation.new_key_file(current)
    except FileExistsError as exc:
        typer.echo(
            f"{exc.filename} is left from an interrupted rotation: check it, remove it, run again", err=True
        )
        raise typer.Exit(2) from exc
    if secret is Rotatable.master_key:
        try:
            with session_scope(ctx) as session:
                learners, signing_keys, logs = rotation.rewrap_master_key(session, ctx.secrets, value)
        except DecryptionFailed as exc:
            pending.unlink()
            typer.echo(
                f"nothing changed: a sealed key does not open with the current master key ({exc})", err=True
            )
            raise typer.Exit(1) from exc
        typer.echo(f"re-sealed {learners} learner data keys, {signing_keys} signing keys, {logs} log keys")
    retired = rotation.put_in_place(current, pending)
    typer.echo(f"{current} holds the new {secret.value}; the old one is kept as {retired}")
    typer.echo("start every server process again now (they hold the old secret until then)")


def _rotate_pepper(ctx: AppContext) -> None:
    current = ctx.settings.secret_path("pepper.key")
    try:
        pending, value, fresh = peppers.pending_pepper(current)
    except peppers.RotationRefused as exc:
        typer.echo(f"nothing changed: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        with session_scope(ctx) as session:
            done = peppers.rotate_in_database(session, ctx, value)
    except (peppers.RotationRefused, DecryptionFailed) as exc:
        if fresh:  # made by this run and used for nothing
            pending.unlink()
        if isinstance(exc, DecryptionFailed):
            typer.echo(
                f"nothing changed: a learner's vault does not open with the master key ({exc})", err=True
            )
            raise typer.Exit(1) from exc
        typer.echo(f"nothing changed: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        previous = peppers.put_in_place(current, pending, ctx.secrets.pepper)
    except peppers.RotationRefused as exc:
        typer.echo(f"the database is rotated, the files are not: {exc}", err=True)
        raise typer.Exit(2) from exc
    if done.resumed:
        typer.echo("the database step was done by an interrupted run; the files are in place now")
    else:
        typer.echo(
            f"recomputed {done.learners} identity-number lookups ({done.learners_without_lookup} learners "
            f"have none: erased); {done.tokens} tokens will be re-hashed on their next use; "
            f"{done.sessions} browser sessions ended"
        )
    typer.echo(f"{current} holds the new pepper; the previous one is kept as {previous} until it is retired")
    typer.echo("start every server process again now (they hold the old pepper until then)")
    typer.echo(
        "after the grace period, run `creditbank secrets retire-pepper`: tokens not used by then are revoked"
    )


@secrets_app.command("retire-pepper")
def retire_pepper(
    grace_days: float = typer.Option(
        30.0, help="days since the rotation that must have passed (tokens not used by then are revoked)"
    ),
) -> None:
    """End the pepper before the last rotation: tokens not used since are revoked (issue them again),
    idempotency keys used before the rotation can no longer be replayed. Stop every server process
    first and start them again afterwards (see docs/operations.md)."""
    ctx = context()
    current = ctx.settings.secret_path("pepper.key")
    try:
        with session_scope(ctx) as session:
            done = peppers.retire_in_database(session, dt.timedelta(days=grace_days))
    except peppers.NothingToRetire as exc:
        if ctx.secrets.previous_pepper is None:
            typer.echo(f"nothing changed: {exc}", err=True)
            raise typer.Exit(2) from exc
        retired = peppers.retire_file(current)  # an interrupted retirement: finish it
        typer.echo(f"the database step was done by an interrupted run; the previous pepper is now {retired}")
        return
    except peppers.RotationRefused as exc:
        typer.echo(f"nothing changed: {exc}", err=True)
        raise typer.Exit(2) from exc
    retired = peppers.retire_file(current)
    typer.echo(
        f"retired the pepper of before {done.rotated_at.isoformat(timespec='seconds')}: "
        f"{done.tokens_revoked} tokens not used since were revoked (issue them again); "
        f"{done.idempotency_keys} idempotency keys and the content of {done.outcomes} outcomes from "
        "before the rotation can no longer be compared"
    )
    if retired is not None:
        typer.echo(
            f"the previous pepper is kept as {retired} for backups taken before the rotation; delete it "
            "when no such backup is kept"
        )
    typer.echo("start every server process again now")
