"""``scripts/ha/cluster supervise``: each member's Patroni runs under a parent that reaps every orphan
Patroni leaves (its detached postmaster, a killed postmaster's backends) the moment it exits.

Without it a killed postmaster's parent is PID 1, which on this machine reaps orphans a second or more
after they die; Patroni takes the zombie for a running postmaster and fails over a loop later. The
supervised command here starts a child through an intermediate process that exits, as Patroni starts
PostgreSQL.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "scripts" / "ha" / "cluster.py"

PATRONI_LIKE = """
import subprocess, sys, time
middle = subprocess.Popen(
    [sys.executable, "-c", "import subprocess; print(subprocess.Popen(['sleep', '300']).pid, flush=True)"],
    stdout=subprocess.PIPE,
)
orphan = middle.stdout.readline().decode().strip()
middle.wait()
print(orphan, flush=True)
time.sleep(300)
"""


def _status(pid: int) -> dict[str, str]:
    """``/proc/PID/status`` as a mapping; empty once the process is gone (reaped)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_an_orphan_of_the_supervised_command_is_the_supervisors_child_and_reaped_when_killed() -> None:
    supervisor = subprocess.Popen(
        [sys.executable, str(CLUSTER), "supervise", "--", sys.executable, "-c", PATRONI_LIKE],
        stdout=subprocess.PIPE,
    )
    try:
        assert supervisor.stdout is not None
        orphan = int(supervisor.stdout.readline())
        # the intermediate process has exited: the orphan's parent is the supervisor, not PID 1
        assert _status(orphan)["PPid"] == str(supervisor.pid)
        os.kill(orphan, signal.SIGKILL)
        # reaped by the supervisor: gone from the process table
        _until(lambda: _status(orphan) == {}, "the killed orphan is reaped")
        assert supervisor.poll() is None  # the supervised command still runs
    finally:
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(timeout=20)
    # SIGTERM went on to the supervised command, whose exit code the supervisor returns
    assert code == (-signal.SIGTERM) % 256


def test_killing_the_supervisor_kills_the_supervised_command() -> None:
    supervisor = subprocess.Popen(
        [
            sys.executable,
            str(CLUSTER),
            "supervise",
            "--",
            sys.executable,
            "-c",
            "import time; time.sleep(300)",
        ],
    )
    try:
        _until(lambda: bool(_children(supervisor.pid)), "the supervised command started")
        [child] = _children(supervisor.pid)
        # exec'd (no longer a copy of the supervisor), so past the point where it asked to die with
        # its parent
        _until(lambda: b"supervise" not in _cmdline(child), "the supervised command runs")
    finally:
        supervisor.kill()
        supervisor.wait(timeout=20)
    _until(lambda: _status(child).get("State", "Z").startswith("Z"), "the supervised command died")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found
