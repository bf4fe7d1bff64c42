"""What every command of the command line shares: the process context and one transaction per command.

Command modules (``cli.py``, ``*/cli.py``) import this; nothing else does.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlmodel import Session

from creditbank.config import ConfigurationError, get_settings
from creditbank.context import AppContext, build_context
from creditbank.db import transaction
from creditbank.errors import CreditBankError, problem_title
from creditbank.i18n import Message, Translator, cli_lang


def cli_translator() -> Translator:
    """Messages of the command line, in the language of its environment (:func:`creditbank.i18n.cli_lang`)."""
    return Translator(cli_lang())


def cli_help(message: str) -> str:
    """A command's or option's help text in the command line's language, decided when the command
    modules are imported (Typer takes help as text): the environment names the language before."""
    return cli_translator()(message)


def echo(message: Message, *, err: bool = False) -> None:
    """Print ``message`` in the command line's language (to standard error with ``err``)."""
    typer.echo(message.text(cli_lang()), err=err)


def error_line(exc: CreditBankError) -> str:
    """A domain error as the command line prints it: its type, its title for people, its detail."""
    t = cli_translator()
    title = problem_title(exc.slug, exc.title, t.lang)
    if exc.detail == exc.title:
        return t("cli.error_title", slug=exc.slug, title=title)
    return t("cli.error", slug=exc.slug, title=title, detail=exc.detail_in(t.lang))


def context() -> AppContext:
    try:
        return build_context(get_settings())
    except ConfigurationError as exc:
        t = cli_translator()
        typer.echo(t("cli.configuration_error", error=exc), err=True)
        raise typer.Exit(2) from exc


@contextmanager
def session_scope(ctx: AppContext) -> Iterator[Session]:
    """A transaction for one CLI command; domain errors become one clear line and exit 1."""
    try:
        yield from transaction(ctx.sessions)
    except CreditBankError as exc:
        typer.echo(error_line(exc), err=True)
        raise typer.Exit(1) from exc
