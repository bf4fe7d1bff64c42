"""A throwaway PostgreSQL server for the test suite, with the production roles.

``initdb`` and ``postgres`` refuse to run as root, so as root they run as the ``postgres`` system
user (``runuser``) on a temporary data directory; the server listens on a private loopback port
and is stopped (and its directory removed) when the suite ends.

The server has the two roles of docs/operations.md: :data:`OWNER` owns each test database and runs
its migrations, :data:`SERVICE` owns nothing and gets the grants of ``creditbank.privileges``
(:meth:`PostgresServer.migrate` returns its URL: the app under test connects as the service).
``postgres`` (the superuser) is for tests that tamper on purpose.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import Connection, text

from creditbank.db import create_engine
from creditbank.migrate import upgrade

OWNER = "creditbank_owner"
"""Owns the test databases and runs the migrations."""
SERVICE = "creditbank_service"
"""The service's role: owns nothing, has only its grants."""


@contextmanager
def as_superuser(db: Connection) -> Iterator[None]:
    """Inside a test's ``db`` transaction (which acts as :data:`SERVICE`): act as the superuser for
    the block, e.g. to switch the triggers off and tamper on purpose."""
    db.execute(text("SET LOCAL ROLE postgres"))
    try:
        yield
    finally:
        db.execute(text(f"SET LOCAL ROLE {SERVICE}"))


PG_BIN_DIRS = [
    Path("/usr/lib/postgresql/15/bin"),
    *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True),
]


def _pg_bin(name: str) -> str:
    for directory in PG_BIN_DIRS:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"PostgreSQL's {name} not found; install the postgresql package")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    process: subprocess.Popen[bytes]
    command: list[str] = field(default_factory=list)  # how the server was started (see restart)
    keep: bool = False  # stop() leaves the data directory (a benchmark's database kept between runs)

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database owned by :data:`OWNER`; returns the superuser's URL of it."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" OWNER {OWNER}')
        return self.url(name)

    def migrate(self, name: str) -> str:
        """Create the database, migrate it as :data:`OWNER` granting :data:`SERVICE` its privileges
        (as ``creditbank db upgrade`` does), and return the service's URL."""
        self.create_database(name)
        engine = create_engine(self.url(name, OWNER), pool_size=1)
        try:
            upgrade(engine, service_role=SERVICE)
        finally:
            engine.dispose()
        return self.url(name, SERVICE)

    def create_roles(self) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            # the owner owns the public schema through pg_database_owner (PostgreSQL 15), which it inherits
            conn.execute(f"CREATE ROLE {OWNER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
            conn.execute(f"CREATE ROLE {SERVICE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")

    def halt(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended) and keep its data: an outage."""
        if self.process.poll() is None:
            subprocess.run(
                _as_server_user([_pg_bin("pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w"]),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            self.process.wait(timeout=30)

    def resume(self) -> None:
        """Start the server again on the same data directory and port after :meth:`halt`."""
        self.process = _spawn(self.command, self.datadir.parent)
        _wait_ready(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.keep:
            shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start_postgres(
    *, fsync: bool = False, keep_in: Path | None = None, extra_settings: Sequence[str] = ()
) -> PostgresServer:
    """Start a private PostgreSQL server and wait until it accepts connections.

    ``keep_in``: the server's directory, kept when it stops; a server already there (a data
    directory from an earlier run) is started again with its databases, on a new port.
    ``extra_settings``: more ``name=value`` server settings (a benchmark's
    ``shared_preload_libraries=pg_stat_statements``)."""
    base = keep_in or Path(tempfile.mkdtemp(prefix="creditbank-pg-"))
    datadir = base / "data"
    existing = (datadir / "PG_VERSION").exists()
    if not existing:
        datadir.mkdir(parents=True, exist_ok=True)
        _initdb(base, datadir)
    port = _free_port()
    settings = [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        f"unix_socket_directories={base}",
        "-c",
        "max_connections=200",
        "-c",
        "shared_buffers=256MB",
        "-c",
        f"fsync={'on' if fsync else 'off'}",
        "-c",
        "synchronous_commit=" + ("on" if fsync else "off"),
        "-c",
        "full_page_writes=" + ("on" if fsync else "off"),
    ]
    for setting in extra_settings:
        settings += ["-c", setting]
    command = _as_server_user([_pg_bin("postgres"), "-D", str(datadir), *settings])
    server = PostgresServer(
        datadir=datadir, port=port, process=_spawn(command, base), command=command, keep=keep_in is not None
    )
    _wait_ready(server)
    if not existing:
        server.create_roles()
    return server


def _initdb(base: Path, datadir: Path) -> None:
    os.chmod(base, 0o755)  # noqa: S103 - the postgres user must reach its data directory
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(datadir, "postgres")
    subprocess.run(
        _as_server_user(
            [
                _pg_bin("initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def start_standby(primary: PostgresServer) -> PostgresServer:
    """A hot standby of ``primary`` (``pg_basebackup -R``, streaming replication, read-only), on a
    private port of its own; ``primary`` must keep ``wal_level=replica`` (the default). Its
    databases, users and data are the primary's, as of a moment ago."""
    base = Path(tempfile.mkdtemp(prefix="creditbank-standby-"))
    datadir = base / "data"
    os.chmod(base, 0o755)  # noqa: S103 - the postgres user must reach its data directory
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    subprocess.run(
        _as_server_user(
            [
                _pg_bin("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(datadir),
                "-R",  # standby.signal and primary_conninfo: a streaming standby
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port = _free_port()
    settings = [
        "-c", "listen_addresses=127.0.0.1",
        "-c", f"port={port}",
        "-c", f"unix_socket_directories={base}",
        "-c", "max_connections=200",  # a standby needs at least the primary's
        "-c", "hot_standby=on",
        "-c", "wal_receiver_status_interval=1s",
    ]  # fmt: skip
    command = _as_server_user([_pg_bin("postgres"), "-D", str(datadir), *settings])
    server = PostgresServer(datadir=datadir, port=port, process=_spawn(command, base), command=command)
    _wait_ready(server)
    return server


def _spawn(command: list[str], base: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=open(base / "server.log", "ab"),
    )


def _wait_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                log = (server.datadir.parent / "server.log").read_text(errors="replace")
                server.stop()
                raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
            time.sleep(0.2)
