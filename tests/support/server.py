"""A real server process for tests that need real HTTP, concurrency or a crash."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from creditbank.config import Settings
from creditbank.context import build_context
from creditbank.db import create_engine
from creditbank.transparency.publisher import ensure_default_log
from tests.support.postgres import PostgresServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare_database(pg: PostgresServer, name: str, var_dir: Path) -> str:
    """A fresh database migrated by its owner, with the default log; the service role's URL, for a
    server process."""
    url = pg.migrate(name)
    engine = create_engine(url, pool_size=2)
    ensure_default_log(
        build_context(Settings(var_dir=var_dir, database_url=url, background_publisher=False), engine=engine)
    )
    engine.dispose()
    return url


@dataclass
class ServerProcess:
    database_url: str
    var_dir: Path
    publisher: bool = True
    workers: int = 1
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 180.0  # a loaded machine (parallel test runs) can take minutes
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CREDITBANK_DATABASE_URL": self.database_url,
            "CREDITBANK_VAR_DIR": str(self.var_dir),
            "CREDITBANK_BASE_URL": self.base_url,
            "CREDITBANK_BACKGROUND_PUBLISHER": "true" if self.publisher else "false",
            "CREDITBANK_CHECKPOINT_INTERVAL_SECONDS": "0.5",
            "CREDITBANK_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }

    def start(self) -> "ServerProcess":
        cmd = [
            sys.executable,
            "-c",
            "from creditbank.cli import app; app()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        log = open(self.var_dir / f"server-{self.port}.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    (self.var_dir / f"server-{self.port}.log").read_text(errors="replace")[-4000:]
                )
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        log_text = (self.var_dir / f"server-{self.port}.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"server did not answer /healthz within 180 s:\n{log_text}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no flush, like a power cut of the process."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
