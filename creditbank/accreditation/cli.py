"""``creditbank rules catalogue-diff``: what changed in the catalogue of recognised outcomes."""

import json
from typing import Annotated

import typer

from creditbank.accreditation import service
from creditbank.cli_common import context, session_scope


def catalogue_diff(
    first: Annotated[
        int | None, typer.Argument(help="Earlier catalogue version (default: the one before SECOND)")
    ] = None,
    second: Annotated[
        int | None, typer.Argument(help="Later catalogue version (default: the one in force)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the difference as JSON")] = False,
) -> None:
    """Show what changed in the catalogue of recognised outcomes (学习成果名录) between two versions,
    as `rules diff` shows what changes between two rule sets; each version's digest is printed."""
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
        return
    for entry in done.added:
        typer.echo(f"+ {entry['code']}\t{entry['outcome_type']}\t{entry['name_zh']}\t{entry['rule_id']}")
    for entry in done.retired:
        typer.echo(f"- {entry['code']}\t{entry['outcome_type']}\t{entry['name_zh']}\t{entry['rule_id']}")
    before, after = (digests.get(earlier) or "-")[:12], (digests.get(later) or "-")[:12]
    typer.echo(
        f"catalogue {earlier} ({before}) -> {later} ({after}): "
        f"{len(done.added)} added, {len(done.retired)} retired"
    )
