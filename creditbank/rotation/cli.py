"""``creditbank secrets rotate master-key|session-secret|pepper`` and ``creditbank secrets
retire-pepper`` (see :mod:`creditbank.rotation.service` and :mod:`creditbank.rotation.pepper`)."""

import datetime as dt
from enum import StrEnum

import typer

from creditbank.cli_common import cli_help, context, echo, session_scope
from creditbank.context import AppContext
from creditbank.crypto.errors import DecryptionFailed
from creditbank.i18n import msg
from creditbank.rotation import pepper as peppers
from creditbank.rotation import service as rotation

secrets_app = typer.Typer(help=cli_help("help.rotation.secrets_app"), no_args_is_help=True)


class Rotatable(StrEnum):
    master_key = "master-key"
    session_secret = "session-secret"  # noqa: S105 - a name, not a secret
    pepper = "pepper"


@secrets_app.command("rotate", help=cli_help("help.rotation.rotate"))
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
        echo(msg("cli.rotation.left_from_interrupted_rotation", filename=exc.filename), err=True)
        raise typer.Exit(2) from exc
    if secret is Rotatable.master_key:
        try:
            with session_scope(ctx) as session:
                learners, signing_keys, logs = rotation.rewrap_master_key(session, ctx.secrets, value)
        except DecryptionFailed as exc:
            pending.unlink()
            echo(msg("cli.rotation.nothing_changed_sealed_key", exc=exc), err=True)
            raise typer.Exit(1) from exc
        echo(
            msg(
                "cli.rotation.re_sealed_learner_data", learners=learners, signing_keys=signing_keys, logs=logs
            )
        )
    retired = rotation.put_in_place(current, pending)
    echo(msg("cli.rotation.holds_new_old_one", current=current, value=secret.value, retired=retired))
    echo(msg("cli.rotation.start_every_server_process"))


def _rotate_pepper(ctx: AppContext) -> None:
    current = ctx.settings.secret_path("pepper.key")
    try:
        pending, value, fresh = peppers.pending_pepper(current)
    except peppers.RotationRefused as exc:
        echo(msg("cli.rotation.nothing_changed", exc=exc), err=True)
        raise typer.Exit(2) from exc
    try:
        with session_scope(ctx) as session:
            done = peppers.rotate_in_database(session, ctx, value)
    except (peppers.RotationRefused, DecryptionFailed) as exc:
        if fresh:  # made by this run and used for nothing
            pending.unlink()
        if isinstance(exc, DecryptionFailed):
            echo(msg("cli.rotation.nothing_changed_learner_s", exc=exc), err=True)
            raise typer.Exit(1) from exc
        echo(msg("cli.rotation.nothing_changed", exc=exc), err=True)
        raise typer.Exit(2) from exc
    try:
        previous = peppers.put_in_place(current, pending, ctx.secrets.pepper)
    except peppers.RotationRefused as exc:
        echo(msg("cli.rotation.database_rotated_files", exc=exc), err=True)
        raise typer.Exit(2) from exc
    if done.resumed:
        echo(msg("cli.rotation.database_step_was_done"))
    else:
        echo(
            msg(
                "cli.rotation.recomputed_identity_number_lookups",
                learners=done.learners,
                learners_without_lookup=done.learners_without_lookup,
                tokens=done.tokens,
                sessions=done.sessions,
            )
        )
    echo(msg("cli.rotation.holds_new_pepper_previous", current=current, previous=previous))
    echo(msg("cli.rotation.start_every_server_process_2"))
    echo(msg("cli.rotation.after_grace_period_run"))


@secrets_app.command("retire-pepper", help=cli_help("help.rotation.retire_pepper"))
def retire_pepper(
    grace_days: float = typer.Option(30.0, help=cli_help("help.rotation.retire_pepper.grace_days")),
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
            echo(msg("cli.rotation.nothing_changed", exc=exc), err=True)
            raise typer.Exit(2) from exc
        retired = peppers.retire_file(current)  # an interrupted retirement: finish it
        echo(msg("cli.rotation.database_step_was_done_2", retired=retired))
        return
    except peppers.RotationRefused as exc:
        echo(msg("cli.rotation.nothing_changed", exc=exc), err=True)
        raise typer.Exit(2) from exc
    retired = peppers.retire_file(current)
    echo(
        msg(
            "cli.rotation.retired_pepper_before_tokens",
            value=done.rotated_at.isoformat(timespec="seconds"),
            tokens_revoked=done.tokens_revoked,
            idempotency_keys=done.idempotency_keys,
            outcomes=done.outcomes,
        )
    )
    if retired is not None:
        echo(msg("cli.rotation.previous_pepper_kept_backups", retired=retired))
    echo(msg("cli.rotation.start_every_server_process_3"))
