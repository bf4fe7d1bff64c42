"""CPU seconds per process group of the failover rehearsal, read from ``/proc``.

:class:`ProcessCpu` samples the machine's process table once a second (one pass over ``/proc``, a
few milliseconds) and adds, per group, what the group's processes used since the last sample. A
group is named by its root processes: each member's PostgreSQL (its postmaster and every backend,
split by the role the member had in that second: ``primary`` or ``standby``), each member's Patroni
(with ``pg_rewind``, ``pg_ctl`` and the like it runs), etcd, each service instance. A process belongs
to the first group whose root it descends from, in that order, so nothing is counted twice.

A process's figure is its own user and system time plus that of the children it has waited for
(``/proc/PID/stat`` fields 14-17): a backend that exits moves its seconds into its postmaster's, so a
group's sum does not drop when one of its processes ends. What a process used between its last
sample and its death is lost when its reaper is outside the group (a killed postmaster, reaped by
``scripts/ha/cluster supervise`` or init): a lower bound, by at most a second of that process.
The supervisor's own figure leaves out its children's (its children are Patroni, counted on its own,
and the orphans it reaps, already counted in their groups).
"""

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    ppid: int
    own: int  # user + system ticks of the process itself
    waited: int  # user + system ticks of the children it has waited for


def process_table() -> dict[int, Proc]:
    """Every process of the machine: parent, own ticks and waited-for children's ticks."""
    table: dict[int, Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = Proc(
            int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        )
    return table


def descendants(table: dict[int, Proc], roots: Iterable[int]) -> set[int]:
    """``roots`` (those alive) and every live process below them."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, proc in table.items():
        children[proc.ppid].append(pid)
    found: set[int] = set()
    todo = [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


@dataclass
class Group:
    """Root processes counted under ``name``. ``key`` names the processes for the accounting (the
    name may change, as a member's role does; a new key is a process started since the first sample,
    all of whose seconds count). Roots in ``own_only`` count without their waited-for children."""

    name: str
    roots: list[int]
    key: str = ""
    own_only: set[int] = field(default_factory=set)


class ProcessCpu(threading.Thread):
    """Samples ``groups()`` (called each second: roots change when a postmaster is killed and started
    again) and sums each group's CPU seconds since this object was made."""

    def __init__(self, groups: Callable[[], list[Group]], interval: float = 1.0) -> None:
        super().__init__(daemon=True, name="process-cpu")
        self.groups = groups
        self.interval = interval
        self.seconds: dict[str, float] = defaultdict(float)
        self.samples = 0
        self.thread_seconds = 0.0  # this sampler's own CPU
        self._stopped = threading.Event()
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()
        self._first = True
        self.sample()

    def sample(self) -> None:
        started = time.thread_time()
        table = process_table()
        taken: set[int] = set()
        current: dict[str, tuple[str, int]] = {}
        for group in self.groups():
            pids = descendants(table, group.roots) - taken
            taken |= pids
            ticks = sum(table[p].own + (0 if p in group.own_only else table[p].waited) for p in pids)
            key = group.key or group.name
            current[key] = (group.name, current.get(key, ("", 0))[1] + ticks)
        with self._lock:
            for key, (name, ticks) in current.items():
                last = ticks if self._first else self._last.get(key, 0)
                self.seconds[name] += max(0, ticks - last) / TICK
                self._last[key] = ticks
            for key in set(self._last) - set(current):
                del self._last[key]
            self._first = False
            self.samples += 1
        self.thread_seconds += time.thread_time() - started

    def run(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sample()

    def stop(self) -> dict[str, float]:
        self._stopped.set()
        if self.ident is not None:  # started (a caller may also sample by hand)
            self.join(timeout=10)
        self.sample()
        with self._lock:
            return dict(self.seconds)


def pid_from_file(path: Path) -> int | None:
    try:
        return int(path.read_text().splitlines()[0].strip())
    except (OSError, ValueError, IndexError):
        return None
