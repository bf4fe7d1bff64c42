"""Outcome commands: ``creditbank import`` and ``creditbank rules diff-db``."""

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from creditbank.cli_common import cli_help, context, echo, session_scope
from creditbank.errors import CreditBankError
from creditbank.i18n import cli_lang, msg
from creditbank.outcomes.batch import CHUNK_ROWS
from creditbank.outcomes.importer import import_file
from creditbank.outcomes.rule_preview import describe, preview
from creditbank.rule_engine import load_rule_set
from creditbank.rule_engine.errors import RuleSetInvalid, RuleSetNotFound


def run_import(
    file: Annotated[Path, typer.Argument(help=cli_help("help.outcomes.run_import.file"))],
    institution: Annotated[
        str, typer.Option("--institution", help=cli_help("help.outcomes.run_import.institution"))
    ],
    chunk: Annotated[
        int, typer.Option("--chunk", min=1, help=cli_help("help.outcomes.run_import.chunk"))
    ] = CHUNK_ROWS,
    report: Annotated[
        Path | None, typer.Option("--report", help=cli_help("help.outcomes.run_import.report"))
    ] = None,
    progress: Annotated[bool, typer.Option(help=cli_help("help.outcomes.run_import.progress"))] = True,
) -> None:
    """Post outcomes from a CSV or JSON lines file, chunk by chunk; write a per-row report.
    Re-running a file applies nothing twice. Exits 1 when any row failed."""
    ctx = context()
    try:
        summary = import_file(ctx, file, institution, chunk=chunk, report_path=report, progress=progress)
    except CreditBankError as exc:
        echo(msg("cli.error_slug", slug=exc.slug, reason=exc.said), err=True)
        raise typer.Exit(1) from exc
    finally:
        ctx.engine.dispose()
    echo(summary.said())
    echo(msg("cli.outcomes.report", report=summary.report), err=True)
    if summary.errors:
        raise typer.Exit(1)


def diff_from_db(
    old: Annotated[Path, typer.Argument(help=cli_help("help.outcomes.diff_from_db.old"))],
    new: Annotated[Path, typer.Argument(help=cli_help("help.outcomes.diff_from_db.new"))],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help=cli_help("help.outcomes.diff_from_db.as_of"))
    ] = None,
    institution: Annotated[
        str | None, typer.Option("--institution", help=cli_help("help.outcomes.diff_from_db.institution"))
    ] = None,
    include_final: Annotated[
        bool, typer.Option(help=cli_help("help.outcomes.diff_from_db.include_final"))
    ] = False,
    fail_on_change: Annotated[
        bool, typer.Option(help=cli_help("help.outcomes.diff_from_db.fail_on_change"))
    ] = False,
) -> None:
    """Preview which outcomes IN THE DATABASE the NEW rule set would credit differently from OLD."""
    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
        old_set, new_set = load_rule_set(old), load_rule_set(new)
    except RuleSetNotFound as exc:
        echo(msg("cli.error_detail", reason=exc.said), err=True)
        raise typer.Exit(2) from None
    except RuleSetInvalid as exc:
        lang = cli_lang()
        for finding in exc.findings:
            typer.echo(finding.text(lang), err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        echo(msg("cli.error_exception", exc=exc), err=True)
        raise typer.Exit(1) from None
    ctx = context()
    try:
        with session_scope(ctx) as session:
            result = preview(
                session, old_set, new_set, day, institution_id=institution, include_final=include_final
            )
    finally:
        ctx.engine.dispose()
    for item in result.affected:
        echo(describe(item))
    echo(
        msg(
            "cli.outcomes.outcome_s_database_would",
            affected_count=len(result.affected),
            compared=result.compared,
            id=old_set.id,
            version=old_set.version,
            value=old_set.hash[:12],
            id2=new_set.id,
            version2=new_set.version,
            value2=new_set.hash[:12],
            day=day,
        )
    )
    if result.affected and fail_on_change:
        raise typer.Exit(1)
