"""Resident memory per process over a soak, and whether any process grows after its warm-up.

How it works. The soak samples every process of the server's tree (the supervisor, its workers and
whatever else it started) every few seconds. A process is known by its pid *and* its start time, so a
pid the kernel hands out again later is a second process, not a jump in the first one's memory. Each
process's first ``warmup_s`` seconds after it started are dropped (a fresh worker fills its pools,
caches and arenas then: the soak's worker started after the SIGKILL grew by about 200 MB in its first
two minutes), and a least-squares line is fitted through the rest of its samples. A process is judged
when that rest spans at least ``min_span_s`` seconds in ``min_samples`` samples; each judged slope must
stay under the limit, and at least one process must have been judged.

The sum over all processes is still reported, with the earlier criterion's figure (the slope of the
sum over the second half of the run), for comparison only: a worker killed and replaced inside that
window makes the sum's slope measure the new worker's warm-up.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 2**20


@dataclass(frozen=True)
class Sample:
    """One process's resident size at one moment; ``started_s`` is when the process started, on the
    same clock as ``at_s`` (seconds from the soak's start, negative before it)."""

    at_s: float
    pid: int
    started_s: float
    rss_bytes: int
    role: str = "process"


@dataclass
class ProcessTrend:
    """The samples of one process and the line fitted through those after its warm-up."""

    key: str
    pid: int
    role: str
    started_s: float
    samples: list[tuple[float, int]] = field(default_factory=list)
    fitted: list[tuple[float, int]] = field(default_factory=list)
    slope_mb_per_h: float | None = None
    judged: bool = False
    passes: bool | None = None
    served: dict[str, int] = field(default_factory=dict)  # answers per route (X-Served-By)
    batch_rows: int = 0

    def summary(self) -> dict[str, Any]:
        first = self.fitted[0] if self.fitted else None
        last = self.fitted[-1] if self.fitted else None
        return {
            "key": self.key,
            "pid": self.pid,
            "role": self.role,
            "started_s": round(self.started_s, 1),
            "seen_s": [self.samples[0][0], self.samples[-1][0]] if self.samples else None,
            "samples": len(self.samples),
            "fitted_samples": len(self.fitted),
            "fitted_s": [first[0], last[0]] if first and last else None,
            "fitted_rss_mb": [round(first[1] / MB, 1), round(last[1] / MB, 1)] if first and last else None,
            "peak_rss_mb": round(max(b for _, b in self.samples) / MB, 1) if self.samples else None,
            "slope_mb_per_h": self.slope_mb_per_h,
            "judged": self.judged,
            "passes": self.passes,
            "served": dict(sorted(self.served.items())),
            "batch_rows": self.batch_rows,
        }


def slope_mb_per_hour(samples: Sequence[tuple[float, int]]) -> float | None:
    """Least-squares slope of (seconds, bytes) samples, in MB per hour (None under three samples or
    when they all fall at one moment)."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_b = sum(b for _, b in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return None
    slope = sum((t - mean_t) * (b - mean_b) for t, b in samples) / spread  # bytes per second
    return slope * 3600 / MB


def process_key(pid: int, started_s: float) -> str:
    """A process's identity: its pid and its start time (a reused pid is another process)."""
    return f"{pid}@{started_s:.1f}s"


def per_process(
    samples: Iterable[Sample],
    *,
    warmup_s: float,
    max_slope_mb_per_h: float,
    min_span_s: float = 120.0,
    min_samples: int = 10,
) -> list[ProcessTrend]:
    """Group the samples by process, drop each one's warm-up and fit a slope through the rest,
    judging it against ``max_slope_mb_per_h`` where the rest is long enough."""
    trends: dict[str, ProcessTrend] = {}
    for s in sorted(samples, key=lambda s: s.at_s):
        key = process_key(s.pid, s.started_s)
        trend = trends.get(key)
        if trend is None:
            trend = trends[key] = ProcessTrend(key=key, pid=s.pid, role=s.role, started_s=s.started_s)
        trend.samples.append((s.at_s, s.rss_bytes))
    for trend in trends.values():
        trend.fitted = [(t, b) for t, b in trend.samples if t >= trend.started_s + warmup_s]
        trend.slope_mb_per_h = slope_mb_per_hour(trend.fitted)
        span = trend.fitted[-1][0] - trend.fitted[0][0] if trend.fitted else 0.0
        trend.judged = (
            trend.slope_mb_per_h is not None and len(trend.fitted) >= min_samples and span >= min_span_s
        )
        if trend.judged and trend.slope_mb_per_h is not None:
            trend.passes = trend.slope_mb_per_h < max_slope_mb_per_h
    return sorted(trends.values(), key=lambda t: (t.started_s, t.pid))


def attribute_traffic(
    trends: Sequence[ProcessTrend], served: Mapping[int, Mapping[str, int]], batch_rows: Mapping[int, int]
) -> None:
    """Give each process the answers (per route) and batch rows its pid served (``X-Served-By``).
    A pid seen twice in the run (the kernel reused it) gets them on its latest process only: the
    header names the pid, not the process."""
    latest = {t.pid: t for t in sorted(trends, key=lambda t: t.started_s)}
    for pid, routes in served.items():
        if pid in latest:
            latest[pid].served = dict(routes)
    for pid, rows in batch_rows.items():
        if pid in latest:
            latest[pid].batch_rows = rows


def memory_passes(trends: Sequence[ProcessTrend]) -> bool:
    """Every judged process stays under the limit, and at least one process was judged."""
    judged = [t for t in trends if t.judged]
    return bool(judged) and all(t.passes for t in judged)


def summed(samples: Iterable[Sample]) -> list[tuple[float, int]]:
    """The sum over all processes at each sampling moment (the earlier criterion's series)."""
    totals: dict[float, int] = {}
    for s in samples:
        totals[s.at_s] = totals.get(s.at_s, 0) + s.rss_bytes
    return sorted(totals.items())


# -- reading /proc (Linux) -----------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # the command name in parentheses may hold spaces: the fields after it start at "state"
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The pids whose parent is ``pid``, sorted."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children(p))
    return sorted(found)


def role_of(pid: int, root: int) -> str:
    """``supervisor`` for the root, ``worker`` for a uvicorn worker (a multiprocessing spawn child),
    ``resource-tracker`` for multiprocessing's tracker, else ``process``."""
    if pid == root:
        return "supervisor"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "process"
    if "resource_tracker" in cmdline:
        return "resource-tracker"
    if "multiprocessing.spawn" in cmdline or "--multiprocessing-fork" in cmdline:
        return "worker"
    return "process"


def sample_tree(root: int, at_s: float, clock_offset_s: float, ticks: int, page_size: int) -> list[Sample]:
    """One sample of every process in ``root``'s tree. ``clock_offset_s`` turns seconds since boot
    into the caller's clock (``at_s - uptime``), ``ticks`` is ``SC_CLK_TCK``."""
    out = []
    for pid in descendants(root):
        try:
            fields = _stat_fields(pid)
            if fields[0] in ("Z", "X"):
                continue  # killed, not yet reaped: it holds no memory and is no longer that process
            started_s = int(fields[19]) / ticks + clock_offset_s  # field 22 of stat: start time
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_size
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        out.append(Sample(at_s, pid, round(started_s, 1), rss, role_of(pid, root)))
    return out
