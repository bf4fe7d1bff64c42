"""Least privilege on PostgreSQL: the schema's owner migrates, the service's role owns nothing.

How this works
--------------
Two roles. The **owner** (``CREDITBANK_MIGRATION_DATABASE_URL``, or ``db upgrade --url``) owns the
database, its schema and every table; it runs the migrations. The **service** (the user of
``CREDITBANK_DATABASE_URL``) owns nothing, so it cannot ``ALTER`` or ``DROP`` a table, disable a trigger
or switch them all off (``session_replication_role`` needs a superuser), and it is granted, table by
table, only what the code does with that table (:data:`POLICY`): no ``TRUNCATE`` anywhere, and only
``SELECT`` and ``INSERT`` on the append-only tables (the journal, the tree, posted outcomes and their
history, the access log, conversions).

:func:`grant_service` runs as the owner after every ``upgrade`` (``creditbank.migrate.upgrade`` with a
service role, which ``creditbank db upgrade`` passes): it revokes whatever the service held and grants
the policy again for **every** table in the schema, so a table added by a later migration is covered
at once. A table this module does not name gets :data:`DEFAULT` (read and write, never ``TRUNCATE``);
one that must be append-only is named in :data:`POLICY` (``tests/test_privileges.py`` fails when a
table with an append-only trigger is granted ``UPDATE`` or ``DELETE``). On SQLite there are no roles
and nothing happens.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, text

APPEND_ONLY: Final = ("SELECT", "INSERT")
READ_WRITE: Final = ("SELECT", "INSERT", "UPDATE")
DEFAULT: Final = ("SELECT", "INSERT", "UPDATE", "DELETE")
"""For a table :data:`POLICY` does not name (one added by a migration written since)."""

POLICY: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "alembic_version": ("SELECT",),
        # append-only: the journal, the tree, posted facts and histories
        "ledger_transactions": APPEND_ONLY,
        "ledger_postings": APPEND_ONLY,
        "ledger_lots": APPEND_ONLY,
        "tlog_nodes": APPEND_ONLY,
        # posted facts: only the keyed content hash is overwritten, by erasure ("erased") or by
        # retiring an old pepper ("retired-pepper"); the outcomes trigger refuses any other change
        "outcomes": ("SELECT", "INSERT", "UPDATE (request_hash)"),
        "outcome_events": APPEND_ONLY,
        "archive_access_log": APPEND_ONLY,
        "conversions": APPEND_ONLY,
        # a republished checkpoint only refreshes its time (a trigger guards the rest)
        "tlog_checkpoints": ("SELECT", "INSERT", "UPDATE (created_at)"),
        # rows that change, none deleted
        "ledger_accounts": READ_WRITE,
        "tlog_logs": READ_WRITE,
        "recognitions": READ_WRITE,
        "idempotency_keys": READ_WRITE,
        "institutions": READ_WRITE,
        "learners": READ_WRITE,
        "learner_links": READ_WRITE,
        "api_tokens": READ_WRITE,
        "credential_signing_keys": READ_WRITE,
        "credential_status_lists": READ_WRITE,
        "credential_certificates": READ_WRITE,
        "programmes": READ_WRITE,
        "shared_courses": READ_WRITE,
        "course_equivalences": READ_WRITE,
        "transfer_requests": READ_WRITE,
        "learner_consents": READ_WRITE,
        "learner_accounts": READ_WRITE,
        "inbox_state": READ_WRITE,
        "programme_learners": READ_WRITE,
        "course_enrolments": READ_WRITE,
        "recognised_outcome_versions": READ_WRITE,
        "recognised_outcomes": READ_WRITE,
        "recognised_outcome_edits": ("SELECT", "INSERT"),
        # an admin replaces an institution's scope
        "accreditation_scopes": DEFAULT,
        # rows that go: a conversion's lock when it is reversed, a vault row on erasure
        "ledger_lot_locks": ("SELECT", "INSERT", "DELETE"),
        "learner_vault": DEFAULT,
    }
)


def privileges_of(table: str) -> tuple[str, ...]:
    return POLICY.get(table, DEFAULT)


def user_of(url: str) -> str | None:
    """The role a PostgreSQL URL connects as (None for SQLite or a URL without a user)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return None
    return unquote(parts.username) if parts.username else None


def _ident(connection: Connection, name: str) -> str:
    quoted = connection.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one()
    return str(quoted)


def grant_service(connection: Connection, role: str) -> list[str]:
    """As the schema's owner: give ``role`` exactly the policy's privileges on every table of the
    current schema, and use of its sequences. Returns the tables granted :data:`DEFAULT` because
    :data:`POLICY` does not name them. Does nothing on SQLite."""
    if connection.dialect.name != "postgresql":
        return []
    grantee = _ident(connection, role)
    schema = _ident(connection, str(connection.execute(text("SELECT current_schema()")).scalar_one()))
    tables = [
        str(name)
        for name in connection.execute(
            text(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY c.relname"
            )
        ).scalars()
    ]
    connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {grantee}"))
    connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {grantee}"))
    unnamed: list[str] = []
    for table in tables:
        if table not in POLICY:
            unnamed.append(table)
        grants = ", ".join(privileges_of(table))
        connection.execute(text(f"GRANT {grants} ON {schema}.{_ident(connection, table)} TO {grantee}"))
    connection.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {grantee}"))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {grantee}"))
    return unnamed
