"""``creditbank keys ...`` and ``creditbank verify``.

``verify`` needs no database and no configuration: it reads the certificate and any evidence from
files and, with ``--url``, asks a running service. It prints every check and exits 0 only when all
passed (1 when a check failed, 2 when an input could not be read).

Offline, trust comes only from what is given apart from the evidence: ``--trust`` (the trust file
of ``GET /trust.json``: log keys and the bank's DID document, which pins the key of the signed issuer
register), ``--log-key`` and ``--trust-did-document``. An evidence bundle is a claim checked against
those roots (see :mod:`creditbank.standards.vc.verification`).
"""

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from creditbank.cli_common import cli_help, cli_translator, context, echo, session_scope
from creditbank.credentials import keys
from creditbank.credentials.http_resolver import HttpResolver
from creditbank.credentials.models import SigningKey
from creditbank.i18n import msg
from creditbank.standards.vc import trust as trustlib
from creditbank.standards.vc.errors import ResolutionFailed
from creditbank.standards.vc.multikey import encode_public_key
from creditbank.standards.vc.resolvers import OfflineResolver, Resolver
from creditbank.standards.vc.verification import verify_certificate

keys_app = typer.Typer(help=cli_help("help.credentials.keys_app"), no_args_is_help=True)

EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def _time(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _describe(row: SigningKey) -> str:
    return "\t".join(
        [
            row.id,
            row.owner_id,
            row.state,
            f"created={_time(row.created_at)}",
            f"retired={_time(row.retired_at)}",
            f"compromised={_time(row.compromised_at)}",
            encode_public_key(bytes(row.public_key)),
        ]
    )


def _parse_time(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2026-11-29T08:00:00Z or +08:00")
    return parsed


@keys_app.command("list", help=cli_help("help.credentials.keys_list"))
def keys_list(
    owner: Annotated[str | None, typer.Option(help=cli_help("help.credentials.keys_list.owner"))] = None,
) -> None:
    """List signing keys (id, owner, state, times, publicKeyMultibase); retired keys included."""

    ctx = context()
    with session_scope(ctx) as session:
        for row in keys.list_keys(session, owner):
            typer.echo(_describe(row))


@keys_app.command("rotate", help=cli_help("help.credentials.keys_rotate"))
def keys_rotate(
    owner: Annotated[str, typer.Option(help=cli_help("help.credentials.keys_rotate.owner"))],
) -> None:
    """Create a new active key for OWNER; the old one is retired (still listed, still verifies)."""

    ctx = context()
    with session_scope(ctx) as session:
        old, new = keys.rotate(session, ctx.secrets.master_key, owner)
        if old is not None:
            echo(msg("cli.credentials.retired", old=_describe(old)))
        echo(msg("cli.credentials.active", new=_describe(new)))


@keys_app.command("retire", help=cli_help("help.credentials.keys_retire"))
def keys_retire(key_id: str) -> None:
    """Retire a key: it signs nothing more; what it signed before keeps verifying."""

    ctx = context()
    with session_scope(ctx) as session:
        typer.echo(_describe(keys.retire(session, key_id)))


@keys_app.command("compromise", help=cli_help("help.credentials.keys_compromise"))
def keys_compromise(
    key_id: str,
    at: Annotated[str, typer.Option(help=cli_help("help.credentials.keys_compromise.at"))],
) -> None:
    """Mark a key compromised from AT: it leaves assertionMethod at once, and every still-valid
    certificate it signed is issued again under a fresh key (the old ones are marked superseded)."""
    from creditbank.credentials.service import compromise_key

    moment = _parse_time(at)
    ctx = context()
    with session_scope(ctx) as session:
        key, reissued = compromise_key(session, ctx, key_id, moment)
        typer.echo(_describe(key))
        for old, new in reissued:
            echo(msg("cli.credentials.re_issued_key", id=old.id, id2=new.id, key_id=new.key_id))
        echo(msg("cli.credentials.still_valid_certificate_s", reissued_count=len(reissued)), err=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        t = cli_translator()
        typer.echo(t("cli.cannot_read", path=path, error=exc), err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc


def _read_objects(paths: list[Path]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in paths:
        value = _read_json(path)
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, dict) for item in items):
            t = cli_translator()
            typer.echo(t("cli.not_json_objects", path=path), err=True)
            raise typer.Exit(EXIT_UNREADABLE)
        found.extend(items)
    return found


def _http_client(url: str) -> httpx.Client:
    """The HTTP client of ``verify --url`` (tests replace it)."""
    return httpx.Client(base_url=url, timeout=10.0, follow_redirects=False)


def verify_command(
    certificate: Annotated[
        Path, typer.Argument(help=cli_help("help.credentials.verify_command.certificate"))
    ],
    url: Annotated[
        str | None, typer.Option("--url", help=cli_help("help.credentials.verify_command.url"))
    ] = None,
    did_document: Annotated[
        list[Path] | None,
        typer.Option("--did-document", help=cli_help("help.credentials.verify_command.did_document")),
    ] = None,
    status_list: Annotated[
        list[Path] | None,
        typer.Option("--status-list", help=cli_help("help.credentials.verify_command.status_list")),
    ] = None,
    trust_did_document: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust-did-document", help=cli_help("help.credentials.verify_command.trust_did_document")
        ),
    ] = None,
    ledger_evidence: Annotated[
        list[Path] | None,
        typer.Option(
            "--ledger-evidence",
            help=cli_help("help.credentials.verify_command.ledger_evidence"),
        ),
    ] = None,
    trust_file: Annotated[
        Path | None,
        typer.Option("--trust", help=cli_help("help.credentials.verify_command.trust_file")),
    ] = None,
    log_key: Annotated[
        list[str] | None,
        typer.Option("--log-key", help=cli_help("help.credentials.verify_command.log_key")),
    ] = None,
    resolve_did_web: Annotated[
        bool,
        typer.Option(
            "--resolve-did-web",
            help=cli_help("help.credentials.verify_command.resolve_did_web"),
        ),
    ] = False,
    learner_id: Annotated[
        str | None, typer.Option("--learner-id", help=cli_help("help.credentials.verify_command.learner_id"))
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help=cli_help("help.credentials.verify_command.at"))
    ] = None,
    max_status_age: Annotated[
        int | None,
        typer.Option(
            "--max-status-age",
            min=0,
            help=cli_help("help.credentials.verify_command.max_status_age"),
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help=cli_help("help.credentials.verify_command.json_output"))
    ] = False,
) -> None:
    """Verify a transfer certificate; print each check; exit 0 only when every check passed.

    Offline, trust comes only from --trust (the bank's trust file), --log-key and
    --trust-did-document; --ledger-evidence (a CertificateEvidence bundle), --did-document and
    --status-list are claims checked against them. Online: --url asks that service for whatever the
    files do not hold (and --resolve-did-web lets it fetch issuers' did:web hosts over https).
    """
    moment = _parse_time(at) if at else None
    document = _read_json(certificate)
    roots = trustlib.TrustRoots()
    try:
        if trust_file is not None:
            roots = trustlib.TrustRoots.from_json(_read_json(trust_file))
        for text in log_key or []:
            roots.add_log_key(text)
    except ResolutionFailed as exc:
        echo(msg("cli.error_detail", reason=exc.said), err=True)
        raise typer.Exit(EXIT_UNREADABLE) from exc
    offline = OfflineResolver(
        did_documents=_read_objects(did_document or []),
        status_lists=_read_objects(status_list or []),
        trusted_did_documents=_read_objects(trust_did_document or []),
        trust=roots,
    )
    for path in ledger_evidence or []:
        try:
            offline.add_bundle(_read_json(path))
        except ResolutionFailed as exc:
            echo(msg("cli.credentials.error_path", path=path, reason=exc.said), err=True)
            raise typer.Exit(EXIT_UNREADABLE) from exc
    resolver: Resolver = offline
    client = _http_client(url) if url else None
    if url and client is not None:
        offline.fallback = HttpResolver(url, client, resolve_did_web=resolve_did_web)
    try:
        report = verify_certificate(
            document, resolver, learner_id=learner_id, now=moment, max_status_age=max_status_age
        )
    finally:
        if client is not None:
            client.close()
    if json_output:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        t = cli_translator()
        for check in report.checks:
            mark = t("cli.verify.pass") if check.ok else t("cli.verify.fail")
            # the check's own name stays, for scripts; Chinese adds its label
            name = f"{check.name:<9}" if t.lang == "en" else f"{t.label('check', check.name)}（{check.name}）"
            typer.echo(f"{mark}  {name} {check.detail_in(t.lang)}")
        if report.valid:
            typer.echo(t("cli.verify.valid"))
        else:
            typer.echo(t("cli.verify.not_valid", checks=", ".join(report.failed)))
    if not report.valid:
        raise typer.Exit(EXIT_INVALID)
