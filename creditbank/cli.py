"""The ``creditbank`` command line.

Errors from the domains are caught once, here, and printed as one line with their problem type.
"""

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from creditbank.accreditation.cli import catalogue_diff, parse_range, show_catalogue_diff
from creditbank.audit.cli import audit_app
from creditbank.auth import service as tokens_service
from creditbank.auth.models import Role
from creditbank.cli_common import cli_help, cli_translator, context, echo, error_line, session_scope
from creditbank.cli_words import install as say_typers_words
from creditbank.credentials.cli import keys_app, verify_command
from creditbank.errors import CreditBankError
from creditbank.i18n import msg
from creditbank.outcomes.cli import diff_from_db, run_import
from creditbank.rotation.cli import secrets_app
from creditbank.rule_engine.cli import diff as diff_rule_sets
from creditbank.rule_engine.cli import rules_app

say_typers_words()  # Usage:, Options, Error… in the language of the help (creditbank/cli_words.py)
app = typer.Typer(help=cli_help("help.main.app"), no_args_is_help=True)
db_app = typer.Typer(help=cli_help("help.main.db_app"), no_args_is_help=True)
tokens_app = typer.Typer(help=cli_help("help.main.tokens_app"), no_args_is_help=True)
institutions_app = typer.Typer(help=cli_help("help.main.institutions_app"), no_args_is_help=True)
learners_app = typer.Typer(help=cli_help("help.main.learners_app"), no_args_is_help=True)
inbox_app = typer.Typer(help=cli_help("help.main.inbox_app"), no_args_is_help=True)
reviewers_app = typer.Typer(help=cli_help("help.main.reviewers_app"), no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
app.add_typer(institutions_app, name="institutions")
app.add_typer(learners_app, name="learners")
app.add_typer(reviewers_app, name="reviewers")
app.add_typer(inbox_app, name="inbox")
app.add_typer(keys_app, name="keys")
app.add_typer(secrets_app, name="secrets")
app.command("verify", help=cli_help("help.credentials.verify_command"))(verify_command)
app.add_typer(audit_app, name="audit")
app.add_typer(rules_app, name="rules")
app.command("import", help=cli_help("help.outcomes.run_import"))(run_import)
rules_app.command("diff-db", help=cli_help("help.outcomes.diff_from_db"))(diff_from_db)
rules_app.command("catalogue-diff", help=cli_help("help.accreditation.catalogue_diff"))(catalogue_diff)


@rules_app.command("diff", help=cli_help("help.main.rules_diff"))
def rules_diff(
    old: Annotated[Path | None, typer.Argument(help=cli_help("help.main.rules_diff.old"))] = None,
    new: Annotated[Path | None, typer.Argument(help=cli_help("help.main.rules_diff.new"))] = None,
    outcomes: Annotated[
        Path | None, typer.Option("--outcomes", help=cli_help("help.main.rules_diff.outcomes"))
    ] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help=cli_help("help.main.rules_diff.as_of"))] = None,
    catalogue: Annotated[
        str | None,
        typer.Option(
            "--catalogue",
            help=cli_help("help.main.rules_diff.catalogue"),
        ),
    ] = None,
    fail_on_change: Annotated[
        bool, typer.Option(help=cli_help("help.main.rules_diff.fail_on_change"))
    ] = False,
) -> None:
    """Preview which outcomes the NEW rule set would credit differently from OLD; with
    --catalogue, also what changed in the catalogue of recognised outcomes (学习成果名录) between two
    of its versions (entries added, retired, edited). Either part may be asked alone."""
    if old is None and new is None and catalogue is None:
        echo(msg("cli.rules_diff_nothing"), err=True)
        raise typer.Exit(2)
    failed = False
    if old is not None or new is not None:
        if old is None or new is None or outcomes is None:
            echo(msg("cli.rules_diff_needs_sets"), err=True)
            raise typer.Exit(2)
        try:
            diff_rule_sets(old, new, outcomes, as_of, fail_on_change)
        except typer.Exit as exc:
            if catalogue is None or exc.exit_code != 1:
                raise
            failed = True  # the catalogue's part is still shown
    if catalogue is not None:
        changed = _catalogue_part(catalogue)
        if failed or (changed and fail_on_change):
            raise typer.Exit(1)


def _catalogue_part(catalogue: str) -> int:
    try:
        first, second = parse_range(catalogue)
    except CreditBankError as exc:
        typer.echo(error_line(exc), err=True)
        raise typer.Exit(2) from None
    return show_catalogue_diff(first, second)


F = TypeVar("F", bound=Callable[..., Any])


@db_app.command("upgrade", help=cli_help("help.main.db_upgrade"))
def db_upgrade(
    revision: str = "head",
    url: Annotated[
        str | None,
        typer.Option(help=cli_help("help.main.db_upgrade.url")),
    ] = None,
    service_role: Annotated[
        str | None,
        typer.Option(help=cli_help("help.main.db_upgrade.service_role")),
    ] = None,
) -> None:
    """Apply migrations up to REVISION (default: the latest), as the schema's owner.

    On PostgreSQL, when the owner is not the service's role, the service's role is then granted its
    privileges on every table (docs/operations.md, "Database roles").
    """
    from creditbank.db import create_engine
    from creditbank.migrate import upgrade
    from creditbank.privileges import user_of
    from creditbank.transparency.publisher import ensure_default_log

    ctx = context()
    owner_url = url or ctx.settings.migration_database_url or ctx.settings.effective_database_url
    role = service_role or user_of(ctx.settings.effective_database_url)
    if role is not None and role == user_of(owner_url):
        role = None  # one role for both: nothing to grant
    owner = create_engine(owner_url, pool_size=1) if owner_url.startswith("postgres") else ctx.engine
    try:
        unnamed = upgrade(owner, revision, service_role=role)
    finally:
        if owner is not ctx.engine:
            owner.dispose()
    if role is not None:
        if unnamed:
            echo(msg("cli.granted_privileges_default", role=role, tables=", ".join(unnamed)))
        else:
            echo(msg("cli.granted_privileges", role=role))
    if revision == "head":
        ensure_default_log(ctx)
    echo(msg("cli.database_at_url", revision=revision, value=owner_url.split("@")[-1]))


@db_app.command("downgrade", help=cli_help("help.main.db_downgrade"))
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' for an empty database)."""
    from creditbank.migrate import downgrade

    downgrade(context().engine, revision)
    echo(msg("cli.database_at", revision=revision))


@db_app.command("current", help=cli_help("help.main.db_current"))
def db_current() -> None:
    """Print the database's migration revision and the code's."""
    from creditbank.migrate import current_revision, head_revision

    with context().engine.connect() as conn:
        echo(msg("cli.database_code", conn=current_revision(conn), value=head_revision()))


@tokens_app.command("create", help=cli_help("help.main.tokens_create"))
def tokens_create(
    role: Annotated[Role, typer.Option(help=cli_help("help.main.tokens_create.role"))],
    subject: Annotated[str | None, typer.Option(help=cli_help("help.main.tokens_create.subject"))] = None,
    label: str = "",
) -> None:
    """Mint a bearer token and print it once (only its hash is stored)."""
    ctx = context()
    with session_scope(ctx) as session:
        row, plaintext = tokens_service.create_token(session, ctx.token_key, role, subject, label)
        echo(
            msg("cli.token_role_subject_shown", id=row.id, role=row.role, value=row.subject or "-"), err=True
        )
    typer.echo(plaintext)


@tokens_app.command("list", help=cli_help("help.main.tokens_list"))
def tokens_list() -> None:
    """List tokens (ids, roles, subjects; never the secrets)."""
    ctx = context()
    with session_scope(ctx) as session:
        for row in tokens_service.list_tokens(session):
            t = cli_translator()
            state = (
                t("cli.tokens.revoked", day=f"{row.revoked_at:%Y-%m-%d}")
                if row.revoked_at
                else t("cli.tokens.live")
            )
            typer.echo(f"{row.id}\t{row.role}\t{row.subject or '-'}\t{state}\t{row.label}")


@tokens_app.command("revoke", help=cli_help("help.main.tokens_revoke"))
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by id."""
    ctx = context()
    with session_scope(ctx) as session:
        tokens_service.revoke_token(session, token_id)
    echo(msg("cli.token_revoked", token_id=token_id))


@institutions_app.command("create", help=cli_help("help.main.institutions_create"))
def institutions_create(
    name_zh: Annotated[str, typer.Option()],
    name_en: Annotated[str, typer.Option()],
    credit_code: Annotated[str, typer.Option(help=cli_help("help.main.institutions_create.credit_code"))],
    kind: Annotated[str, typer.Option(help=cli_help("help.main.institutions_create.kind"))],
    district: Annotated[str, typer.Option()],
    exception: Annotated[
        str | None, typer.Option(help=cli_help("help.main.institutions_create.exception"))
    ] = None,
) -> None:
    """Register an institution (as the operator)."""
    from creditbank.institutions import service
    from creditbank.institutions.models import InstitutionKind

    ctx = context()
    try:
        kind_value = InstitutionKind(kind)
    except ValueError as exc:
        echo(
            msg("cli.error_unknown_kind_one", kind=kind, value=", ".join(k.value for k in InstitutionKind)),
            err=True,
        )
        raise typer.Exit(2) from exc
    with session_scope(ctx) as session:
        row = service.register(
            session,
            name_zh=name_zh,
            name_en=name_en,
            credit_code=credit_code,
            kind=kind_value,
            district=district,
            exception_reason=exception,
            admin_subject="cli",
        )
        typer.echo(json.dumps(row.model_dump(mode="json"), ensure_ascii=False))


@reviewers_app.command("create", help=cli_help("help.main.reviewers_create"))
def reviewers_create(
    name: Annotated[str, typer.Option(help=cli_help("help.main.reviewers_create.name"))],
    unit: Annotated[str, typer.Option(help=cli_help("help.main.reviewers_create.unit"))] = "",
    district: Annotated[
        str | None,
        typer.Option(help=cli_help("help.main.reviewers_create.district")),
    ] = None,
) -> None:
    """Create a named reviewer account and print its id (the subject of its reviewer tokens).
    A district reviewer sees and decides only that district's first-stage reviews."""
    ctx = context()
    with session_scope(ctx) as session:
        row = tokens_service.create_reviewer(session, name, unit, district)
        typer.echo(row.id)


@reviewers_app.command("list", help=cli_help("help.main.reviewers_list"))
def reviewers_list() -> None:
    """List reviewer accounts."""
    ctx = context()
    with session_scope(ctx) as session:
        for row in tokens_service.list_reviewers(session):
            t = cli_translator()
            district = row.district or t("cli.reviewers.city_centre")
            typer.echo(f"{row.id}\t{row.name}\t{row.unit or '-'}\t{district}")


@learners_app.command("duplicates", help=cli_help("help.main.learners_duplicates"))
def learners_duplicates(
    as_json: Annotated[
        bool, typer.Option("--json", help=cli_help("help.main.learners_duplicates.as_json"))
    ] = False,
) -> None:
    """Find learners whose stored identity numbers normalise to one number (NFKC, then ASCII digits
    and X): a person registered more than once before normalisation. Exits 1 when any are found."""
    from creditbank.learners import service

    ctx = context()
    with session_scope(ctx) as session:
        report = service.find_duplicates(session, ctx.identity_key, ctx.secrets.master_key)
    if as_json:
        groups = [
            {
                "identity_number": g.identity_number_masked,
                "learners": g.learner_ids,
                "lookup_stale": g.lookup_stale,
            }
            for g in report.groups
        ]
        typer.echo(json.dumps({"checked": report.checked, "groups": groups, "invalid": report.invalid}))
    else:
        for group in report.groups:
            learners = " ".join(group.learner_ids)
            if group.lookup_stale:
                stale = " ".join(group.lookup_stale)
                echo(
                    msg(
                        "cli.learners.duplicate_stale",
                        number=group.identity_number_masked,
                        learners=learners,
                        stale=stale,
                    )
                )
            else:
                echo(msg("cli.learners.duplicate", number=group.identity_number_masked, learners=learners))
        for learner_id in report.invalid:
            echo(msg("cli.learners.refused_now", learner_id=learner_id))
        echo(
            msg(
                "cli.learners_checked_persons_registered",
                checked=report.checked,
                group_count=len(report.groups),
                invalid_count=len(report.invalid),
            ),
            err=True,
        )
    if report.groups or report.invalid:
        raise typer.Exit(1)


@app.command("serve", help=cli_help("help.main.serve"))
def serve(
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help=cli_help("help.main.serve.workers"))] = 1,
) -> None:
    """Serve the API and pages."""
    from creditbank.serving import serve as run_server

    run_server(host, port, workers)


@app.command("demo", help=cli_help("help.main.demo"))
def demo(
    tokens_file: Annotated[
        str, typer.Option(help=cli_help("help.main.demo.tokens_file"))
    ] = "var/demo-tokens.json",
) -> None:
    """Load the demo world (idempotent) and write fresh demo tokens (demo mode only)."""
    from creditbank.demo import load_courses, load_demo, load_exchange

    ctx = context()
    if ctx.settings.mode == "production":
        echo(msg("cli.creditbank_demo_refuses_run"), err=True)
        raise typer.Exit(2)
    with session_scope(ctx) as session:
        tokens = load_demo(session, ctx)
    with session_scope(ctx) as session:
        valid, revoked = load_exchange(session, ctx)
    with session_scope(ctx) as session:
        load_courses(session, ctx)
    var = Path(tokens_file).parent
    var.mkdir(parents=True, exist_ok=True)
    # the file holds bearer tokens: readable by its owner only, whatever the umask
    fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(tokens, handle, ensure_ascii=False, indent=2)
    for name, document in (("demo-certificate.json", valid), ("demo-certificate-revoked.json", revoked)):
        (var / name).write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    echo(msg("cli.demo_certificates_written_demo", var=var), err=True)
    typer.echo(json.dumps(tokens, ensure_ascii=False, indent=2))
    echo(msg("cli.demo_tokens_written", tokens_file=tokens_file), err=True)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


@inbox_app.command("mail", help=cli_help("help.main.inbox_mail"))
def inbox_mail(
    since_hours: Annotated[float, typer.Option(help=cli_help("help.main.inbox_mail.since_hours"))] = 48.0,
) -> None:
    """E-mail each learner with unannounced inbox messages one notice (how many of which kinds, no
    contents), through CREDITBANK_SMTP_HOST; without it nothing is sent. Run it from cron."""
    import datetime as dt

    from creditbank.archive import inbox
    from creditbank.db import utcnow

    ctx = context()
    with session_scope(ctx) as session:
        report = inbox.mail_notices(
            session,
            ctx.settings,
            ctx.secrets.master_key,
            since=utcnow() - dt.timedelta(hours=since_hours),
        )
    typer.echo(
        json.dumps({"sent": report.sent, "failed": report.failed, "no_address": report.skipped_no_address})
    )
