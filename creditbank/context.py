"""The process-wide context: settings, secrets, engine. Built once by the app factory or the CLI."""

import functools
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from creditbank.config import Secrets, Settings, load_secrets
from creditbank.crypto.symmetric import hmac_sha256
from creditbank.db import create_engine, create_read_engine, session_factory
from creditbank.keyring.service import database_in_use


@dataclass
class AppContext:
    settings: Settings
    secrets: Secrets
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session] | None = None
    """Sessions on a standby for reads that may be stale (``read_database_url``); None: no standby."""

    @property
    def token_key(self) -> bytes:
        """Key of the HMAC that stores API tokens."""
        return derived_key(self.secrets.pepper, b"creditbank/api-token")

    @property
    def previous_token_key(self) -> bytes | None:
        """The token key under the previous pepper, while that is live (tokens are re-hashed on use)."""
        previous = self.secrets.previous_pepper
        return derived_key(previous, b"creditbank/api-token") if previous is not None else None

    @property
    def login_key(self) -> bytes:
        """Key of the HMAC that finds a learner account by its phone or e-mail at sign-in."""
        return derived_key(self.secrets.pepper, b"creditbank/account-login")

    @property
    def previous_login_key(self) -> bytes | None:
        """The login key under the previous pepper, while that is live (re-hashed at sign-in)."""
        previous = self.secrets.previous_pepper
        return derived_key(previous, b"creditbank/account-login") if previous is not None else None

    @property
    def identity_key(self) -> bytes:
        """Key of the HMAC that looks learners up by identity number."""
        return derived_key(self.secrets.pepper, b"creditbank/identity-lookup")


@functools.lru_cache(maxsize=16)
def derived_key(pepper: bytes, purpose: bytes) -> bytes:
    """The key for ``purpose`` derived from a pepper: HMAC-SHA-256(pepper, purpose), a function of the two
    alone, so derived once per pepper and purpose instead of at every request (each API call hashes
    its token under the token key)."""
    return hmac_sha256(pepper, purpose)


def build_context(settings: Settings, engine: Engine | None = None) -> AppContext:
    """Load secrets and open the database.

    Raises:
        ConfigurationError: a secret is missing in production mode or malformed.
    """
    if engine is None:
        if settings.effective_database_url.startswith("sqlite:///"):
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        url = settings.effective_database_url
        engine = (
            create_engine(url)
            if url.startswith("sqlite")
            else create_engine(url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
        )
    secrets = load_secrets(settings, in_use=lambda: database_in_use(engine))
    read_sessions = None
    if settings.read_database_url:
        read_engine = create_read_engine(
            settings.read_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        read_sessions = session_factory(read_engine)
    return AppContext(
        settings=settings,
        secrets=secrets,
        engine=engine,
        sessions=session_factory(engine),
        read_sessions=read_sessions,
    )
