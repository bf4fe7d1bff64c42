"""``creditbank secrets rotate master-key|session-secret`` (see :mod:`creditbank.rotation.service`)."""

from enum import StrEnum

import typer

from creditbank.cli_common import context, session_scope
from creditbank.crypto.errors import DecryptionFailed
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
        typer.echo(
            "the pepper cannot be rotated in place: API token hashes and posting content keys are HMACs of "
            "values the service never stores (see docs/operations.md)",
            err=True,
        )
        raise typer.Exit(2)
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
