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
from creditbank.errors import CreditBankError


def context() -> AppContext:
    try:
        return build_context(get_settings())
    except ConfigurationError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def session_scope(ctx: AppContext) -> Iterator[Session]:
    """A transaction for one CLI command; domain errors become one clear line and exit 1."""
    try:
        yield from transaction(ctx.sessions)
    except CreditBankError as exc:
        typer.echo(f"error ({exc.slug}): {exc.detail}", err=True)
        raise typer.Exit(1) from exc
