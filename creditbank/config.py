"""Configuration from environment variables with the ``CREDITBANK_`` prefix.

Secrets (the master key that wraps vault data keys and private signing keys, the pepper for
identity-number lookups and token hashes, the session-cookie secret) are files. In ``demo`` mode
missing secret files are generated under ``var/secrets``; in ``production`` mode the service
refuses to start and names what is missing.
"""

import ipaddress
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from creditbank.crypto.symmetric import KEY_SIZE


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says what to change."""


class Settings(BaseSettings):
    """Every setting of the service. Each one is read from ``CREDITBANK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CREDITBANK_", extra="ignore")

    mode: Literal["demo", "production"] = Field(
        "demo",
        description="demo generates missing secrets under var/; production refuses to start without them",
    )
    var_dir: Path = Field(Path("var"), description="where the embedded database, secrets and demo files live")
    database_url: str = Field(
        "", description="SQLAlchemy URL; postgresql://... or sqlite:///...; default: SQLite file in var/"
    )
    read_database_url: str = Field(
        "",
        description="SQLAlchemy URL of a hot standby (or a libpq multi-host list with "
        "target_session_attrs=prefer-standby) for the reads that may be a little stale: the public "
        "log (checkpoint, entries, proofs) and the learner archive API. A proof or page the standby "
        "has not replayed yet is answered from the primary. Default: every read on the database URL",
    )
    migration_database_url: str = Field(
        "",
        description="PostgreSQL URL of the role that owns the schema, for `db upgrade` (default: the "
        "database URL); the service's role (the user of the database URL) is then granted what it needs",
    )
    base_url: str = Field("http://127.0.0.1:8000", description="public base URL, used in DIDs and links")
    master_key_file: Path | None = Field(None, description="file with the 32-byte master key, hex")
    token_pepper_file: Path | None = Field(None, description="file with the secret pepper, hex")
    session_secret_file: Path | None = Field(None, description="file with the session cookie secret, hex")
    rules_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "rules", description="folder of the published rule sets"
    )
    log_level: str = Field("INFO", description="root log level")
    db_pool_size: int = Field(
        20,
        ge=1,
        description="PostgreSQL connections each server process opens at start and keeps open",
    )
    db_max_overflow: int = Field(
        0,
        ge=0,
        description="extra PostgreSQL connections under a burst, each closed after its request. None by "
        "default: a request waits for a pooled connection instead, because opening connections in a "
        "burst (a new server process and its caches each) slowed every request in flight and turned "
        "the burst into a queue that outlasted it (bench/posting.py)",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="largest request body of a route that declares no other limit (JSON writes); "
        "larger ones are answered 413 before they are read",
    )
    max_upload_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="largest body of a batch upload or a CSV upload (console)"
    )
    max_verify_bytes: int = Field(
        2 * 1024 * 1024, ge=1, description="largest body of the public verification form and API"
    )
    batch_max_rows: int = Field(
        50_000, ge=1, description="most rows of one batch upload; the rows past it are refused (413)"
    )
    heavy_requests_per_token: int = Field(
        2,
        ge=1,
        description="uploads and exports one token (or browser session) may run at once; one more is "
        "answered 429 (on PostgreSQL across every process and instance, on SQLite per process)",
    )
    heavy_retry_after_seconds: int = Field(10, ge=1, description="the Retry-After of that 429")
    served_by_header: bool = Field(
        False,
        description="answer every request with an X-Served-By header naming the server process (its "
        "pid), for benchmarks that tell workers apart (bench/soak.py); off in production: it tells any "
        "client a process id",
    )
    keepalive_requests: int = Field(
        100,
        ge=0,
        description="a kept-alive connection's answer to its N-th request carries Connection: close, "
        "so that clients reconnect and the connections spread over the workers again after one is "
        "replaced (0: no limit)",
    )
    keepalive_seconds: float = Field(
        60.0,
        ge=0,
        description="the answer to a request begun this many seconds after its connection was made "
        "carries Connection: close (0: no limit)",
    )
    unavailable_retry_after_seconds: int = Field(
        5,
        ge=1,
        description="the Retry-After (seconds) of a 503 answered while the database is down, restarting "
        "or read-only (a failover)",
    )
    status_list_lifetime_seconds: int = Field(
        86_400,
        ge=60,
        description="how long a signed status list credential is valid (its validUntil); the service "
        "re-signs a list when half of that has passed, so a copy fetched before a revocation lapses",
    )
    checkpoint_interval_seconds: float = Field(
        2.0, description="how often the checkpoint publisher looks for growth"
    )
    republish_seconds: float = Field(300.0, description="republish an unchanged checkpoint after this long")
    identity_lookups_per_minute: int = Field(
        60,
        ge=1,
        description="identity-number lookups (registering a known person, /learners/lookup) one token may "
        "make in any 60 seconds; the next is a 429 with Retry-After",
    )
    signin_attempts: int = Field(
        5,
        ge=1,
        description="wrong passwords in a row after which a learner account is locked",
    )
    signin_lockout_seconds: int = Field(
        900,
        ge=1,
        description="how long a learner account stays locked after too many wrong passwords",
    )
    signin_failures_per_address: int = Field(
        30,
        ge=1,
        description="password sign-ins one client address may have refused within "
        "signin_address_window_seconds, over any accounts (a password spray); the next is a 429 "
        "with Retry-After, before any password is checked",
    )
    signin_address_window_seconds: int = Field(
        900, ge=1, description="the window of signin_failures_per_address"
    )
    registrations_per_address: int = Field(
        10,
        ge=1,
        description="registrations one client address may try within "
        "registration_address_window_seconds; the next is a 429 with Retry-After",
    )
    registration_address_window_seconds: int = Field(
        3600, ge=1, description="the window of registrations_per_address"
    )
    passkey_rp_id: str = Field(
        "",
        description="the WebAuthn relying party ID of learners' passkeys (a domain, e.g. xuefen.example.cn); "
        "default: the host of CREDITBANK_BASE_URL. Changing it orphans every passkey registered before",
    )
    passkey_origins: str = Field(
        "",
        description="comma-separated origins the sign-in page may be served from for passkeys "
        "(https://xuefen.example.cn); default: the origin of CREDITBANK_BASE_URL",
    )
    trusted_proxies: str = Field(
        "",
        description="comma-separated addresses or networks (CIDR) of the reverse proxies in front of "
        "the service. Only when the connection comes from one of them is X-Forwarded-For read (from the "
        "right, skipping trusted proxies); otherwise the connection's own address is the client. "
        "Empty (the default): X-Forwarded-For is never trusted",
    )
    smtp_host: str = Field("", description="SMTP server for the inbox's e-mail notices; empty: no e-mail")
    smtp_port: int = Field(25, ge=1, le=65535, description="port of the SMTP server")
    smtp_from: str = Field("creditbank@localhost", description="sender address of the e-mail notices")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    application_file_max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1,
        description="largest evidence file (PDF, JPEG or PNG) of an application for recognition",
    )
    application_max_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1,
        description="most evidence bytes one application (or one resubmission) may bring in all; the "
        "request body of an application may be this much and 256 KiB of form fields more",
    )
    application_max_files: int = Field(10, ge=1, description="most evidence files of one submission")
    appeal_days: int = Field(
        30, ge=1, description="a learner may appeal a rejection or a recognition within this many days"
    )
    expiry_notice_days: int = Field(
        60, ge=1, description="the inbox warns of credits whose validity ends within this many days"
    )
    checkpoint_requires_sync_standby: bool = Field(
        False,
        description="sign a checkpoint only over entries flushed on a synchronous standby (PostgreSQL "
        "with synchronous replication, as under Patroni); the service's role needs pg_read_all_stats",
    )
    background_publisher: bool = Field(
        True, description="run the checkpoint publisher thread inside the server process"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError names the bad entry
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'creditbank.db').as_posix()}"

    def secret_path(self, name: str) -> Path:
        explicit = {
            "master.key": self.master_key_file,
            "pepper.key": self.token_pepper_file,
            "session.key": self.session_secret_file,
        }[name]
        return explicit if explicit is not None else self.var_dir / "secrets" / name


@dataclass(frozen=True)
class Secrets:
    """Secret keys, loaded once at start."""

    master_key: bytes
    pepper: bytes
    session_secret: bytes
    previous_pepper: bytes | None = None
    """The pepper before the last rotation, live until ``creditbank secrets retire-pepper``: tokens
    hashed under it are re-hashed on use, posted content is compared under both."""


_SECRET_SETTINGS = {
    "master.key": "CREDITBANK_MASTER_KEY_FILE",
    "pepper.key": "CREDITBANK_TOKEN_PEPPER_FILE",
    "session.key": "CREDITBANK_SESSION_SECRET_FILE",
}


def previous_pepper_path(settings: Settings) -> Path:
    """Where the pepper before the last rotation is kept until it is retired: beside the pepper."""
    current = settings.secret_path("pepper.key")
    return current.with_name(current.name + ".previous")


def read_secret_file(settings: Settings, path: Path) -> bytes:
    """A key file's bytes.

    Raises:
        ConfigurationError: readable by others in production mode, not hex, or not a key's size.
    """
    if settings.mode == "production" and path.stat().st_mode & 0o077:
        raise ConfigurationError(
            f"{path} may be read by other users (mode {path.stat().st_mode & 0o777:o}); "
            f"run `chmod 600 {path}` (production mode refuses readable key files)"
        )
    try:
        value = bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold a hex key") from exc
    if len(value) != KEY_SIZE:
        raise ConfigurationError(f"{path} must hold {KEY_SIZE} bytes (hex), found {len(value)}")
    return value


def _read_or_create(settings: Settings, name: str, in_use: Callable[[], bool]) -> bytes:
    path = settings.secret_path(name)
    if path.exists():
        return read_secret_file(settings, path)
    if settings.mode == "production":
        raise ConfigurationError(
            f"missing secret {name}: set {_SECRET_SETTINGS[name]} to a file holding {KEY_SIZE} random bytes "
            f"in hex (looked for {path})"
        )
    if name != "session.key" and in_use():
        raise ConfigurationError(
            f"missing secret {name} (looked for {path}), but the database already holds data written with "
            f"one: restore the file (a new {name} would not open that data); demo mode generates secrets "
            "only for a new database"
        )
    value = secrets.token_bytes(KEY_SIZE)
    write_secret_file(path, value)
    return value


def load_secrets(settings: Settings, in_use: Callable[[], bool] = lambda: False) -> Secrets:
    """Load (or, in demo mode, create) the secret keys.

    ``in_use`` tells whether the database already holds data written with the secrets: then a
    missing master key or pepper is never replaced by a new one, in demo mode either.

    Raises:
        ConfigurationError: a secret is missing in production mode (or over a database in use), a
            key file is readable by others in production mode, or a file is malformed.
    """
    previous = previous_pepper_path(settings)
    return Secrets(
        master_key=_read_or_create(settings, "master.key", in_use),
        pepper=_read_or_create(settings, "pepper.key", in_use),
        session_secret=_read_or_create(settings, "session.key", in_use),
        previous_pepper=read_secret_file(settings, previous) if previous.exists() else None,
    )


def write_secret_file(path: Path, value: bytes) -> None:
    """Write a new secret file readable by its owner only (0600); refuse to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex() + "\n")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read from the environment once)."""
    return Settings()
