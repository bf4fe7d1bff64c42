"""A served process started with a wrong but well-formed master key refuses to start, saying why."""

import os
from pathlib import Path

import pytest

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
