"""A served process started with a wrong but well-formed master key refuses to start, saying why;
processes starting together on a new database all start."""

import os
import threading
from pathlib import Path

import pytest
from sqlmodel import Session, select

from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine
from creditbank.keyring.models import SecretCheck
from creditbank.keyring.service import check_secrets
from creditbank.main import _check_secrets
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess, prepare_database

pytestmark = pytest.mark.slow


def test_wrong_master_key_is_refused_at_start(pg_server: PostgresServer, tmp_path: Path) -> None:
    url = prepare_database(pg_server, "wrong_master_key", tmp_path)
    right = ServerProcess(url, tmp_path, publisher=False).start()  # stores the key-check values
    right.stop()

    wrong_key = tmp_path / "other-master.key"
    fd = os.open(wrong_key, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(os.urandom(32).hex() + "\n")
    wrong = ServerProcess(
        url, tmp_path, publisher=False, extra_env={"CREDITBANK_MASTER_KEY_FILE": str(wrong_key)}
    )
    with pytest.raises(RuntimeError) as refused:
        wrong.start()
    assert f"the master key in {wrong_key} is not the one this database was written with" in str(
        refused.value
    )

    again = ServerProcess(url, tmp_path, publisher=False).start()
    again.stop()


def test_processes_starting_together_on_a_new_database_both_start(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """Two processes (workers, instances) start at once on a new database: the one whose key-check
    values arrive second finds the other's committed and checks against them, instead of failing
    its start on the unique key (it did: one worker of a two-instance cluster start exited)."""
    url = prepare_database(pg_server, "start_together", tmp_path)
    settings = Settings(var_dir=tmp_path, database_url=url, background_publisher=False)
    first, second = (build_context(settings, engine=create_engine(url, pool_size=1)) for _ in range(2))
    inserted, release = threading.Event(), threading.Event()

    def store_and_hold() -> None:  # the other process: its values inserted, its commit a moment later
        with first.sessions() as session, session.begin():
            check_secrets(session, first.secrets, master_file="m", pepper_file="p")
            inserted.set()
            release.wait(10)

    other = threading.Thread(target=store_and_hold)
    other.start()
    try:
        assert inserted.wait(10)
        threading.Timer(0.5, release.set).start()  # the second insert waits on the first's key
        _check_secrets(second)
    finally:
        release.set()
        other.join(10)
        first.engine.dispose()
        second.engine.dispose()
    with Session(create_engine(url, pool_size=1)) as session:
        assert len(session.exec(select(SecretCheck)).all()) == 2


def test_the_keys_derived_from_a_pepper_are_its_hmacs_and_follow_a_new_pepper() -> None:
    """The derived keys are kept per pepper (not per process): a new pepper gets its own at once."""
    from creditbank.context import derived_key
    from creditbank.crypto.symmetric import hmac_sha256

    first, second = b"p" * 32, b"q" * 32
    assert derived_key(first, b"creditbank/api-token") == hmac_sha256(first, b"creditbank/api-token")
    assert derived_key(second, b"creditbank/api-token") == hmac_sha256(second, b"creditbank/api-token")
    assert derived_key(first, b"creditbank/api-token") != derived_key(second, b"creditbank/api-token")
    assert derived_key(first, b"creditbank/account-login") == hmac_sha256(first, b"creditbank/account-login")
