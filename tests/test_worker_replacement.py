"""A killed worker of a multi-worker server is replaced at once, not after the health-check timeout.

uvicorn's supervisor pings each worker over a pipe and waits up to the health-check timeout for the
answer. A worker that dies while a ping waits never answers, and the pipe shows no end of file (the
supervisor holds the worker's end too), so uvicorn noticed the death only when the timeout ran out.
The test makes that race certain: it stops a worker (SIGSTOP), so the supervisor's next ping waits on
it, then kills it (SIGKILL). With the timeout set to ten minutes, only a supervisor that watches the
worker's exit as well as the pipe has a new worker serving within the test's deadline.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

HEALTHCHECK_SECONDS = 600  # far past the deadline below: uvicorn's own wait would fail the test
REPLACED_WITHIN = 45.0  # a new worker imports the app and opens its pool; minutes on a loaded machine

_SERVE = """
import sys
import creditbank.serving as serving
serving.WORKER_HEALTHCHECK_SECONDS = int(sys.argv[2])
serving.serve("127.0.0.1", int(sys.argv[1]), workers=2)
"""


def _workers(supervisor: int) -> list[int]:
    """The supervisor's uvicorn workers (multiprocessing spawn children; not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if (
            parent == supervisor
            and b"multiprocessing.spawn" in cmdline
            and b"resource_tracker" not in cmdline
        ):
            found.append(int(entry.name))
    return sorted(found)


def _until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Wait for ``condition``; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_a_killed_worker_is_replaced_before_the_health_check_timeout(
    pg_url: str, secrets_dir: Path, tmp_path: Path
) -> None:
    server = ServerProcess(pg_url, secrets_dir, publisher=False, workers=2)
    log = open(tmp_path / "server.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(server.port), str(HEALTHCHECK_SECONDS)],
        env=server.env(),
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    stopped: list[int] = []
    try:
        _until(lambda: _answers(server.base_url) and len(_workers(process.pid)) == 2, 180, "server up")
        victim, other = _workers(process.pid)
        os.kill(victim, signal.SIGSTOP)  # it cannot answer: the supervisor's next ping waits on it
        stopped.append(victim)
        time.sleep(1.5)  # the supervisor checks every half second
        os.kill(victim, signal.SIGKILL)
        took = _until(
            lambda: len([pid for pid in _workers(process.pid) if pid not in (victim, other)]) == 1,
            REPLACED_WITHIN,
            "a new worker started",
        )
        [new] = [pid for pid in _workers(process.pid) if pid not in (victim, other)]
        # the new worker serves: with the other old worker stopped, only it can take a connection
        os.kill(other, signal.SIGSTOP)
        stopped.append(other)
        took += _until(lambda: _answers(server.base_url), REPLACED_WITHIN, f"worker {new} serving")
        assert took < REPLACED_WITHIN < HEALTHCHECK_SECONDS
        os.kill(other, signal.SIGCONT)
        stopped.remove(other)
        assert _workers(process.pid) == sorted([other, new])  # the live worker was left alone
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()
