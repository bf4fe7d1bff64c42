"""The soak's phases: single postings a second and CPU per process before the worker kill, after it,
and over the whole run.

A soak's rate over the whole run hides what happened after the worker kill (the latest full soak of
``docs/performance.md`` ran its last 60 % on one worker). :func:`posting_rates` splits the acknowledged
single postings by phase and by the worker that answered (``X-Served-By``), and :class:`CpuSampler`
samples the CPU seconds each process has used (``/proc/<pid>/stat``; PostgreSQL's whole process tree,
with its reaped backends; this process, the load generator; the machine's busy time from ``/proc/stat``)
so that each phase says which processes were busy: a worker near one core is limited by its interpreter
lock, a machine near all its cores by the machine.
"""

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import tree_cpu_seconds
from memtrend import _stat_fields, descendants, role_of

MACHINE = "machine (every process)"
POSTGRES = "PostgreSQL"
LOADGEN = "load generator (the bench)"


@dataclass(frozen=True)
class Phase:
    """A span of the run, in seconds from its start."""

    name: str
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    def holds(self, at_s: float) -> bool:
        return self.start_s <= at_s < self.end_s


def phases(duration_s: float, kill_s: float | None) -> list[Phase]:
    """Before and after the kill (when there was one inside the run), then the whole run."""
    out = []
    if kill_s is not None and 0 < kill_s < duration_s:
        out += [Phase("before the kill", 0.0, kill_s), Phase("after the kill", kill_s, duration_s)]
    out.append(Phase("whole run", 0.0, duration_s))
    return out


def posting_rates(acks: Sequence[tuple[float, int | None]], spans: Sequence[Phase]) -> dict[str, Any]:
    """Per phase: acknowledged postings a second in all and per serving pid (``None``: not named).
    ``acks`` are (seconds from the start at the answer, the pid that answered)."""
    out: dict[str, Any] = {}
    for phase in spans:
        by_pid: Counter[int | None] = Counter(pid for at, pid in acks if phase.holds(at))
        seconds = phase.seconds or 1.0
        out[phase.name] = {
            "start_s": phase.start_s,
            "end_s": phase.end_s,
            "per_s": sum(by_pid.values()) / seconds,
            "per_worker_per_s": {str(pid): n / seconds for pid, n in sorted(by_pid.items(), key=str)},
        }
    return out


def read_rates(answered_at_s: Sequence[float], spans: Sequence[Phase], asked_per_s: float) -> dict[str, Any]:
    """Per phase: reads answered 2xx a second against the rate asked (``answered_at_s``: when each
    answer arrived, in seconds from the start)."""
    out: dict[str, Any] = {}
    for phase in spans:
        n = sum(1 for at in answered_at_s if phase.holds(at))
        per_s = n / (phase.seconds or 1.0)
        out[phase.name] = {
            "start_s": phase.start_s,
            "end_s": phase.end_s,
            "answered": n,
            "per_s": per_s,
            "asked_per_s": asked_per_s,
            "fraction": per_s / asked_per_s if asked_per_s else None,
        }
    return out


def postings_over_time(acks: Sequence[tuple[float, int | None]], bucket_s: float) -> list[dict[str, Any]]:
    """Acknowledged postings per ``bucket_s`` seconds, in all and per serving pid: how soon after the
    kill the replacement takes its share."""
    buckets: dict[int, Counter[str]] = {}
    for at, pid in acks:
        buckets.setdefault(int(at // bucket_s), Counter())[str(pid)] += 1
    return [
        {
            "start_s": index * bucket_s,
            "total": sum(counts.values()),
            "per_worker": dict(sorted(counts.items())),
        }
        for index, counts in sorted(buckets.items())
    ]


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (``/proc/stat``: all but idle
    and I/O wait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # guest time is already in user
    return (total - idle) / os.sysconf("SC_CLK_TCK")


def _process_cpu_seconds(pid: int) -> float | None:
    """User and system seconds of ``pid`` (every thread); None for a zombie (killed, not yet reaped:
    it is no longer that process)."""
    fields = _stat_fields(pid)
    if fields[0] in ("Z", "X"):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Cumulative CPU seconds per process, sampled: each of the server's processes (by role and pid),
    PostgreSQL's tree, this process, and the machine. Thread-safe."""

    def __init__(self, server_pid: int, postgres_pid: Callable[[], int]) -> None:
        self.server_pid = server_pid
        self.postgres_pid = postgres_pid  # asked each time: a restart makes a new postmaster
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._lock = threading.Lock()

    def sample(self, at_s: float) -> None:
        values: dict[str, float] = {}
        for pid in descendants(self.server_pid):
            try:
                seconds = _process_cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if seconds is not None:
                values[f"{role_of(pid, self.server_pid)} {pid}"] = seconds
        with contextlib.suppress(OSError, ValueError):  # stopped (the outage)
            values[POSTGRES] = sum(tree_cpu_seconds(self.postgres_pid()))
        times = os.times()
        values[LOADGEN] = times.user + times.system
        values[MACHINE] = machine_busy_seconds()
        with self._lock:
            self.samples.append((at_s, values))

    def used(self, phase: Phase) -> dict[str, float]:
        """CPU seconds per process within ``phase``: the increments between consecutive samples that
        end inside it. A process first seen after the first sample (the worker started after the
        kill) counts from 0, and so does PostgreSQL when its figure went down (a new postmaster
        after the restart); what a process used after its last sample (the killed worker) is not
        counted."""
        with self._lock:
            samples = sorted(self.samples, key=lambda s: s[0])
        used: dict[str, float] = {}
        last: dict[str, float] = {}
        for at_s, values in samples:
            for name, value in values.items():
                if name in last:
                    restarted = name == POSTGRES and value < last[name]
                    increment = value if restarted else value - last[name]
                else:
                    increment = value if at_s > samples[0][0] else 0.0
                if phase.start_s < at_s <= phase.end_s:
                    used[name] = used.get(name, 0.0) + increment
                last[name] = value
        return used

    def cores(self, phase: Phase) -> dict[str, float]:
        """:meth:`used` divided by the phase's seconds: how many cores each process kept busy, and
        ``others`` the machine's busy cores that none of them used (other work on the machine)."""
        used = self.used(phase)
        seconds = phase.seconds or 1.0
        out = {name: value / seconds for name, value in sorted(used.items())}
        if MACHINE in out:
            ours = sum(v for name, v in out.items() if name != MACHINE)
            out["others"] = max(0.0, out[MACHINE] - ours)
        return out
