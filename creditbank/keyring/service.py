"""Checking the configured secrets against the database they are used with.

How this works: at its first start on a database the service stores a key-check value for the
master key (a constant sealed under it) and for the pepper (an HMAC of a constant under it) in
``secret_checks``. At every later start both are checked, and a wrong but well-formed secret stops
the service with a message that says which one, before it writes anything with it (a wrong master
key would make every archive read fail and every new learner unreadable with the right one; a
wrong pepper would register people twice and lock every token out). A database written before
the checks existed has its master key checked against a key it already holds sealed (a log's or an
issuer's signing key) before the check value is stored.
"""

from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, select

from creditbank.config import ConfigurationError, Secrets
from creditbank.crypto.errors import DecryptionFailed
from creditbank.crypto.symmetric import constant_time_equal, hmac_sha256, open_sealed, seal
from creditbank.keyring.models import SecretCheck

MASTER_KEY = "master-key"
PEPPER = "pepper"
PREVIOUS_PEPPER = "pepper-previous"
"""The check value of the pepper before the last rotation, kept while that pepper is live (until
``creditbank secrets retire-pepper``); its ``created_at`` is the time of the rotation."""
_CONTEXT = "creditbank/key-check"
_CONSTANT = b"creditbank key check v1"


class WrongSecret(ConfigurationError):
    """A configured secret is not the one this database was written with."""


def master_key_check(master_key: bytes) -> bytes:
    return seal(master_key, _CONSTANT, _CONTEXT)


def pepper_check(pepper: bytes) -> bytes:
    return hmac_sha256(pepper, _CONSTANT)


def _opens(master_key: bytes, sealed: bytes) -> bool:
    try:
        return open_sealed(master_key, sealed, _CONTEXT) == _CONSTANT
    except DecryptionFailed:
        return False


def _some_sealed_key(session: Session) -> tuple[bytes, str] | None:
    """A blob sealed under the master key that the database already holds, with its context."""
    row = session.execute(text("SELECT id, private_key_sealed FROM tlog_logs ORDER BY id LIMIT 1")).first()
    if row is not None:
        return bytes(row[1]), f"creditbank/log-key/{row[0]}"
    return None


def check_secrets(session: Session, secrets: Secrets, *, master_file: str, pepper_file: str) -> list[str]:
    """Check the master key and the pepper (and the previous pepper, while one is live) against the
    database's key-check values; store the missing ones (first start). Return the names stored now.

    Raises:
        WrongSecret: a secret does not match (the message names the file to fix).
    """
    stored = {row.name: row for row in session.exec(select(SecretCheck)).all()}
    sealed_now = []
    master = stored.get(MASTER_KEY)
    if master is not None:
        if not _opens(secrets.master_key, bytes(master.value)):
            raise WrongSecret(
                f"the master key in {master_file} is not the one this database was written with; "
                "restore the right key file (or rotate with `creditbank secrets rotate master-key`)"
            )
    else:
        existing = _some_sealed_key(session)
        if existing is not None:
            try:
                open_sealed(secrets.master_key, *existing)
            except DecryptionFailed as exc:
                raise WrongSecret(
                    f"the master key in {master_file} does not open the keys this database holds; "
                    "restore the right key file"
                ) from exc
        session.add(SecretCheck(name=MASTER_KEY, value=master_key_check(secrets.master_key)))
        sealed_now.append(MASTER_KEY)
    pepper = stored.get(PEPPER)
    if pepper is not None:
        if not constant_time_equal(bytes(pepper.value), pepper_check(secrets.pepper)):
            raise WrongSecret(
                f"the pepper in {pepper_file} is not the one this database was written with; "
                "restore the right pepper file (or, if a pepper rotation was interrupted, run "
                "`creditbank secrets rotate pepper` again to finish it)"
            )
    else:
        session.add(SecretCheck(name=PEPPER, value=pepper_check(secrets.pepper)))
        sealed_now.append(PEPPER)
    _check_previous_pepper(stored.get(PREVIOUS_PEPPER), secrets, f"{pepper_file}.previous")
    session.flush()
    return sealed_now


def _check_previous_pepper(stored: SecretCheck | None, secrets: Secrets, previous_file: str) -> None:
    """Raises: WrongSecret: the previous pepper is live but its file is missing or wrong, or a
    previous pepper file is there although the database has retired it."""
    if stored is None:
        if secrets.previous_pepper is not None:
            raise WrongSecret(
                f"{previous_file} holds a previous pepper, but this database has none live (it was retired): "
                "run `creditbank secrets retire-pepper` again to finish the retirement"
            )
        return
    if secrets.previous_pepper is None:
        raise WrongSecret(
            f"the previous pepper is live in this database (tokens not used since the last rotation are "
            f"hashed under it) but {previous_file} is missing; restore it, or retire it with "
            "`creditbank secrets retire-pepper`"
        )
    if not constant_time_equal(bytes(stored.value), pepper_check(secrets.previous_pepper)):
        raise WrongSecret(
            f"the previous pepper in {previous_file} is not the one this database was rotated from; "
            "restore the right file"
        )


def database_in_use(engine: Engine) -> bool:
    """Whether the database already holds anything sealed or keyed with the secrets (so that a
    missing secret must not be replaced by a new one)."""
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            for table in ("secret_checks", "tlog_logs", "learner_vault", "api_tokens"):
                if table in tables and connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first():  # noqa: S608
                    return True
    except Exception:  # an unreachable database: nothing is known to be in use
        return False
    return False
