"""The catalogue of recognised outcomes on the command line: its part of ``creditbank rules diff``
(``--catalogue``), and ``creditbank rules catalogue-diff``, the same difference on its own."""

import json
from typing import Annotated

import typer

from creditbank.accreditation import service
from creditbank.cli_common import cli_help, context, echo, session_scope
from creditbank.errors import ValidationFailed
from creditbank.i18n import msg


class CatalogueRangeInvalid(ValidationFailed):
    slug = "catalogue-range-invalid"
    title = "Catalogue versions are written FIRST..SECOND, SECOND, or latest"


def parse_range(text: str) -> tuple[int | None, int | None]:
    """``FIRST..SECOND``, ``SECOND`` (against the version before it) or ``latest`` (the version in
    force against the one before).

    Raises:
        CatalogueRangeInvalid: anything else.
    """
    value = text.strip().lower()
    if value in ("", "latest"):
        return None, None
    first, sep, second = value.partition("..")
    try:
        if not sep:
            return None, int(first)
        return int(first), int(second)
    except ValueError:
        raise CatalogueRangeInvalid(msg("detail.accreditation.range_invalid", text=text)) from None


def show_catalogue_diff(first: int | None, second: int | None, *, as_json: bool = False) -> int:
    """Print what changed in the catalogue from ``first`` to ``second`` (defaults: the version in
    force, and the one before it); return how many entries changed."""
    ctx = context()
    try:
        with session_scope(ctx) as session:
            current = service.current_version(session)
            later = second if second is not None else (current.version if current else 0)
            earlier = first if first is not None else max(later - 1, 0)
            done = service.diff(session, earlier, later)
            digests = {v.version: v.digest for v in service.versions(session)}
    finally:
        ctx.engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {**done.__dict__, "digests": {str(k): digests.get(k) for k in (earlier, later)}},
                ensure_ascii=False,
            )
        )
        return done.count
    for entry in done.added:
        typer.echo(f"+ {entry['code']}\t{entry['outcome_type']}\t{entry['name_zh']}\t{entry['rule_id']}")
    for entry in done.retired:
        typer.echo(f"- {entry['code']}\t{entry['outcome_type']}\t{entry['name_zh']}\t{entry['rule_id']}")
    for change in done.changed:
        before, after = change["before"], change["after"]
        assert isinstance(before, dict) and isinstance(after, dict)
        fields = [
            f"{name}: {before[name]} -> {after[name]}"
            for name in ("name_zh", "name_en", "levels", "rule_id")
            if before[name] != after[name]
        ]
        typer.echo(f"~ {change['code']}\t" + "; ".join(fields))
    before_digest, after_digest = (digests.get(earlier) or "-")[:12], (digests.get(later) or "-")[:12]
    echo(
        msg(
            "cli.accreditation.catalogue_diff",
            earlier=earlier,
            before=before_digest,
            later=later,
            after=after_digest,
            added=len(done.added),
            retired=len(done.retired),
            changed=len(done.changed),
        )
    )
    return done.count


def catalogue_diff(
    first: Annotated[
        int | None, typer.Argument(help=cli_help("help.accreditation.catalogue_diff.first"))
    ] = None,
    second: Annotated[
        int | None, typer.Argument(help=cli_help("help.accreditation.catalogue_diff.second"))
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help=cli_help("help.accreditation.catalogue_diff.as_json"))
    ] = False,
) -> None:
    """Show what changed in the catalogue of recognised outcomes (学习成果名录) between two versions
    (entries added, retired and edited); each version's digest is printed. The same as
    `rules diff --catalogue FIRST..SECOND`."""
    show_catalogue_diff(first, second, as_json=as_json)
