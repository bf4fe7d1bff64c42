"""The soak's memory criterion (``bench/memtrend.py``) on synthetic series: growth after warm-up is
caught, a process's warm-up is left out, a reused pid is another process, and the summed series
(the earlier criterion) is still there to compare with."""

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from memtrend import (  # noqa: E402
    MB,
    Sample,
    attribute_traffic,
    children,
    memory_passes,
    per_process,
    sample_tree,
    slope_mb_per_hour,
    summed,
)

LIMIT = 100.0  # MB/h


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def series(
    pid: int, started: float, start: float, end: float, base_mb: float, mb_per_h: float, role: str = "worker"
) -> list[Sample]:
    """Samples every 10 s from ``start`` to ``end``; ``mb_per_h`` of growth from ``start`` on."""
    return [
        Sample(float(t), pid, started, int((base_mb + mb_per_h * (t - start) / 3600) * MB), role)
        for t in range(int(start), int(end), 10)
    ]


def warming(
    pid: int, started: float, end: float, warm_s: float, from_mb: float, to_mb: float
) -> list[Sample]:
    """A worker that climbs from ``from_mb`` to ``to_mb`` over its first ``warm_s`` seconds, then is flat."""
    out = []
    for t in range(int(started), int(end), 10):
        done = min(1.0, (t - started) / warm_s)
        out.append(Sample(float(t), pid, started, int((from_mb + (to_mb - from_mb) * done) * MB), "worker"))
    return out


def test_the_slope_of_a_line_is_its_growth() -> None:
    samples = [(float(t), int(200 * MB + t * 50 * MB / 3600)) for t in range(0, 1800, 10)]
    slope = slope_mb_per_hour(samples)
    assert slope is not None
    assert abs(slope - 50.0) < 0.01
    assert slope_mb_per_hour(samples[:2]) is None


def test_growth_after_warm_up_is_caught() -> None:
    samples = series(100, -5.0, 0, 1800, 300, 250) + series(101, -5.0, 0, 1800, 300, 0)
    trends = {t.pid: t for t in per_process(samples, warmup_s=300, max_slope_mb_per_h=LIMIT)}
    assert trends[100].judged and trends[100].passes is False
    assert trends[100].slope_mb_per_h is not None and abs(trends[100].slope_mb_per_h - 250) < 1
    assert trends[101].judged and trends[101].passes is True
    assert not memory_passes(list(trends.values()))


def test_warm_up_is_left_out() -> None:
    # two workers from the start, one killed at 720 s and replaced by one that climbs 366 -> 562 MB
    # over two minutes, then stays flat: no process grows after its warm-up
    samples = (
        warming(100, -5.0, 1800, 120, 150, 560)
        + warming(101, -5.0, 720, 120, 150, 560)
        + warming(102, 725.0, 1800, 120, 366, 562)
        + series(99, -10.0, 0, 1800, 40, 0, role="supervisor")
    )
    trends = per_process(samples, warmup_s=300, max_slope_mb_per_h=LIMIT)
    assert [t.pid for t in trends] == [99, 100, 101, 102]
    assert all(t.judged and t.passes for t in trends)
    assert memory_passes(trends)
    new = trends[-1]
    assert new.fitted[0][0] >= 725 + 300  # nothing of its first 300 s
    # without the warm-up left out, the climbs fail the limit
    assert not memory_passes(per_process(samples, warmup_s=0, max_slope_mb_per_h=LIMIT))
    # the sum over all processes (the earlier criterion) reads the new worker's climb as growth
    total = summed(samples)
    assert [t for t, _ in total] == sorted({s.at_s for s in samples})
    after_kill = slope_mb_per_hour([(t, b) for t, b in total if t >= 725])
    assert after_kill is not None and after_kill > LIMIT


def test_a_reused_pid_is_another_process() -> None:
    # pid 100 dies at 600 s; the kernel hands 100 to a new worker at 900 s that starts lower: one
    # series through both would read as a fall then a rise, split they are two flat processes
    first = series(100, -5.0, 0, 600, 500, 0)
    second = warming(100, 900.0, 1800, 60, 200, 420)
    trends = per_process(first + second, warmup_s=120, max_slope_mb_per_h=LIMIT)
    assert [(t.pid, t.started_s) for t in trends] == [(100, -5.0), (100, 900.0)]
    assert [len(t.samples) for t in trends] == [len(first), len(second)]
    assert all(t.judged and t.passes for t in trends)
    # the same samples keyed by pid alone would fit one line through both and see growth after 900 s
    merged = per_process(
        [Sample(s.at_s, s.pid, -5.0, s.rss_bytes) for s in second], warmup_s=120, max_slope_mb_per_h=LIMIT
    )
    assert not merged[0].passes


def test_too_short_after_warm_up_is_not_judged() -> None:
    trends = per_process(series(100, 1500.0, 1500, 1800, 300, 0), warmup_s=300, max_slope_mb_per_h=LIMIT)
    assert not trends[0].judged
    assert trends[0].passes is None
    assert not memory_passes(trends)  # nothing judged is not a pass


def test_a_real_process_tree_is_sampled_per_process() -> None:
    # a parent with a live child and a dead one it has not reaped (as uvicorn's supervisor holds a
    # killed worker for a while): the parent and the live child are sampled, each with its own stable
    # start time; the dead one is not (a zombie's 0 bytes would read as a fall of its memory)
    script = (
        "import subprocess, sys, time\n"
        "live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "dead = subprocess.Popen(['true'])\n"
        "time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
        offset = -float(Path("/proc/uptime").read_text().split()[0])
        for _ in range(200):
            first = sample_tree(child.pid, 0.0, offset, ticks, page)
            zombies = [p for p in children(child.pid) if _state(p) == "Z"]
            if len(first) == 2 and zombies:
                break
            time.sleep(0.05)
        assert zombies
        second = sample_tree(child.pid, 1.0, offset, ticks, page)
        assert len(first) == 2
        assert {s.pid for s in first} == {s.pid for s in second}
        assert {(s.pid, s.started_s) for s in first} == {(s.pid, s.started_s) for s in second}
        assert [s.role for s in first if s.pid == child.pid] == ["supervisor"]
        assert all(s.rss_bytes > MB for s in first)
    finally:
        for s in sample_tree(child.pid, 0.0, 0.0, 100, 4096):
            if s.pid != child.pid:
                os.kill(s.pid, 9)
        child.kill()
        child.wait()


def test_each_process_gets_the_traffic_its_pid_served() -> None:
    # the soak's per-worker report: the answers named by X-Served-By go to the process of that pid;
    # a pid the kernel handed out again gets them on its latest process only (the header names pids)
    samples = (
        series(10, -60.0, -60.0, 700.0, 200.0, 40.0)
        + series(11, -60.0, -60.0, 300.0, 200.0, 0.0)
        + series(11, 320.0, 320.0, 700.0, 90.0, 0.0)
    )
    trends = per_process(samples, warmup_s=60.0, max_slope_mb_per_h=LIMIT)
    attribute_traffic(
        trends,
        {
            10: {"POST /api/v1/outcomes/batch": 12, "POST /api/v1/outcomes": 40},
            11: {"POST /api/v1/outcomes": 7},
        },
        {10: 24_000},
    )
    by_key = {t.key: t.summary() for t in trends}
    assert by_key["10@-60.0s"]["served"] == {"POST /api/v1/outcomes": 40, "POST /api/v1/outcomes/batch": 12}
    assert by_key["10@-60.0s"]["batch_rows"] == 24_000
    assert by_key["10@-60.0s"]["slope_mb_per_h"] > 30
    assert by_key["11@-60.0s"]["served"] == {}
    assert by_key["11@320.0s"]["served"] == {"POST /api/v1/outcomes": 7}
    assert by_key["11@320.0s"]["batch_rows"] == 0
