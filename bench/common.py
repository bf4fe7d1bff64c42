"""Helpers shared by the benchmarks: a throwaway PostgreSQL, timing, a printed table, a JSON result file.

Each benchmark runs as ``.venv/bin/python bench/<name>.py`` (so this module is imported as ``common``):

    from common import ROOT, Table, machine, percentiles, start_postgres_server, write_results

The PostgreSQL server is the test suite's (``tests/support/postgres.py``) with ``fsync`` on, as in
production: commits reach the disk.
"""

import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

if str(ROOT) not in sys.path:  # for ``tests.support`` when run as a script
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer
    from tests.support.world import World


def start_postgres_server(keep_in: Path | None = None) -> "PostgresServer":
    """A private PostgreSQL server with fsync, synchronous_commit and full_page_writes on; with
    ``keep_in``, its data directory stays there after the run and a later run starts it again."""
    from tests.support.postgres import start_postgres

    return start_postgres(fsync=True, keep_in=keep_in)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99, mean and max of latencies given in seconds, in milliseconds."""
    ordered = sorted(seconds)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {
        "n": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "mean_ms": statistics.fmean(ordered) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` holds the elapsed seconds and ``t[1]`` the CPU
    seconds this process used meanwhile (all threads): on a shared machine the two differ."""
    box: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield box
    finally:
        box.extend([time.perf_counter() - start, time.process_time() - cpu])


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by another process, from ``/proc`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_cpu_seconds(root: int) -> tuple[float, float]:
    """CPU seconds (user, system; all threads) used so far by ``root`` and every live descendant,
    plus what their children that have exited and been waited for used (Linux ``cutime``/``cstime``):
    a PostgreSQL server's backends that come and go, or uvicorn's workers, are all counted."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
    tree, todo = {root}, [root]
    while todo:
        parent = todo.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        todo.extend(children)
    user = system = 0
    for pid in tree:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def descendants(root: int) -> list[int]:
    """The live descendants of ``root`` (children first)."""
    found: list[int] = []
    todo = [root]
    while todo:
        parent = todo.pop(0)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if int(_stat_fields(int(entry.name))[1]) == parent:
                    found.append(int(entry.name))
                    todo.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Table:
    """Rows of (measure, value, unit, note), printed aligned."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, measure: str, value: float | int | str, unit: str = "", note: str = "") -> None:
        if isinstance(value, float):
            text = f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        elif isinstance(value, int):
            text = f"{value:,}"
        else:
            text = value
        self.rows.append((measure, text, unit, note))

    def print(self) -> None:
        widths = [max(len(row[i]) for row in self.rows) if self.rows else 0 for i in range(4)]
        print()
        print(self.title)
        print("-" * len(self.title))
        for measure, value, unit, note in self.rows:
            print(f"{measure:<{widths[0]}}  {value:>{widths[1]}} {unit:<{widths[2]}}  {note}".rstrip())
        print()


def write_results(name: str, data: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (with the machine description) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, ensure_ascii=False) + "\n")
    return path


def outcome(learner_id: str, ref: str, i: int, *, distinct: bool = False) -> dict[str, Any]:
    """The benches' single posting: a training course, as a training body posts them: one course in
    six lengths, completed on 300 different days (a 1,000-row chunk holds 300 different sets of facts,
    evaluated once each). ``distinct`` gives every row a title of its own, so no two rows are
    evaluated alike."""
    return {
        "learner_id": learner_id,
        "reference": ref,
        "outcome_type": "training_course",
        "title": f"数字技能培训（第 {i} 期）" if distinct else "数字技能培训",
        "achieved_on": (dt.date.today() - dt.timedelta(days=1 + i % 300)).isoformat(),
        "hours": 16 + 8 * (i % 6),
    }


def soak_batch(learners: Sequence[str], n: int, rows: int) -> bytes:
    """The soak's ``n``-th batch upload as NDJSON: ``rows`` training courses (:func:`outcome`), row
    ``k`` for learner ``(7 n + k) mod len(learners)``, reference ``soak-b{n}-{k}``."""
    lines = (
        json.dumps(outcome(learners[(n * 7 + k) % len(learners)], f"soak-b{n}-{k}", k), ensure_ascii=False)
        for k in range(rows)
    )
    return "\n".join(lines).encode()


def demo_world(
    url: str, var: Path, base_url: str, *, institutions: int, learners: int
) -> "tuple[World, dict[str, Any]]":
    """A world of ``institutions`` and ``learners`` on the database ``url`` with the demo loaded, and
    the demo's valid certificate. Everything is issued under ``base_url``, the served process's own
    address, so that a verification of the certificate runs every check (under another address its
    proof, key, issuer and status checks fail early, and cost less). The world's engine is disposed."""
    from creditbank.db import transaction
    from creditbank.demo import load_demo, load_exchange
    from tests.support.world import build_world

    os.environ["CREDITBANK_BASE_URL"] = base_url
    world = build_world(url, var, n_institutions=institutions, n_learners=learners)
    for session in transaction(world.ctx.sessions):
        load_demo(session, world.ctx)
    for session in transaction(world.ctx.sessions):
        certificate, _ = load_exchange(session, world.ctx)
    world.ctx.engine.dispose()
    return world, certificate
